// Types of the Node entry (`import ... from 'mtasts'` under the `node` condition): every
// declaration of index.d.ts as a type, and as a value exactly what js/node/index.js exports
// (tests/js/package-types.test.mjs holds the two lists equal).

import type { Socket } from 'node:net';

export type * from './index.js';

// On Node, the connection connectMx hands over is Node's socket (hosts.d.ts MxSocket).
declare module './hosts.js' {
  interface MxSocket extends Socket {}
}
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
  verifyCertificate,
  PolicyResolver,
  resolvePolicy,
  createPolicyResolver,
  memoryStore,
  fileStore,
  redisStore,
  redisTlsrptLog,
  connectMx,
  nodemailerSocket,
  fileTlsrptLog,
  memoryTlsrptLog,
  sessionResultsFor,
  pruneTlsrptLog,
  NetstringDecoder,
  socketmapRequest,
  socketmapAnswer,
  encodeSocketmapReply,
  startSocketmap,
} from './index.js';
