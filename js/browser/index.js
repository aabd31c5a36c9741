// Browser entry of the `mtasts` package (also any runtime without node:fs): the wasm module is
// loaded by `await init()`. Until then every function throws MtaStsError `not-initialized`.

import { checkCertificateArguments } from '../core.js';
import { verifyCertificateWith } from '../certificate.js';

export { init } from './init.js';

export {
  parseRecord,
  selectRecord,
  lintRecord,
  parseTlsRptRecord,
  selectTlsRptRecord,
  lintTlsRptRecord,
  parsePolicy,
  lintPolicy,
  formatPolicy,
  matchMx,
  matchMxList,
  errorCodes,
  MtaStsError,
} from '../core.js';
export { buildTlsRptReports, readTlsRptReport } from '../core.js';
export { PolicyResolver } from '../policy-resolver.js';
export { memoryStore } from '../stores/memory.js';

/**
 * RFC 8461 §4.2 check of a DER chain for an MX host. The browser has no trust store to lend, so
 * `options.roots` is required; signatures are checked by ring inside the module.
 */
export function verifyCertificate(chain, host, options) {
  checkCertificateArguments(chain, host, options);
  return verifyCertificateWith(chain, host, options, undefined);
}

// The checker page's assembly and hosts (js/check/): the same report as `mtasts check --json`.
export { checkDomain } from '../check/check-domain.js';
export { createDohDns } from '../check/doh-dns.js';
export { createHelperHttps, createHelperProbe, NOT_CHECKABLE } from '../check/helper-hosts.js';
export { loadVerifier } from './verifier.js';
export { LITE_MODULE_URL } from './init.js';
