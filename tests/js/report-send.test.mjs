// `mtasts report send` (issue 9, RFC 8460 §5) as a CLI process against the lab: recorded sessions
// (written with js/relay/tlsrpt-log.js) for six policy domains whose `_smtp._tls` TXT records the
// lab's DNS serves (lab.update extraTxt); https: endpoints on loopback with lab certificates (one
// records what it gets, one answers 500 until told otherwise, one redirects); a mailto: endpoint
// through a scripted smtp-server; the ledger (a second run sends nothing new); --dry-run --out; a
// refused connection and an untrusted certificate (temporary failures); DKIM; --only-failures.
// Run: scripts/build && node --test tests/js/report-send.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { SMTPServer } from 'smtp-server';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { PKG, CLI } from './built-package.mjs';
import { startEndpoint } from './tlsrpt-endpoint.mjs';

const { readTlsRptReport } = await import(pathToFileURL(join(PKG, 'js/node/index.js')));
const { startLab } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));
const { fileTlsrptLog } = await import(pathToFileURL(join(PKG, 'js/relay/tlsrpt-log.js')));

const DAY = '2026-03-14';
const SUBMITTER = 'reporter.test';
// The rua host: a lab name that resolves to 127.0.0.1 (the lab gives mta-sts.<domain> of a
// scenario with a policy the policy host's address); our endpoints listen there on ports of their own.
const RUA_HOST = 'mta-sts.enforce-valid.test';

function mtasts(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60000 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

let lab;
let dir;
let store;
let caFile;
let ok;
let flaky;
let redirect;
let flakyStatus = 500;
let smtp;
const mails = [];

const SESSION = (domain, result) => ({
  at: `${DAY}T10:00:00Z`,
  policyType: 'sts',
  policyId: 'x1',
  mode: 'enforce',
  policyStrings: ['version: STSv1', 'mode: enforce', `mx: mx1.${domain}`, 'max_age: 86400'],
  mxPatterns: [`mx1.${domain}`],
  count: 1,
  kind: 'session',
  mx: `mx1.${domain}`,
  address: '127.0.0.1',
  sendingIp: '127.0.0.1',
  result,
  code: result === 'success' ? undefined : 'certificate-not-trusted',
});

// Policy domain → its TXT records at _smtp._tls.<domain> (filled in before(), ports known then).
let txt;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mtasts-report-send-'));
  store = join(dir, 'store');
  lab = await startLab();
  caFile = join(dir, 'lab-ca.pem');
  writeFileSync(caFile, lab.caPem);
  const cert = lab.issueCert({ names: [RUA_HOST] });
  ok = await startEndpoint(cert, () => 200);
  flaky = await startEndpoint(cert, () => flakyStatus);
  redirect = await startEndpoint(cert, () => 302, `https://${RUA_HOST}/elsewhere`);
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, callback) {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        mails.push({ from: session.envelope.mailFrom.address, to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
  });
  await new Promise((r) => smtp.listen(0, '127.0.0.1', r));

  txt = {
    'https-ok.test': [[`v=TLSRPTv1; rua=https://${RUA_HOST}:${ok.port}/tlsrpt`]],
    'https-flaky.test': [[`v=TLSRPTv1; rua=https://${RUA_HOST}:${flaky.port}/v1`]],
    'https-redirect.test': [[`v=TLSRPTv1; rua=https://${RUA_HOST}:${redirect.port}/`]],
    'mail.test': [['v=TLSRPTv1; rua=mailto:tlsrpt@mail.test']],
    'bad-record.test': [['v=TLSRPTv1; rua=ftp://mail.test/']],
    // no TXT at all for no-record.test
  };
  lab.update('enforce-valid', { extraTxt: Object.fromEntries(Object.entries(txt).map(([d, r]) => [`_smtp._tls.${d}`, r])) });

  const log = fileTlsrptLog(join(store, 'tlsrpt'));
  for (const domain of [...Object.keys(txt), 'no-record.test']) {
    await log.record(domain, SESSION(domain, 'success'));
    await log.record(domain, SESSION(domain, 'success'));
    if (domain !== 'https-ok.test') await log.record(domain, SESSION(domain, 'certificate-not-trusted'));
  }
});

