// A TLS report mailed by `mtasts report send` through a real Postfix (js/lab/postfix.js: a private
// instance, mail for the rua domain into a maildir), then the delivered file — with the headers
// Postfix added — read back by `mtasts report read` (the counts sent are the counts read), and its
// DKIM signature verified by an independent verifier, dkimpy (PyPI; it knows RFC 8460's `s=tlsrpt`
// service type: `tlsrpt='strict'`), in the venv scripts/setup makes.
// Needs Postfix and root (as postfix-mx.test.mjs), and the venv for the dkimpy part; each skipped
// with the reason otherwise.
// Run: scripts/build && node --test tests/js/report-send-postfix.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, CLI, ROOT } from './built-package.mjs';

const load = (p) => import(pathToFileURL(join(PKG, p)));
const { startLab, startPostfixMx, postfixAvailable } = await load('js/lab/index.js');
const { fileTlsrptLog } = await load('js/relay/tlsrpt-log.js');

const skip = !postfixAvailable() ? 'postfix is not installed (apt-get install postfix; .ci/run installs it)' : process.getuid?.() !== 0 ? 'needs root (Postfix instances)' : false;
const VENV = process.env.MTASTS_PY_VENV ?? process.env.TLSRPT_PARSEDMARC_VENV ?? join(ROOT, 'target/py-peers');
const PYTHON = join(VENV, 'bin/python');
const dkimpy = (() => {
  try {
    return existsSync(PYTHON) && (execFileSync(PYTHON, ['-c', 'import dkim'], { stdio: 'ignore' }), true);
  } catch {
    return false;
  }
})();

const DAY = '2026-03-14';
const DOMAIN = 'enforce-valid.test'; // the policy domain reported on, and its rua mailbox domain
const SUBMITTER = 'reporter.test';

function mtasts(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60000 }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

let lab;
let mx;
let dir;
before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'mtasts-report-postfix-'));
  lab = await startLab();
  lab.update('enforce-valid', { extraTxt: { [`_smtp._tls.${DOMAIN}`]: [[`v=TLSRPTv1; rua=mailto:tlsrpt@${DOMAIN}`]] } });
  // A submission port on loopback without STARTTLS (the relay host's local Postfix, as most are).
  mx = await startPostfixMx({ lab, domains: [DOMAIN], users: ['tlsrpt'], listeners: { noStarttls: 0 } });
});
after(async () => {
  await mx?.stop();
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('report send → real Postfix → maildir → report read: the same counts; DKIM verifies with dkimpy', { timeout: 600_000, skip }, async () => {
  const store = join(dir, 'store');
  const log = fileTlsrptLog(join(store, 'tlsrpt'));
  const record = (result, address) => ({
    at: `${DAY}T09:00:00Z`, policyType: 'sts', policyId: 'p1', mode: 'testing',
    policyStrings: ['version: STSv1', 'mode: testing', `mx: mx1.${DOMAIN}`, 'max_age: 86400'], mxPatterns: [`mx1.${DOMAIN}`],
    count: 1, kind: 'session', mx: `mx1.${DOMAIN}`, address, sendingIp: '127.0.0.1', result, code: result,
  });
  for (let i = 0; i < 5; i++) await log.record(DOMAIN, record('success', '127.0.0.1'));
  for (let i = 0; i < 3; i++) await log.record(DOMAIN, record('certificate-expired', '::1'));
  await log.record(DOMAIN, record('starttls-not-supported', '127.0.0.1'));

  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = join(dir, 'dkim.pem');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const run = await mtasts(['report', 'send', '--store', `file:${store}`, '--date', DAY, '--org', 'Lab Relay', '--contact', `mailto:postmaster@${SUBMITTER}`,
    '--submitter', SUBMITTER, '--dns-server', lab.dns.server, '--smtp', `127.0.0.1:${mx.ports.noStarttls}`,
    '--dkim-key', keyFile, '--dkim-selector', 's1', '--dkim-domain', SUBMITTER]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, new RegExp(`^${DOMAIN.replace(/\./g, '\\.')}  mailto:tlsrpt@${DOMAIN.replace(/\./g, '\\.')}  sent \\(smtp 250`, 'm'));

  await mx.waitForMessages(1);
  const [delivered] = mx.messages();
  assert.equal(delivered.user, 'tlsrpt');
  const raw = readFileSync(delivered.file, 'utf8');
  assert.match(raw, /^Received: from /m, 'Postfix added its trace header');
  assert.match(raw, /^Delivered-To: tlsrpt@enforce-valid\.test/m);

  // report read takes the delivered file as it is.
  const read = await mtasts(['report', 'read', '--json', delivered.file]);
  assert.equal(read.code, 0, read.stderr);
  const [summary] = JSON.parse(read.stdout);
  assert.equal(summary.organization, 'Lab Relay');
  assert.deepEqual(summary.dateRange, { start: `${DAY}T00:00:00Z`, end: `${DAY}T23:59:59Z` });
  const [p] = summary.policies;
  assert.deepEqual([p.policyDomain, p.policyType, p.successful, p.failed], [DOMAIN, 'sts', 5, 4]);
  assert.deepEqual(p.failures.map((f) => [f.resultType, f.count, f.receivingIp]).sort(), [['certificate-expired', 3, '::1'], ['starttls-not-supported', 1, '127.0.0.1']]);
  assert.deepEqual(summary.problems, []);

  if (!dkimpy) {
    console.log(`# dkimpy part skipped: no venv with dkimpy at ${VENV} (scripts/setup makes it)`);
    return;
  }
  // dkimpy, with the key served by its dnsfunc under RFC 8460 §3's service type s=tlsrpt.
  const pub = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const script = `
import sys, dkim
key = sys.argv[2].encode()
def dns(name, timeout=5):
    return b"v=DKIM1; k=rsa; s=tlsrpt; p=" + key if name == b"s1._domainkey.${SUBMITTER}." else None
msg = open(sys.argv[1], "rb").read()
print("strict", dkim.verify(msg, dnsfunc=dns, tlsrpt="strict"))
tampered = msg.replace(b"TLS-Report-Domain: ${DOMAIN}", b"TLS-Report-Domain: other.test")
print("tampered", dkim.verify(tampered, dnsfunc=dns, tlsrpt="strict"))
`;
  const out = execFileSync(PYTHON, ['-c', script, delivered.file, pub], { encoding: 'utf8' });
  assert.match(out, /^strict True$/m, out);
  assert.match(out, /^tampered False$/m, 'TLS-Report-Domain is covered by the signature');
});
