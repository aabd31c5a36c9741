// `mtasts check` probing the MX hosts (js/node/probe-mx.js, wired in js/cli/check-domain.js) through
// the built CLI, against a REAL Postfix MX on loopback (js/lab/postfix.js: one port per TLS
// behaviour; the lab's DNS answers mx1/mx2.<domain> → 127.0.0.1 and ::1, and --smtp-port picks the
// behaviour). Also probeMx on its own against the scripted MX (no Postfix needed).
//
// The Postfix part needs Postfix (apt-get install postfix; .ci/run installs it) and root; it is
// skipped with a message otherwise.
// Run: scripts/build && node --test tests/js/check-probe.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, CLI, assertBuilt } from './built-package.mjs';
import { startScriptedMx } from './scripted-mx.mjs';

assertBuilt();
const { startLab, startPostfixMx, postfixAvailable } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));
await import(pathToFileURL(join(PKG, 'js/node/index.js'))); // loads the core
const { probeMx } = await import(pathToFileURL(join(PKG, 'js/node/probe-mx.js')));
const { createDnsHost } = await import(pathToFileURL(join(PKG, 'js/node/dns.js')));

const skip = !postfixAvailable()
  ? 'postfix is not installed (apt-get install postfix; .ci/run installs it)'
  : process.getuid?.() !== 0
    ? 'private Postfix instances need root (queue and data directories are chowned to postfix)'
    : false;
if (skip) console.log(`# check-probe: Postfix part skipped: ${skip}`);

const DAY = 86400_000;
const ENFORCE = 'enforce-valid.test';
const TESTING = 'testing-valid.test';
const NONE = 'no-record.test';
const PARTLY = 'mx-not-in-policy.test'; // enforce; mx1 listed, backup not

