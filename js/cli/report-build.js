// `mtasts report build` (RFC 8460).

import { UsageError } from './usage.js';

export const usage = 'usage: mtasts report build (not built yet)\n';

export async function run() {
  throw new UsageError('mtasts report build is not built yet');
}
