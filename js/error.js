// MtaStsError: the one error class of the package. The wasm core constructs it (this file is also a
// wasm-bindgen snippet), and the package's entries re-export it.
//
// wasm-bindgen copies this file into the package as a snippet, so two copies of this module may be
// loaded (the snippet and js/error.js). Both hand out the same class, kept under a global symbol, so
// `instanceof MtaStsError` holds whichever copy made the error.

const KEY = Symbol.for('mtasts.MtaStsError');

class MtaStsError extends Error {
  /**
   * @param {string} code stable kebab-case code, e.g. `policy-invalid`
   * @param {string} message lowercase, says what was expected and what was found
   * @param {object} [details] optional `problem`, `line`, `column`, `rfc`, `tlsrpt`, `cause`
   */
  constructor(code, message, details) {
    super(message, details && details.cause !== undefined ? { cause: details.cause } : undefined);
    this.name = 'MtaStsError';
    this.code = code;
    if (details) {
      for (const key of ['problem', 'line', 'column', 'rfc', 'tlsrpt', 'temporary']) {
        if (details[key] !== undefined && details[key] !== null) this[key] = details[key];
      }
    }
  }
}

const Shared = globalThis[KEY] ?? (globalThis[KEY] = MtaStsError);
export { Shared as MtaStsError };

/** Used by the wasm bindings: one call instead of constructor + property sets. */
export function makeMtaStsError(code, message, problem, line, column, rfc, tlsrpt, temporary) {
  const err = new Shared(code, message, { problem, line, column, rfc, tlsrpt });
  err.temporary = temporary === true;
  return err;
}