/** Runs the CLI (asynchronously: the lab's DNS server lives in this process). */
function mtasts(args) {
  const env = { ...process.env };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env, timeout: 120000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

let lab;
let dir;
let caFile;
let mx;

const labFlags = () => [
  '--dns-server', lab.dns.server, '--ca-file', caFile, '--policy-port', String(lab.policyPort),
  '--timeout', '5000', '--dns-timeout', '2000', '--store', 'memory', '--helo', 'checker.test',
  '--allow-private', // the lab is on loopback (RFC 6890)
];
/** `mtasts check <domain>` against the Postfix port of `behaviour`. */
const check = (domain, behaviour, ...extra) => mtasts(['check', domain, ...labFlags(), '--smtp-port', String(mx.ports[behaviour]), ...extra]);
const checkJson = async (domain, behaviour, ...extra) => {
  const run = await check(domain, behaviour, '--json', ...extra);
  assert.equal(run.stderr, '', 'nothing on stderr');
  return { code: run.code, report: JSON.parse(run.stdout) };
};

before(async () => {
  lab = await startLab();
  dir = mkdtempSync(join(tmpdir(), 'mtasts-check-probe-'));
  caFile = join(dir, 'lab-ca.pem');
  writeFileSync(caFile, lab.caPem);
  if (!skip) mx = await startPostfixMx({ lab, domains: [ENFORCE, TESTING, NONE, PARTLY] });
});
after(async () => {
  await mx?.stop();
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('mtasts check probes each MX host (real Postfix)', { skip }, () => {
  test('enforce, valid certificate: every probe line ✓, verdict deliver, exit 0', { timeout: 180_000 }, async () => {
    const { code, stdout, stderr } = await check(ENFORCE, 'valid');
    assert.equal(code, 0, stdout + stderr);
    const port = mx.ports.valid;
    assert.match(stdout, /^    ✓\s+10 mx1\.enforce-valid\.test\s+matches mx1\.enforce-valid\.test$/m, 'the host line is unchanged');
    assert.match(stdout, new RegExp(`^          - probed 127\\.0\\.0\\.1(, ::1)? on port ${port}$`, 'm'));
    assert.match(stdout, /^          ✓ STARTTLS offered, TLSv1\.[23], \S+ \(RFC 3207\)$/m);
    assert.match(stdout, /^          ✓ certificate valid for mx1\.enforce-valid\.test \(RFC 8461 §4\.2\)$/m);
    assert.match(stdout, /^              names: .*mx1\.enforce-valid\.test/m);
    assert.match(stdout, /^          ✓ expires \d{4}-\d\d-\d\d \(\d+ days left\)$/m);
    assert.match(stdout, /^          ✓ verdict under mode enforce: deliver: a sender delivers over this verified connection \(RFC 8461 §5\)$/m);
    assert.match(stdout, /^✓ enforce-valid\.test: valid MTA-STS policy in mode enforce, and every MX host matches it and passes the STARTTLS probe$/m);
    assert.doesNotMatch(stdout, /✗/);

    const { code: jsonCode, report } = await checkJson(ENFORCE, 'valid');
    assert.equal(jsonCode, 0);
    assert.equal(report.ok, true);
    assert.deepEqual(report.errors, []);
    for (const h of report.mx) {
      const p = h.probe;
      assert.equal(p.port, port);
      assert.ok(p.addresses.some((a) => a.address === '127.0.0.1'), 'probed on 127.0.0.1');
      assert.equal(p.addresses.length, mx.hosts.length, 'every address of the host');
      for (const a of [p, ...p.addresses]) {
        assert.equal(a.starttls, true);
        assert.match(a.tlsVersion, /^TLSv1\.[23]$/);
        assert.equal(typeof a.cipher, 'string');
        assert.equal(a.error, null);
        assert.equal(a.certificate.ok, true);
        assert.equal(a.certificate.code, null);
        assert.ok(a.certificate.subjectAltNames.includes(h.host));
        assert.ok(Date.parse(a.certificate.notAfter) > Date.now());
        assert.ok(a.certificate.daysLeft > 14);
        assert.equal('tlsReport' in a, false, 'the internal TLS report is not in the JSON');
      }
      assert.deepEqual(h.verdict, { verdict: 'deliver', failure: null, address: p.addresses[0].address });
      assert.equal(h.matchedBy, h.host);
    }
  });

  test('the probe never sends mail: EHLO, STARTTLS, QUIT only (Postfix log), nothing in the maildir', { timeout: 180_000 }, async () => {
    await check(ENFORCE, 'valid');
    await check(ENFORCE, 'noStarttls');
    assert.deepEqual(mx.messages(), []);
    // Two runs × two hosts × every address; postlogd writes the lines a moment later.
    const expected = 4 * mx.hosts.length;
    // (Sessions without EHLO are the lab's own checks that the ports accept connections.)
    const sessionsIn = (log) => log.split('\n').filter((l) => /smtpd\[\d+\]: disconnect from .* ehlo=/.test(l));
    let log = mx.maillog();
    for (let waited = 0; sessionsIn(log).length < expected && waited < 20000; waited += 100) {
      await new Promise((r) => setTimeout(r, 100));
      log = mx.maillog();
    }
    const sessions = sessionsIn(log);
    assert.ok(sessions.length >= expected, `${expected} probe sessions in the Postfix log:\n${log.slice(-2000)}`);
    for (const line of sessions) {
      assert.doesNotMatch(line, /\b(mail|rcpt|data)=/, `no MAIL, RCPT or DATA: ${line}`);
      assert.match(line, /\bquit=1\b/, `the session ended with QUIT: ${line}`);
    }
  });

  test('enforce, wrong-name certificate: certificate-host-mismatch, verdict try-next, exit 1', { timeout: 180_000 }, async () => {
    const { code, stdout } = await check(ENFORCE, 'wrongName');
    assert.equal(code, 1);
    assert.match(stdout, /^          ✓ STARTTLS offered, TLSv1\.[23]/m);
    assert.match(stdout, /^          ✗ certificate not valid for mx1\.enforce-valid\.test: \[certificate-host-mismatch\] .+ \(RFC 8461 §4\.2\)$/m);
    assert.match(stdout, /^              names: mx\.wrong-name\.test$/m);
    assert.match(stdout, /^          ✗ verdict under mode enforce: try-next \[certificate-host-mismatch\]: a sender does not deliver to this host/m);
    assert.match(stdout, /^✗ enforce-valid\.test: MTA-STS policy in mode enforce, but something is wrong \(2 errors: certificate-host-mismatch\)$/m);

    const { code: jsonCode, report } = await checkJson(ENFORCE, 'wrongName');
    assert.equal(jsonCode, 1);
    assert.equal(report.ok, false);
    for (const h of report.mx) {
      assert.equal(h.probe.certificate.ok, false);
      assert.equal(h.probe.certificate.code, 'certificate-host-mismatch');
      assert.deepEqual(h.probe.certificate.subjectAltNames, ['mx.wrong-name.test']);
      assert.equal(h.verdict.verdict, 'try-next');
      assert.equal(h.verdict.failure.code, 'certificate-host-mismatch');
      assert.equal(h.verdict.failure.tlsrpt, 'certificate-host-mismatch');
    }
    assert.deepEqual(report.errors.map((e) => [e.code, e.mx]), report.mx.map((h) => ['certificate-host-mismatch', h.host]));
  });

  test('testing, wrong-name certificate: verdict deliver and report, still exit 1', { timeout: 180_000 }, async () => {
    const { code, report } = await checkJson(TESTING, 'wrongName');
    assert.equal(code, 1);
    for (const h of report.mx) {
      assert.equal(h.verdict.verdict, 'deliver');
      assert.equal(h.verdict.failure.code, 'certificate-host-mismatch');
    }
    assert.ok(report.errors.every((e) => e.code === 'certificate-host-mismatch'));
    const { stdout } = await check(TESTING, 'wrongName');
    assert.match(stdout, /^          ! verdict under mode testing: deliver \[certificate-host-mismatch\]: a sender delivers over TLS even so, and reports the failure/m);
  });

  test('no policy, wrong-name certificate: opportunistic TLS, verdict deliver without a failure', { timeout: 180_000 }, async () => {
    const { code, report } = await checkJson(NONE, 'wrongName');
    assert.equal(code, 1, 'no policy is exit 1 on its own');
    for (const h of report.mx) {
      assert.equal(h.probe.certificate.code, 'certificate-host-mismatch');
      assert.deepEqual(h.verdict.verdict, 'deliver');
      assert.equal(h.verdict.failure, null);
    }
    assert.ok(!report.errors.some((e) => e.mx), 'the probe adds no error without a policy');
  });

  test('enforce, an MX host outside the policy: verdict excluded (never dialled by a sender), exit 1', { timeout: 180_000 }, async () => {
    const { code, report } = await checkJson(PARTLY, 'valid');
    assert.equal(code, 1);
    const [listed, backup] = report.mx;
    assert.deepEqual([listed.matchesPolicy, listed.verdict.verdict, listed.verdict.failure], [true, 'deliver', null]);
    assert.deepEqual([backup.matchesPolicy, backup.verdict.verdict], [false, 'excluded']);
    assert.equal(backup.probe.certificate.ok, true, 'still probed, for the operator to see');
    assert.deepEqual(report.errors.map((e) => e.code), ['mx-not-in-policy']);
    const { stdout } = await check(PARTLY, 'valid');
    assert.match(stdout, /^          ✗ verdict under mode enforce: excluded, a sender does not deliver to a host outside the policy \(RFC 8461 §5\)$/m);
  });

  test('enforce, no STARTTLS: ✗ STARTTLS not offered, starttls-not-supported, exit 1', { timeout: 180_000 }, async () => {
    const { code, stdout } = await check(ENFORCE, 'noStarttls');
    assert.equal(code, 1);
    assert.match(stdout, /^          ✗ STARTTLS not offered \(RFC 3207\)$/m);
    assert.match(stdout, /^          ✗ verdict under mode enforce: try-next \[starttls-not-supported\]/m);
    assert.doesNotMatch(stdout, /certificate valid/);
    const { report } = await checkJson(ENFORCE, 'noStarttls');
    for (const h of report.mx) {
      assert.equal(h.probe.starttls, false);
      assert.equal(h.probe.tlsVersion, null);
      assert.equal(h.probe.certificate, null);
      assert.equal(h.probe.error, null);
      assert.equal(h.verdict.failure.code, 'starttls-not-supported');
    }
  });

  test('no policy, no STARTTLS: verdict deliver-plaintext', { timeout: 180_000 }, async () => {
    const { report } = await checkJson(NONE, 'noStarttls');
    for (const h of report.mx) assert.deepEqual([h.verdict.verdict, h.verdict.failure], ['deliver-plaintext', null]);
  });

  const failures = [
    ['expired', 'certificate-expired', 'certificate-expired'],
    ['selfSigned', 'certificate-not-trusted', 'certificate-not-trusted'],
    ['untrusted', 'certificate-not-trusted', 'certificate-not-trusted'],
    ['tls10', null, 'tls-handshake-failed'],
    ['closeAfterEhlo', null, 'smtp-closed'],
  ];
  for (const [behaviour, certificateCode, failureCode] of failures) {
    test(`enforce, ${behaviour}: verdict try-next with ${failureCode}, exit 1`, { timeout: 180_000 }, async () => {
      const { code, report } = await checkJson(ENFORCE, behaviour);
      assert.equal(code, 1);
      for (const h of report.mx) {
        assert.equal(h.probe.certificate?.code ?? null, certificateCode, `${h.host}: certificate code`);
        assert.equal(h.verdict.verdict, 'try-next');
        assert.equal(h.verdict.failure.code, failureCode);
        if (behaviour === 'expired') assert.ok(h.probe.certificate.daysLeft < 0);
        if (behaviour === 'tls10') {
          assert.equal(h.probe.starttls, true);
          assert.equal(h.probe.error.code, 'tls-handshake-failed');
        }
        if (behaviour === 'closeAfterEhlo') {
          assert.equal(h.probe.starttls, null);
          assert.equal(h.probe.error.code, 'smtp-closed');
        }
      }
      assert.ok(report.errors.some((e) => e.code === failureCode && e.mx));
    });
  }

  test('a certificate expiring within 14 days: ! and a note, exit 0 still', { timeout: 180_000 }, async () => {
    const now = Date.now();
    await mx.replaceCertificate('untrusted', lab.issueCert({ names: mx.names, notBefore: new Date(now - DAY), notAfter: new Date(now + 5 * DAY + 3600_000) }));
    const { code, stdout } = await check(ENFORCE, 'untrusted');
    assert.equal(code, 0, stdout);
    assert.match(stdout, /^          ! expires \d{4}-\d\d-\d\d \(5 days left\)$/m);
    assert.match(stdout, /^! the certificate of mx1\.enforce-valid\.test expires in 5 days/m);
  });

  test('--no-probe keeps the old behaviour: no SMTP connection, exit 0 for a good policy', { timeout: 180_000 }, async () => {
    const { code, stdout } = await check(ENFORCE, 'wrongName', '--no-probe');
    assert.equal(code, 0, stdout);
    assert.doesNotMatch(stdout, /STARTTLS|verdict|probed/);
    assert.match(stdout, /^✓ enforce-valid\.test: valid MTA-STS policy in mode enforce, and every MX host matches it$/m);
    const { code: jsonCode, report } = await checkJson(ENFORCE, 'wrongName', '--no-probe');
    assert.equal(jsonCode, 0);
    for (const h of report.mx) assert.deepEqual([h.probe, h.verdict], [null, null]);
  });
});

describe('probeMx on its own (scripted MX, no Postfix)', () => {
  test('valid certificate; QUIT after TLS, no mail; every socket closed', { timeout: 180_000 }, async () => {
    const server = await startScriptedMx({ cert: lab.certFor('mx1.enforce-valid.test') });
    try {
      const dns = createDnsHost({ servers: [lab.dns.server], timeout: 2000, tries: 1 });
      const r = await probeMx('mx1.enforce-valid.test', { dns, heloName: 'checker.test', port: server.port, roots: [lab.caPem], allowPrivate: true });
      assert.equal(r.host, 'mx1.enforce-valid.test');
      assert.equal(r.starttls, true);
      assert.equal(r.certificate.ok, true, JSON.stringify(r.certificate));
      assert.equal(r.error, null);
      assert.deepEqual([r.verdict.verdict, r.verdict.failure], ['deliver', null], 'no policy: the core delivers over TLS');
      assert.equal(r.addresses.length, server.dualStack ? 2 : 1);
      assert.equal(server.tlsSessions, r.addresses.length);
      assert.deepEqual(server.messages, []);
      // Moving the clock past notAfter gives the core's certificate-expired (display fields follow).
      const later = await probeMx('mx1.enforce-valid.test', { dns, heloName: 'checker.test', port: server.port, roots: [lab.caPem], allowPrivate: true, now: () => Date.parse(r.certificate.notAfter) + DAY });
      assert.equal(later.certificate.code, 'certificate-expired');
      assert.equal(later.certificate.daysLeft, -1);
    } finally {
      await server.close();
    }
  });

  test('an unknown host: mx-address-not-found, no connection; bad arguments are invalid-argument', { timeout: 180_000 }, async () => {
    const dns = createDnsHost({ servers: [lab.dns.server], timeout: 2000, tries: 1 });
    const r = await probeMx('nothing-here.enforce-valid.test', { dns, heloName: 'checker.test', port: 1 });
    assert.deepEqual([r.addresses, r.starttls, r.error.code, r.verdict.verdict], [[], null, 'mx-address-not-found', 'try-next']);
    await assert.rejects(probeMx('mx1.enforce-valid.test', { dns, heloName: 'bad name' }), { code: 'smtp-helo-invalid' });
    await assert.rejects(probeMx('mx1.enforce-valid.test', { dns, heloName: 'ok.test', port: 0 }), { code: 'invalid-argument' });
    await assert.rejects(probeMx('mx1.enforce-valid.test', { heloName: 'ok.test' }), { code: 'invalid-argument' });
  });
});
