// Loading the wasm module in a browser (the browser entry's `init`), on its own so that a page can
// start with it and the parsers (js/core.js) without the rest of the entry.

import initWasm from '../../wasm/mtasts.js';
import { markReady, invalidArgument } from '../core.js';

let initializing;

const EXPECTED =
  'input must be a URL, a string URL, a Response (or a promise of one), bytes (ArrayBuffer or Uint8Array) or a WebAssembly.Module';

/**
 * Loads and instantiates the wasm module. Idempotent: concurrent and repeated calls share one
 * promise. `input` is where the module comes from: a URL or string URL to fetch (a bundler's URL
 * of `mtasts/wasm`), a Request, a Response or a promise of one (`fetch(url)`), the bytes
 * (ArrayBuffer, Uint8Array or another view), or a compiled WebAssembly.Module; by default
 * `../../wasm/mtasts_bg.wasm` next to this file. Anything else is an `invalid-argument` rejection,
 * which, like any failure, lets a later call try again.
 */
export function init(input) {
  if (initializing === undefined) {
    let source;
    try {
      source = checkInput(input);
    } catch (err) {
      return Promise.reject(err);
    }
    initializing = initWasm(source === undefined ? undefined : { module_or_path: source }).then((exports) => {
      markReady(exports);
    });
    initializing.catch(() => {
      initializing = undefined;
    });
  }
  return initializing;
}

function checkInput(input) {
  if (input === undefined) return undefined;
  if (typeof input === 'string') {
    if (input === '') throw invalidArgument('init', EXPECTED, input);
    return input;
  }
  if (input instanceof URL || isA(input, 'Request') || isA(input, 'Response')) return input;
  if (input instanceof ArrayBuffer || ArrayBuffer.isView(input) || input instanceof WebAssembly.Module) return input;
  if (input !== null && typeof input === 'object' && typeof input.then === 'function') {
    // A promise of a Response (`init(fetch(url))`): what it resolves to is checked too, so that a
    // promise of anything else is the same clear error, not a failure deep in instantiation.
    return Promise.resolve(input).then((value) => {
      if (isA(value, 'Response')) return value;
      throw invalidArgument('init', `${EXPECTED} (the promise resolved to something else)`, value);
    });
  }
  throw invalidArgument('init', EXPECTED, input);
}

// Request and Response are globals in browsers and Node ≥ 18; absent elsewhere, nothing is one.
function isA(value, name) {
  const ctor = globalThis[name];
  return typeof ctor === 'function' && value instanceof ctor;
}

/** The first module of the checker page: the core without the certificate verifier. */
export const LITE_MODULE_URL = new URL('../../wasm/mtasts_lite_bg.wasm', import.meta.url);
