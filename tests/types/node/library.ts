// Type examples of the Node entry (`mtasts` under the `node` condition), checked by tsc --strict
// (tests/js/package-types.test.mjs). `// @ts-expect-error` marks what must NOT type-check.

import {
  parsePolicy,
  lintPolicy,
  matchMx,
  matchMxList,
  selectRecord,
  resolvePolicy,
  createPolicyResolver,
  PolicyResolver,
  memoryStore,
  fileStore,
  redisStore,
  verifyCertificate,
  connectMx,
  nodemailerSocket,
  errorCodes,
  MtaStsError,
  buildTlsRptReports,
  readTlsRptReport,
  memoryTlsrptLog,
  sessionResultsFor,
  init,
} from 'mtasts';
import type {
  MtaStsPolicy,
  MtaStsErrorCode,
  PolicyResult,
  PolicyStore,
  TxtDnsHost,
  DnsHost,
  HttpsHost,
  DnsFailure,
  FetchFailureKind,
  MxConnection,
  ConnectMxError,
  ErrorCodeInfo,
  TlsRptResultType,
} from 'mtasts';

await init(); // a no-op on Node, so shared code can always call it

const policy: MtaStsPolicy = parsePolicy('version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n');
const mode: 'enforce' | 'testing' | 'none' = policy.mode;
const matched: boolean = matchMx(policy, 'mx.example.com');
const all: boolean[] = matchMxList(['*.example.com'], ['a.example.com']);
const lint = lintPolicy(new Uint8Array([118]));
for (const d of lint.diagnostics) {
  const where: string = `${d.line}:${d.column} ${d.severity} ${d.code} ${d.rfc}`;
  void where;
}
const record = selectRecord([['v=STSv1; id=1']]);
if (record !== null) void record.id.toUpperCase();
void [mode, matched, all];

// @ts-expect-error the text must be a string or bytes
parsePolicy(42);
// @ts-expect-error a mode the RFC does not have
const wrongMode: MtaStsPolicy['mode'] = 'report';
void wrongMode;

try {
  parsePolicy('mode: report\n');
} catch (e) {
  if (e instanceof MtaStsError) {
    const code: MtaStsErrorCode = e.code;
    const line: number | undefined = e.line;
    void [code, line, e.rfc, e.problem, e.temporary];
  }
}

const info: ErrorCodeInfo[] = errorCodes();
const temporary: boolean | null = info[0].temporary;
void temporary;

// Discovery with the Node hosts, its cache, and its result.
const store: PolicyStore = fileStore('/var/cache/mtasts');
const result: PolicyResult = await resolvePolicy('example.com', { store, timeout: 10_000, onStoreError: (err) => void err.code });
if (result.status === 'found' || result.status === 'cached') void result.policy?.mx;
for (const e of result.errors) void [e.code, e.tlsrpt, e.temporary];
// @ts-expect-error not a status discovery gives
if (result.status === 'fresh') void 0;
const shared = redisStore('redis://127.0.0.1:6379/0', { local: memoryStore() });
void shared.connection.up;
const resolver = createPolicyResolver({ dnsServers: ['127.0.0.1:53'] });
void (await resolver.dueForRefresh());

// A host of one's own: a DNS table and an HTTPS host (hosts.d.ts).
const table: DnsHost = {
  async resolveTxt(name) {
    return name === '_mta-sts.example.com' ? { ok: true, records: [['v=STSv1; id=1']] } : { ok: false, kind: 'none', detail: 'ENOTFOUND', message: name };
  },
  async resolveMx() {
    return { ok: true, records: [{ exchange: 'mx.example.com', priority: 10 }] };
  },
  async resolveAddresses(name, family) {
    const failure: DnsFailure = { ok: false, kind: 'temporary', detail: 'ETIMEOUT', message: `${name} ${family ?? 0}` };
    return failure;
  },
};
const kind: FetchFailureKind = 'too-large';
const https: HttpsHost = {
  async get(url) {
    return url.startsWith('https://') ? { ok: true, status: 200, contentType: 'text/plain', location: null, body: new Uint8Array() } : { ok: false, kind, detail: 'E', message: url };
  },
};
const mine = new PolicyResolver({ dns: table, https, store: memoryStore(), now: () => 0 });
void mine.resolve('example.com', { refresh: true });

const txtOnly: TxtDnsHost = {
  // @ts-expect-error `kind` is 'none' or 'temporary', nothing else
  async resolveTxt() {
    return { ok: false, kind: 'nxdomain', detail: 'ENOTFOUND', message: '' };
  },
};
void txtOnly;
const badHttps: HttpsHost = {
  // @ts-expect-error the body is bytes, not a string
  async get() {
    return { ok: true, status: 200, contentType: null, location: null, body: 'version: STSv1' };
  },
};
void badHttps;

// Certificates and delivery.
const verdict = verifyCertificate([new Uint8Array()], 'mx.example.com', { now: new Date(), roots: ['-----BEGIN CERTIFICATE-----'] });
if (!verdict.ok) void verdict.code;
try {
  const c: MxConnection = await connectMx('example.com', { heloName: 'relay.example.org', signal: AbortSignal.timeout(1000), limits: { maxAddresses: 2 } });
  c.socket.write('EHLO relay.example.org\r\n');
  void [c.verdict, c.trace.result, c.tls?.version, c.attempts.map((a) => a.result)];
} catch (err) {
  const e = err as ConnectMxError;
  void [e.reply.code, e.temporary, e.attempts.length];
}
// @ts-expect-error heloName is required
void connectMx('example.com', {});
const getSocket = nodemailerSocket({ heloName: 'relay.example.org' });
void getSocket;

// TLS-RPT.
const resultType: TlsRptResultType = 'certificate-expired';
const [report] = buildTlsRptReports({
  organization: 'o',
  contact: 'c',
  submitter: 'example.org',
  day: '2026-12-01',
  results: [{ policyDomain: 'example.com', policy: { type: 'sts' }, result: resultType }],
});
void readTlsRptReport(report.json).policies[0].failures;
const log = memoryTlsrptLog();
void sessionResultsFor(log, '2026-12-01');
// @ts-expect-error not an RFC 8460 result type
buildTlsRptReports({ organization: 'o', contact: 'c', submitter: 's', day: 'd', results: [{ policyDomain: 'x', policy: { type: 'sts' }, result: 'tls-failed' }] });
