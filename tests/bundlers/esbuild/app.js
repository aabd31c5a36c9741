// esbuild recipe (README "Browser and bundlers"): the `file` loader copies mtasts/wasm into the
// output and gives its URL relative to the bundle.
import wasmUrl from 'mtasts/wasm';
import { show } from '../page.js';

await show(new URL(wasmUrl, import.meta.url));
