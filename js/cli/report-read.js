// `mtasts report read` (RFC 8460).

import { UsageError } from './usage.js';

export const usage = 'usage: mtasts report read (not built yet)\n';

export async function run() {
  throw new UsageError('mtasts report read is not built yet');
}
