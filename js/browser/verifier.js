// The full module (certificate verifier and delivery machine) for a page that started on the first
// module (pkg/wasm/mtasts_lite_bg.wasm, no verifier): loaded once, on first use, as a second
// instance of the glue (its own URL, so its own module state), with pkg/wasm/mtasts_bg.wasm. The
// checker page asks for it when it replays an MX probe; everything else stays on the first module.

let loading;

/**
 * @returns {Promise<{ probeDelivery: Function, trustStoreFor: (roots: string[]) => object }>} the
 *   core's probe machine and a TrustStore per roots array, from the full module
 */
export function loadVerifier() {
  loading ??= (async () => {
    const glue = await import(new URL('../../wasm/mtasts.js?verifier', import.meta.url).href);
    await glue.default({ module_or_path: new URL('../../wasm/mtasts_bg.wasm', import.meta.url) });
    const stores = new WeakMap();
    return {
      probeDelivery: (...args) => glue.Delivery.probe(...args),
      trustStoreFor(roots) {
        let store = stores.get(roots);
        if (!store) {
          store = new glue.TrustStore();
          for (const pem of roots) store.addPem(pem);
          stores.set(roots, store);
        }
        return store;
      },
    };
  })();
  loading.catch(() => {
    loading = undefined;
  });
  return loading;
}
