// connectMx's `tlsrpt` option (RFC 8460 §4): a library user's deliveries recorded like the relay's,
// one record per session attempt and per policy-discovery failure, into a TLS-RPT log exported by
// the package; then sessionResultsFor + buildTlsRptReports give the day's reports. Against the lab's
// own MX (js/lab/mx.js: one SMTP server for every lab MX name, the certificate chosen by SNI).
// Run: scripts/build && node --test tests/js/tlsrpt-connect-mx.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, assertBuilt } from './built-package.mjs';

assertBuilt();
const mtasts = await import(pathToFileURL(join(PKG, 'js/node/index.js')));
const { connectMx, memoryTlsrptLog, sessionResultsFor, buildTlsRptReports, readTlsRptReport, memoryStore } = mtasts;
const { startLab, startLabMx } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));

let lab;
let mx;
before(async () => {
  lab = await startLab();
  mx = await startLabMx(lab, { behaviours: { 'testing-valid.test': 'untrusted', 'long-record.test': 'expired', 'split-record.test': 'wrong-name' } });
});
after(async () => {
  await mx?.close();
  await lab?.stop();
});

const options = (extra) => ({
  heloName: 'sender.lab.test', dnsServers: [lab.dns.server], ca: lab.caPem, policyPort: lab.policyPort, smtpPort: mx.port, allowPrivate: true,
  store: memoryStore(), timeouts: { connect: 3000, reply: 5000, tls: 5000 }, ...extra,
});

test('every session and discovery failure is recorded; the day builds into reports with those counts', { timeout: 180_000 }, async () => {
  const log = memoryTlsrptLog();
  const ok = await connectMx('enforce-valid.test', options({ tlsrpt: log }));
  ok.socket.destroy();
  const testing = await connectMx('testing-valid.test', options({ tlsrpt: log }));
  assert.equal(testing.verdict, 'deliver', 'testing: an untrusted certificate is delivered to, and reported (RFC 8461 §5)');
  testing.socket.destroy();
  for (const [domain, code] of [['long-record.test', 'certificate-expired'], ['split-record.test', 'certificate-host-mismatch']]) {
    await assert.rejects(connectMx(domain, options({ tlsrpt: log })), (err) => err.attempts.some((a) => a.tlsrpt === code));
  }
  const fetchFailed = await connectMx('policy-untrusted-cert.test', options({ tlsrpt: log }));
  fetchFailed.socket.destroy();

  const day = new Date().toISOString().slice(0, 10);
  assert.deepEqual(await log.domains(day), ['enforce-valid.test', 'long-record.test', 'policy-untrusted-cert.test', 'split-record.test', 'testing-valid.test']);
  const discovery = (await log.list('policy-untrusted-cert.test', day)).find((r) => r.kind === 'discovery');
  assert.equal(discovery.result, 'sts-webpki-invalid');
  assert.equal(discovery.sendingIp, '127.0.0.1', 'the policy fetch\'s local address (RFC 8460 §4.4)');
  const session = (await log.list('enforce-valid.test', day))[0];
  assert.deepEqual([session.kind, session.result, session.mx, session.policyType, session.mode], ['session', 'success', 'mx1.enforce-valid.test', 'sts', 'enforce']);
  assert.ok(['127.0.0.1', '::1'].includes(session.sendingIp));

  const reports = buildTlsRptReports({ organization: 'Lib', contact: 'mailto:ops@lib.test', submitter: 'lib.test', day, results: await sessionResultsFor(log, day) });
  const by = Object.fromEntries(reports.map((r) => {
    const p = readTlsRptReport(r.json).policies[0];
    const types = {};
    for (const f of p.failures) types[f.resultType] = (types[f.resultType] ?? 0) + f.count;
    return [p.policyDomain, [p.policyType, p.successful, types]];
  }));
  const sessions = mx.dualStack ? 2 : 1; // the core's session limit: mx1 on 127.0.0.1 and ::1
  assert.deepEqual(by, {
    'enforce-valid.test': ['sts', 1, {}],
    'testing-valid.test': ['sts', 0, { 'certificate-not-trusted': 1 }],
    'long-record.test': ['sts', 0, { 'certificate-expired': sessions }],
    'split-record.test': ['sts', 0, { 'certificate-host-mismatch': sessions }],
    'policy-untrusted-cert.test': ['no-policy-found', 1, { 'sts-webpki-invalid': 1 }],
  });
});

test('a log that fails to record does not fail the delivery: onTlsrptError hears of it; a non-log is invalid-argument', { timeout: 180_000 }, async () => {
  const heard = [];
  const broken = { record: async () => { throw Object.assign(new Error('disk full'), { code: 'ENOSPC' }); } };
  const c = await connectMx('enforce-valid.test', options({ tlsrpt: broken, onTlsrptError: (err, domain) => heard.push([err.code, domain]) }));
  c.socket.destroy();
  assert.deepEqual(heard, [['ENOSPC', 'enforce-valid.test']]);
  await assert.rejects(connectMx('enforce-valid.test', options({ tlsrpt: {} })), { code: 'invalid-argument' });
});

test('the lab MX refuses a behaviour it does not know', { timeout: 180_000 }, () => {
  assert.throws(() => mx.behave('x.test', 'broken'), /must be one of valid, untrusted, wrong-name, expired/);
});
