// Loading the wasm module in a browser (the browser entry's `init`), on its own so that a page can
// start with it and the parsers (js/core.js) without the rest of the entry.

import initWasm from '../../wasm/mtasts.js';
import { markReady } from '../core.js';

let initializing;

/**
 * Loads and instantiates the wasm module. Idempotent: concurrent and repeated calls share one
 * promise. `input` is anything wasm-bindgen accepts: a URL or string to fetch, a Response, a
 * BufferSource, or a WebAssembly.Module; by default `../../wasm/mtasts_bg.wasm` next to this file.
 * After a failure a later call tries again.
 */
export function init(input) {
  if (initializing === undefined) {
    initializing = initWasm(input === undefined ? undefined : { module_or_path: input }).then((exports) => {
      markReady(exports);
    });
    initializing.catch(() => {
      initializing = undefined;
    });
  }
  return initializing;
}

/** The first module of the checker page: the core without the certificate verifier. */
export const LITE_MODULE_URL = new URL('../../wasm/mtasts_lite_bg.wasm', import.meta.url);
