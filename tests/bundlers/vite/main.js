// Vite recipe (README "Browser and bundlers"): `?url` emits mtasts/wasm as an asset and gives its URL.
import wasmUrl from 'mtasts/wasm?url';
import { show } from '../page.js';

await show(wasmUrl);
