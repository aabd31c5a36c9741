// Node entry of the `mtasts` package: loads the wasm module synchronously at import time, so the
// API is ready as soon as `import ... from 'mtasts'` resolves.

import { readFileSync } from 'node:fs';
import { initSync } from '../../wasm/mtasts.js';
import { markReady } from '../core.js';

initSync({ module: readFileSync(new URL('../../wasm/mtasts_bg.wasm', import.meta.url)) });
markReady();

export {
  parseRecord,
  selectRecord,
  lintRecord,
  parsePolicy,
  lintPolicy,
  formatPolicy,
  matchMx,
  MtaStsError,
} from '../core.js';
export { PolicyResolver } from '../policy-resolver.js';
export { resolvePolicy, createPolicyResolver } from './resolve.js';
export { memoryStore, fileStore } from '../stores/index.js';

/**
 * Node loads the module at import time; `init()` exists so that code shared with the browser entry
 * can always `await init()`.
 */
export async function init() {}
