// Node entry of the `mtasts` package: loads the wasm module synchronously at import time, so the
// API is ready as soon as `import ... from 'mtasts'` resolves.

import { readFileSync } from 'node:fs';
import { initSync } from '../../wasm/mtasts.js';
import { markReady, checkCertificateArguments } from '../core.js';
import { rootCertificates } from 'node:tls';
import { setSignatureHost } from '../host-crypto.js';
import { nodeVerify } from './signature-host.js';
import { verifyCertificateWith } from '../certificate.js';

const exports = initSync({ module: readFileSync(new URL('../../wasm/mtasts_bg.wasm', import.meta.url)) });
markReady(exports);
// RFC 8461 §4.2 signature checks run on node:crypto; ring in the module stays the fallback.
setSignatureHost(nodeVerify);

/**
 * RFC 8461 §4.2: is `chain` (DER, leaf first) valid for the MX `host` at `now`, chaining to
 * `roots` (default: Node's root certificates)?
 */
export function verifyCertificate(chain, host, options) {
  checkCertificateArguments(chain, host, options);
  return verifyCertificateWith(chain, host, options, rootCertificates);
}

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
export { resolvePolicy, createPolicyResolver } from './resolve.js';
export { memoryStore, fileStore } from '../stores/index.js';
export { redisStore, redisTlsrptLog } from '../stores/index.js';
export { connectMx } from './connect-mx.js';
export { fileTlsrptLog, memoryTlsrptLog, sessionResultsFor, pruneTlsrptLog } from '../relay/tlsrpt-log.js';
export { nodemailerSocket } from './nodemailer.js';
// The socketmap core (Postfix smtp_tls_policy_maps), and the server, loaded on first use.
export { NetstringDecoder, socketmapRequest, socketmapAnswer, encodeSocketmapReply } from '../core.js';
export async function startSocketmap(config = {}, options = {}) {
  const [{ resolveSocketmapConfig }, daemon] = await Promise.all([import('../socketmap/config.js'), import('../socketmap/daemon.js')]);
  return daemon.startSocketmap(resolveSocketmapConfig(config), options);
}

/**
 * Node loads the module at import time; `init()` exists so that code shared with the browser entry
 * can always `await init()`.
 */
export async function init() {}