after(async () => {
  await Promise.all([ok?.close(), flaky?.close(), redirect?.close(), smtp && new Promise((r) => smtp.close(r))]);
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const common = () => [
  'report', 'send', '--store', `file:${store}`, '--date', DAY, '--org', 'Lab Relay', '--contact', 'mailto:postmaster@reporter.test',
  '--submitter', SUBMITTER, '--dns-server', lab.dns.server, '--ca-file', caFile, '--smtp', `127.0.0.1:${smtp.server.address().port}`,
];
const lineOf = (stdout, domain) => stdout.split('\n').filter((l) => l.startsWith(`${domain}  `));
const FILE = (domain) => {
  const begin = Date.parse(`${DAY}T00:00:00Z`) / 1000;
  return `${SUBMITTER}!${domain}!${begin}!${begin + 86399}.json.gz`;
};

test('--dry-run --out writes the .json.gz and .eml and sends nothing; no ledger', { timeout: 180_000 }, async () => {
  const out = join(dir, 'dry');
  const run = await mtasts([...common(), '--dry-run', '--out', out]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.equal(ok.got.length + flaky.got.length + redirect.got.length + mails.length, 0, 'nothing sent');
  assert.ok(!existsSync(join(store, 'tlsrpt-sent')), 'no ledger in a dry run');
  const files = readdirSync(out).sort();
  // A report file for each domain with a usable record; an .eml for the mailto: one.
  for (const d of ['https-ok.test', 'https-flaky.test', 'https-redirect.test', 'mail.test']) assert.ok(files.includes(FILE(d)), `${d}: ${files}`);
  assert.ok(!files.includes(FILE('no-record.test')) && !files.includes(FILE('bad-record.test')), files.join(' '));
  const eml = files.filter((f) => f.endsWith('.eml'));
  assert.deepEqual(eml, [`${FILE('mail.test').replace('.json.gz', '')}!tlsrpt@mail.test.eml`]);
  // The .eml is a report `mtasts report read` accepts.
  const read = await mtasts(['report', 'read', '--json', join(out, eml[0])]);
  assert.equal(read.code, 0, read.stdout + read.stderr);
  assert.match(read.stdout, /"policyDomain": "mail.test"/);
  assert.match(run.stdout, /dry run: nothing sent/);
});

test('send: https 2xx sent, 500 temporary, redirect not followed, mailto via SMTP, no/invalid record skipped; ledger', { timeout: 180_000 }, async () => {
  const first = await mtasts(common());
  assert.equal(first.code, 1, `a failure exits 1\n${first.stdout}${first.stderr}`);

  // RFC 8460 §5.4: one POST, application/tlsrpt+gzip, the gzipped report.
  assert.equal(ok.got.length, 1);
  const [post] = ok.got;
  assert.equal(post.method, 'POST');
  assert.equal(post.path, '/tlsrpt');
  assert.equal(post.contentType, 'application/tlsrpt+gzip');
  const summary = readTlsRptReport(gunzipSync(post.body).toString('utf8'));
  assert.equal(summary.policies[0].policyDomain, 'https-ok.test');
  assert.equal(summary.policies[0].successful, 2);
  assert.deepEqual(summary.policies[0].failures, []);
  assert.match(lineOf(first.stdout, 'https-ok.test')[0], /  sent \(http 200\)$/);

  assert.equal(flaky.got.length, 1);
  assert.match(lineOf(first.stdout, 'https-flaky.test')[0], /failed \(temporary, tried again from \d{4}-\d\d-\d\dT[\d:.]+Z\): http 500 \[tlsrpt-send-http-status\]/);
  assert.equal(redirect.got.length, 1, 'posted once, the redirect not followed');
  assert.match(lineOf(first.stdout, 'https-redirect.test')[0], /failed \(permanent\): http 302 redirect .* not followed \[tlsrpt-send-redirect\]/);
  assert.match(lineOf(first.stdout, 'no-record.test')[0], /  -  skipped: no TLS-RPT record at _smtp\._tls\.no-record\.test .*\[tlsrpt-record-none\]/);
  assert.match(lineOf(first.stdout, 'bad-record.test')[0], /skipped: .*\[tlsrpt-record-/);

  // RFC 8460 §5.3: the message.
  assert.equal(mails.length, 1);
  const [mail] = mails;
  assert.deepEqual(mail.to, ['tlsrpt@mail.test']);
  assert.equal(mail.from, `tlsrpt@${SUBMITTER}`);
  const [head, body] = [mail.raw.slice(0, mail.raw.indexOf('\r\n\r\n')), mail.raw.slice(mail.raw.indexOf('\r\n\r\n'))];
  const header = (name) => new RegExp(`^${name}: (.*)$`, 'mi').exec(head)?.[1];
  assert.match(header('Content-Type'), /^multipart\/report; report-type="tlsrpt"; boundary="([^"]+)"$/);
  assert.equal(header('TLS-Report-Domain'), 'mail.test');
  assert.equal(header('TLS-Report-Submitter'), SUBMITTER);
  assert.equal(header('TLS-Required'), 'No');
  assert.equal(header('Auto-Submitted'), 'auto-generated');
  assert.match(header('Subject'), /^Report Domain: mail\.test Submitter: reporter\.test Report-ID: <[0-9a-f-]{36}@reporter\.test>$/);
  const boundary = /boundary="([^"]+)"/.exec(header('Content-Type'))[1];
  const parts = body.split(`--${boundary}`).slice(1, -1);
  assert.equal(parts.length, 2, 'a text part and the report');
  assert.match(parts[0], /Content-Type: text\/plain/);
  assert.match(parts[1], /Content-Type: application\/tlsrpt\+gzip/);
  assert.match(parts[1], new RegExp(`filename="${FILE('mail.test').replace(/[.!]/g, '\\$&')}"`));
  const gz = Buffer.from(parts[1].slice(parts[1].indexOf('\r\n\r\n')).replace(/\s+/g, ''), 'base64');
  const mailed = readTlsRptReport(gunzipSync(gz).toString('utf8'));
  assert.equal(mailed.policies[0].policyDomain, 'mail.test');
  assert.equal(mailed.policies[0].successful, 2);
  assert.equal(mailed.policies[0].failures.reduce((n, f) => n + f.count, 0), 1);

  // The ledger: one fsync'd line per (domain, rua) tried: sent, the permanent refusal, the 500 deferred.
  const ledger = readFileSync(join(store, 'tlsrpt-sent', `${DAY}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(ledger.map((l) => [l.policyDomain, l.outcome]).sort(), [['https-flaky.test', 'deferred'], ['https-ok.test', 'sent'], ['https-redirect.test', 'failed'], ['mail.test', 'sent']]);

  // A run within the backoff leaves the deferred endpoint alone, says when it is due, exits 0.
  flakyStatus = 200;
  const early = await mtasts(common());
  assert.equal(early.code, 0, early.stdout + early.stderr);
  assert.equal(flaky.got.length, 1);
  assert.match(lineOf(early.stdout, 'https-flaky.test')[0], /waiting: the last try failed \(http 500 \[tlsrpt-send-http-status\]\); next try from \S+Z \(--retry-now tries now\)/);

  // Second run (--retry-now, as a later run after the backoff): the flaky endpoint now answers 200
  // and gets the report; nothing else is sent again.
  const second = await mtasts([...common(), '--retry-now']);
  assert.equal(second.code, 0, second.stdout + second.stderr);
  assert.equal(flaky.got.length, 2);
  assert.equal(flaky.got[1].contentType, 'application/tlsrpt+gzip');
  assert.match(lineOf(second.stdout, 'https-flaky.test')[0], /sent \(http 200\)/);
  assert.equal(ok.got.length, 1);
  assert.equal(redirect.got.length, 1);
  assert.equal(mails.length, 1);
  assert.match(lineOf(second.stdout, 'https-ok.test')[0], /already sent at .* \(ledger\)/);

  // Third run: nothing new, and it says so.
  const third = await mtasts(common());
  assert.equal(third.code, 0, third.stdout + third.stderr);
  assert.match(third.stdout, /nothing new to send/);
  assert.equal(ok.got.length + flaky.got.length + redirect.got.length + mails.length, 1 + 2 + 1 + 1);
});

test('a connect failure is temporary: failed, exit 1, a deferred ledger line', { timeout: 180_000 }, async () => {
  // A store of its own, for one domain whose endpoint's port has nothing listening (a closed endpoint's port).
  const store2 = join(dir, 'store2');
  await fileTlsrptLog(join(store2, 'tlsrpt')).record('https-ok.test', SESSION('https-ok.test', 'success'));
  const closed = await startEndpoint(lab.issueCert({ names: [RUA_HOST] }), () => 200);
  await closed.close();
  const run = await mtasts([...common().map((a) => (a === `file:${store}` ? `file:${store2}` : a)), '--policy-port', String(closed.port)]);
  assert.equal(run.code, 1, run.stdout + run.stderr);
  assert.match(lineOf(run.stdout, 'https-ok.test')[0], /failed \(temporary, tried again from \S+Z\): connect with mta-sts\.enforce-valid\.test failed: ECONNREFUSED.*\[tlsrpt-send-connect\]/);
  const ledger = readFileSync(join(store2, 'tlsrpt-sent', `${DAY}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(ledger.map((l) => [l.policyDomain, l.outcome, l.code]), [['https-ok.test', 'deferred', 'tlsrpt-send-connect']]);
});

test('--dkim-*: the message is DKIM-signed over the TLS-Report headers, and the signature verifies', { timeout: 180_000 }, async () => {
  const store3 = join(dir, 'store3');
  await fileTlsrptLog(join(store3, 'tlsrpt')).record('mail.test', SESSION('mail.test', 'success'));
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = join(dir, 'dkim.pem');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const before = mails.length;
  const args = [...common().map((a) => (a === `file:${store}` ? `file:${store3}` : a)), '--dkim-key', keyFile, '--dkim-selector', 's1', '--dkim-domain', SUBMITTER];
  const run = await mtasts(args);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.equal(mails.length, before + 1);
  const raw = mails.at(-1).raw;
  const h = /^DKIM-Signature:[\s\S]*?\bh=([^;]+);/m.exec(raw)?.[1].replace(/\s+/g, '');
  assert.ok(h, raw.slice(0, 500));
  for (const name of ['tls-report-domain', 'tls-report-submitter', 'from', 'subject']) assert.ok(h.split(':').includes(name), `${name} signed: ${h}`);
  const pub = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const resolver = async (name, type) => {
    if (name === `s1._domainkey.${SUBMITTER}` && type === 'TXT') return [[`v=DKIM1; k=rsa; p=${pub}`]];
    throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
  };
  const verified = await dkimVerify(Buffer.from(raw), { resolver });
  assert.deepEqual(verified.results.map((r) => [r.signingDomain, r.status.result]), [[SUBMITTER, 'pass']]);
});

test('an endpoint whose certificate does not chain to a trusted root gets nothing: failed [tlsrpt-send-certificate]', { timeout: 180_000 }, async () => {
  const store4 = join(dir, 'store4');
  await fileTlsrptLog(join(store4, 'tlsrpt')).record('https-ok.test', SESSION('https-ok.test', 'success'));
  const untrusted = await startEndpoint(lab.issueCert({ names: [RUA_HOST], ca: 'untrusted' }), () => 200);
  try {
    const run = await mtasts([...common().map((a) => (a === `file:${store}` ? `file:${store4}` : a)), '--policy-port', String(untrusted.port)]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(lineOf(run.stdout, 'https-ok.test')[0], /failed \(temporary, tried again from \S+Z\): certificate with mta-sts\.enforce-valid\.test failed: .*\[tlsrpt-send-certificate\]/);
    assert.equal(untrusted.got.length, 0, 'no request over an unverified connection');
  } finally {
    await untrusted.close();
  }
});

test('--only-failures: a day with only successful sessions has nothing due', { timeout: 180_000 }, async () => {
  const store5 = join(dir, 'store5');
  await fileTlsrptLog(join(store5, 'tlsrpt')).record('https-ok.test', SESSION('https-ok.test', 'success'));
  const before = ok.got.length;
  const run = await mtasts([...common().map((a) => (a === `file:${store}` ? `file:${store5}` : a)), '--only-failures']);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /^no report to send for 2026-03-14: no policy domain had a failed session \(--only-failures\)$/m);
  assert.equal(ok.got.length, before);
});

test('usage errors exit 2', { timeout: 180_000 }, async () => {
  for (const [args, re] of [
    [['report', 'send', '--contact', 'x'], /missing --org/],
    [['report', 'send', '--org', 'o', '--contact', 'c', '--store', `file:${store}`, '--out', dir], /--out needs --dry-run/],
    [['report', 'send', '--org', 'o', '--contact', 'c', '--store', `file:${store}`, '--smtp', 'nohost'], /--smtp needs HOST:PORT/],
    [['report', 'send', '--org', 'o', '--contact', 'c', '--store', `file:${store}`, '--smtp-user', 'u'], /--smtp-user needs --smtp-pass-file/],
  ]) {
    const run = await mtasts(args);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, re);
  }
  const help = await mtasts(['report', 'send', '--help']);
  assert.equal(help.code, 0);
  for (const flag of ['--store', '--date', '--org', '--contact', '--submitter', '--only-failures', '--dry-run', '--out', '--smtp', '--smtp-user', '--smtp-pass-file', '--from', '--dkim-key', '--dkim-selector', '--dkim-domain', '--dns-server', '--ca-file', '--policy-port', '--timeout']) {
    assert.match(help.stdout, new RegExp(`^  ${flag} `, 'm'), flag);
  }
});
