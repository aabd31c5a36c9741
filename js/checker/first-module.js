// The page's first load: the first module (pkg/wasm/mtasts_lite_bg.wasm: the parsers and linters,
// no certificate verifier) with its own glue (pkg/wasm/mtasts_lite.js, made by scripts/build: only
// the first module's exports), so that the lint tab works before anything else is loaded. The
// check loads the package's browser entry later and instantiates the same compiled module with
// the package's glue (js/core.js calls through that one): compiled once, fetched once.

import initLite, { lintPolicy, lintRecord, lintTlsRptRecord } from '../../wasm/mtasts_lite.js';

export const FIRST_MODULE_URL = new URL('../../wasm/mtasts_lite_bg.wasm', import.meta.url);

/** Fetches and compiles the first module, and instantiates it for the linters. */
export async function loadFirstModule() {
  const response = await fetch(FIRST_MODULE_URL);
  if (!response.ok) throw new Error(`${FIRST_MODULE_URL.pathname} answered ${response.status}`);
  // Interop: a static host that serves .wasm without application/wasm cannot be compiled streaming.
  const streaming = response.headers.get('content-type')?.split(';')[0].trim() === 'application/wasm';
  const module = streaming ? await WebAssembly.compileStreaming(response) : await WebAssembly.compile(await response.arrayBuffer());
  await initLite({ module_or_path: module });
  return module;
}

// The core's linters, called on the first module directly (the page passes strings and bytes
// only; js/core.js's argument checks are for library callers).
export { lintPolicy, lintRecord, lintTlsRptRecord };
