// `mtasts/wasm`: the WebAssembly module's file (wasm/mtasts_bg.wasm), for bundlers. What an import
// of it gives is the bundler's: with esbuild's `file` loader (and Vite's `mtasts/wasm?url`) it is
// the URL of the emitted file, a string, to hand to `init()`.
declare const wasmUrl: string;
export default wasmUrl;
