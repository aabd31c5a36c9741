// Types of the browser entry (`import ... from 'mtasts'` under the `default` condition, which
// bundlers pick): as a value exactly what js/browser/index.js exports. The Node-only names
// (connectMx, resolvePolicy, fileStore, ...) are type-only exports here, so a page that calls one
// fails at type-check ("cannot be used as a value"), not in the bundle.
// (tests/js/package-types.test.mjs holds this list equal to the entry's exports.)

export type * from './index.js';
export {
  init,
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
  buildTlsRptReports,
  readTlsRptReport,
  PolicyResolver,
  memoryStore,
  checkDomain,
  createDohDns,
  createHelperHttps,
  createHelperProbe,
  NOT_CHECKABLE,
  loadVerifier,
  LITE_MODULE_URL,
} from './index.js';

/**
 * RFC 8461 §4.2 check of a DER chain (leaf first) for the MX `host`. A browser has no trust store
 * to lend, so `roots` (PEM strings or DER bytes) is required; signatures are checked by ring inside
 * the module. Codes as the Node entry's: `certificate-host-mismatch`, `certificate-expired`,
 * `certificate-not-trusted`, `validation-failure`.
 * @throws {MtaStsError} `invalid-argument` for arguments of the wrong type (and without `roots`);
 *   `not-initialized` before `await init()`.
 */
export function verifyCertificate(
  chain: Uint8Array[],
  host: string,
  options: { now?: Date | number; roots: Array<string | Uint8Array> },
): { ok: boolean; code?: string; message?: string; tlsrpt?: string };
