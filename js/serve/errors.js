// The named errors of `mtasts serve`'s helpers: each answer is JSON { code, message } with a stable
// kebab-case code and the HTTP status that goes with it.

export const SERVE_ERRORS = Object.freeze({
  'serve-not-found': 404,
  'serve-method-not-allowed': 405,
  'serve-not-a-domain': 400,
  'serve-dns-query-malformed': 400,
  'serve-request-too-large': 413,
  'serve-unsupported-media-type': 415,
  'serve-target-refused': 403,
  'serve-not-mx-host': 403,
  'serve-rate-limited': 429,
  'serve-busy': 503,
  'serve-mx-lookup-failed': 502,
  'serve-probe-failed': 502,
  'serve-internal-error': 500,
});

export class ServeError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    if (!(code in SERVE_ERRORS)) throw new TypeError(`unknown serve error ${code}`);
    this.code = code;
    this.status = SERVE_ERRORS[code];
    this.extra = extra;
  }
}
