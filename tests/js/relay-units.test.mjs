// The relay's small parts on their own: dot-stuffing, mirrored replies, configuration, users file,
// allow list, TLS-RPT log. Run: scripts/build && node --test tests/js/relay-units.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, assertBuilt } from './built-package.mjs';
import { seededRandom } from '../bench/policy-corpus.mjs';

assertBuilt();
const load = (p) => import(pathToFileURL(join(PKG, p)));
await load('js/node/index.js'); // loads the wasm core
const { dotStuffer } = await load('js/relay/transparency.js');
const { mirrorReply } = await load('js/relay/session.js');
const { resolveConfig, parseHostPort } = await load('js/relay/config.js');
const { parseUsers, checkPassword, hashPassword } = await load('js/relay/users.js');
const { createAllowList } = await load('js/relay/allow-list.js');
const { fileTlsrptLog, memoryTlsrptLog } = await load('js/relay/tlsrpt-log.js');

/** Runs chunks through a stuffer and returns what goes on the wire, end line included. */
function stuff(...chunks) {
  const s = dotStuffer();
  return Buffer.concat([...chunks.map((c) => s.push(Buffer.from(c, 'latin1'))), s.end()]).toString('latin1');
}

test('dot-stuffing (RFC 5321 §4.5.2) and line endings, across chunk boundaries', { timeout: 180_000 }, () => {
  const cases = [
    [['a\r\n'], 'a\r\n.\r\n', 'plain line'],
    [['.a\r\n'], '..a\r\n.\r\n', 'dot at the very start'],
    [['x\r\n.\r\ny\r\n'], 'x\r\n..\r\ny\r\n.\r\n', 'a lone dot line is stuffed, so it cannot end DATA'],
    [['x\r\n', '.y\r\n'], 'x\r\n..y\r\n.\r\n', 'dot at the start of the next chunk'],
    [['x\r', '\n.y\r\n'], 'x\r\n..y\r\n.\r\n', 'CRLF split across chunks'],
    [['a\nb\r\n'], 'a\r\nb\r\n.\r\n', 'bare LF becomes CRLF'],
    [['a\n.\nb\r\n'], 'a\r\n..\r\nb\r\n.\r\n', 'LF-dot-LF (smuggling) cannot end DATA'],
    [['no newline at end'], 'no newline at end\r\n.\r\n', 'a last line without a break gets one'],
    [[''], '.\r\n', 'empty message'],
    [['a\r\n', '', '.b'], 'a\r\n..b\r\n.\r\n', 'empty chunk keeps the line-start state'],
    // RFC 5321 §2.3.8: a CR not followed by LF is a line break like a bare LF (SMTP smuggling).
    [['a\rb\r\n'], 'a\r\nb\r\n.\r\n', 'bare CR becomes CRLF'],
    [['a\r.\rb\r\n'], 'a\r\n..\r\nb\r\n.\r\n', 'CR-dot-CR (smuggling) cannot end DATA'],
    [['a\r.\nb\r\n'], 'a\r\n..\r\nb\r\n.\r\n', 'CR-dot-LF cannot end DATA'],
    [['a\n.\rb\r\n'], 'a\r\n..\r\nb\r\n.\r\n', 'LF-dot-CR cannot end DATA'],
    [['a\r\n.\rb\r\n'], 'a\r\n..\r\nb\r\n.\r\n', 'CRLF-dot-CR: the dot line is stuffed, its bare CR normalised'],
    [['a\r', '.\r', '\nb'], 'a\r\n..\r\nb\r\n.\r\n', 'bare CR at a chunk end, dot at the next start'],
    [['a\r', '', '\n.b'], 'a\r\n..b\r\n.\r\n', 'a CR held over an empty chunk still pairs with the LF'],
    [['a\r'], 'a\r\n.\r\n', 'a CR ending the message is a line break, not part of the terminator'],
    [['\r'], '\r\n.\r\n', 'a message of one CR'],
    [['a\r\r\nb'], 'a\r\n\r\nb\r\n.\r\n', 'CR CR LF: a bare CR, then CRLF'],
    [['\r.\r\n'], '\r\n..\r\n.\r\n', 'bare CR at the very start, then a dot line'],
    [['..\r\n'], '...\r\n.\r\n', 'a line of two dots gets a third'],
  ];
  for (const [chunks, wire, why] of cases) assert.equal(stuff(...chunks), wire, why);
});

/** The whole-message reference: every CRLF, CR or LF is CRLF (§2.3.8), a leading dot is doubled. */
function stuffWhole(text) {
  const lines = text.replace(/\r\n|\r|\n/g, '\r\n');
  const stuffed = lines.replace(/(^|\r\n)\./g, '$1..');
  return `${stuffed}${stuffed === '' || stuffed.endsWith('\r\n') ? '' : '\r\n'}.\r\n`;
}

test('dot-stuffing: any chunking gives the whole-message output; no bare-CR/LF dot line reaches the wire', { timeout: 180_000 }, () => {
  const seed = 0x5e11;
  const random = seededRandom(seed);
  const ALPHABET = ['\r', '\n', '.', '.', 'a', 'b', ' ', '\r\n', '\r\n.', '\r.\r', '\n.\n', '\r.\n', '\n.\r'];
  for (let round = 0; round < 500; round++) {
    let message = '';
    const parts = Math.floor(random() * 40);
    for (let k = 0; k < parts; k++) message += ALPHABET[Math.floor(random() * ALPHABET.length)];
    const whole = stuffWhole(message);
    assert.equal(stuff(message), whole, `seed ${seed} round ${round}: one chunk ${JSON.stringify(message)}`);
    const chunks = [];
    for (let at = 0; at < message.length; ) {
      const len = Math.floor(random() * 5); // 0-4 bytes, empty chunks included
      chunks.push(message.slice(at, at + len));
      at += len;
    }
    const wire = stuff(...chunks);
    assert.equal(wire, whole, `seed ${seed} round ${round}: ${JSON.stringify(chunks)}`);
    // What the MX sees: only CRLF line ends, and every line starting with "." is a stuffed one
    // (so the only "." line is the terminator).
    assert.doesNotMatch(wire.replace(/\r\n/g, ''), /[\r\n]/, 'no bare CR or LF on the wire');
    const lines = wire.split('\r\n');
    assert.deepEqual(lines.slice(-2), ['.', ''], 'ends with the terminator line');
    for (const line of lines.slice(0, -2)) assert.ok(!line.startsWith('.') || line.startsWith('..'), `unstuffed dot line ${JSON.stringify(line)}`);
    for (const bad of ['\r.\r', '\n.\n', '\r.\n', '\n.\r']) {
      assert.ok(!wire.slice(0, -3).includes(bad), `${JSON.stringify(bad)} on the wire`);
    }
  }
});

test('MX replies are mirrored by the core with the MX named and one enhanced code', { timeout: 180_000 }, () => {
  const r = (code, ...lines) => ({ code, lines });
  assert.deepEqual(mirrorReply(r(550, '5.1.1 first', '5.1.1 second'), 'mx1.example.test'), { responseCode: 550, message: '5.1.1 first / second [mx1.example.test]' });
  assert.deepEqual(mirrorReply(r(550, 'no enhanced code'), 'mx'), { responseCode: 550, message: '5.0.0 no enhanced code [mx]' });
  assert.deepEqual(mirrorReply(r(421, '4.3.2 closing'), 'mx'), { responseCode: 451, message: '4.3.2 closing [mx]' }, '421 is the MX closing, not the relay');
  assert.equal(mirrorReply(r(452, '5.2.2 mismatched class'), 'mx').message, '4.0.0 mismatched class [mx]', 'an enhanced code of another class is not taken');
  assert.ok(!mirrorReply(r(550, 'a\r\n250 injected'), 'mx').message.includes('\n'), 'no line breaks pass through');
});

test('configuration: defaults, file, flags, and one clear error for each mistake', { timeout: 180_000 }, () => {
  const c = resolveConfig({ listen: ['[::1]:2525'], timeouts: { command: 10 }, traceHeader: false }, { helo: 'relay.test', maxSize: '2048' });
  assert.deepEqual(c.listen, [{ host: '::1', port: 2525 }]);
  assert.equal(c.timeouts.command, 10_000);
  assert.equal(c.timeouts.dataEnd, 540_000);
  assert.equal(c.traceHeader, null);
  assert.equal(c.maxSize, 2048);
  assert.deepEqual(c.allow, ['127.0.0.0/8', '::1/128']);
  assert.deepEqual(parseHostPort('127.0.0.1:0', 'x'), { host: '127.0.0.1', port: 0 });
  for (const [file, flags, pattern] of [
    [{}, { listen: ['10025'] }, /listen needs HOST:PORT/],
    [{}, { helo: 'bad name' }, /helo needs a host name/],
    [{}, { store: 'ftp://x' }, /store must be memory or file:DIR, or redis:/],
    [{}, { tlsCert: 'a.pem' }, /tls-cert and tls-key go together/],
    [{}, { logLevel: 'loud' }, /log-level must be one of/],
    [{ timeouts: { forever: 1 } }, {}, /timeouts\.forever is not a timeout/],
    [{}, { smtpPort: '70000' }, /smtp-port needs a whole number/],
    [{}, { metrics: 'localhost' }, /metrics needs HOST:PORT/],
  ]) {
    assert.throws(() => resolveConfig(file, flags), (err) => err.code === 'config-invalid' && pattern.test(err.message), String(pattern));
  }
  assert.throws(() => resolveConfig({}, { allow: ['1.2.3.4/40'] }), { code: 'invalid-argument' });
});

test('users file: scrypt hashes, wrong passwords and unknown users refused, bad lines named', { timeout: 180_000 }, async () => {
  const users = parseUsers(`# comment\n\npostfix:${await hashPassword('right')}\n`);
  assert.equal(await checkPassword(users, 'postfix', 'right'), true);
  assert.equal(await checkPassword(users, 'postfix', 'wrong'), false);
  assert.equal(await checkPassword(users, 'nobody', 'right'), false);
  assert.throws(() => parseUsers('postfix:plaintext\n'), { code: 'users-file-invalid', line: 1 });
  assert.throws(() => parseUsers('a:$scrypt$N=3,r=8,p=1$AAAA$AAAA\n'), /out of range/);
});

test('allow list: networks, single addresses, IPv4-mapped IPv6', { timeout: 180_000 }, () => {
  const allow = createAllowList(['127.0.0.0/8', '::1/128', '192.0.2.7']);
  assert.equal(allow.allows('127.0.0.1'), true);
  assert.equal(allow.allows('::ffff:127.0.0.2'), true);
  assert.equal(allow.allows('::1'), true);
  assert.equal(allow.allows('192.0.2.7'), true);
  assert.equal(allow.allows('192.0.2.8'), false);
  assert.equal(allow.allows('2001:db8::1'), false);
  assert.equal(allow.allows(undefined), false);
  assert.throws(() => createAllowList(['example.com']), { code: 'invalid-argument' });
});

test('TLS-RPT log: one JSONL file per day and policy domain, torn lines skipped, keys checked', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtasts-tlsrpt-'));
  try {
    const log = fileTlsrptLog(dir);
    const at = new Date('2026-03-04T05:06:07Z');
    await log.record('example.test', { at, policyType: 'sts', result: 'certificate-expired', message: 'x'.repeat(1000) });
    await log.record('example.test', { at, policyType: 'sts', result: 'success' });
    appendFileSync(join(dir, '2026-03-04', 'example.test.jsonl'), '{"torn":');
    const records = await log.list('example.test', '2026-03-04');
    assert.deepEqual(records.map((r) => r.result), ['certificate-expired', 'success']);
    assert.ok(records[0].message.length < 400);
    assert.deepEqual(await log.days(), ['2026-03-04']);
    assert.deepEqual(await log.list('other.test', '2026-03-04'), []);
    await assert.rejects(log.record('../etc', { at, result: 'success' }), { code: 'store-invalid-key' });
    const mem = memoryTlsrptLog();
    await mem.record('example.test', { at, result: 'success' });
    assert.equal((await mem.list('example.test', '2026-03-04')).length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Pruning and the reader for the core (tlsrpt-log.js pruneTlsrptLog, sessionResultsFor).
const { oldestKeptDay, pruneTlsrptLog, sessionResultsFor } = await load('js/relay/tlsrpt-log.js');

test('TLS-RPT log pruning: days before today minus keepDays go, the boundary day stays, in files and in memory', { timeout: 180_000 }, async () => {
  const now = Date.parse('2026-03-11T08:00:00Z');
  assert.equal(oldestKeptDay(now, 10), '2026-03-01');
  assert.equal(oldestKeptDay(now, 1), '2026-03-10', 'yesterday is always kept');
  for (const bad of [0, -1, 1.5, '10', undefined]) assert.throws(() => oldestKeptDay(now, bad), { code: 'invalid-argument' }, String(bad));
  const dir = mkdtempSync(join(tmpdir(), 'mtasts-tlsrpt-'));
  try {
    for (const log of [fileTlsrptLog(dir), memoryTlsrptLog()]) {
      for (const day of ['2026-02-20', '2026-02-28', '2026-03-01', '2026-03-11']) await log.record('example.test', { at: new Date(`${day}T12:00:00Z`), result: 'success' });
      assert.deepEqual(await pruneTlsrptLog(log, { now, keepDays: 10 }), ['2026-02-20', '2026-02-28']);
      assert.deepEqual(await log.days(), ['2026-03-01', '2026-03-11']);
      assert.deepEqual(await pruneTlsrptLog(log, { now, keepDays: 10 }), [], 'nothing left to prune');
      // A pruned day can be written again (the file log remembers made directories).
      await log.record('example.test', { at: new Date('2026-02-20T12:00:00Z'), result: 'success' });
      assert.equal((await log.list('example.test', '2026-02-20')).length, 1);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TLS-RPT records → SessionResults: a session keeps its MX and IPs, a discovery failure has none, no-policy-found has no strings', { timeout: 180_000 }, async () => {
  const log = memoryTlsrptLog();
  const at = new Date('2026-03-04T05:06:07Z');
  const sts = { policyType: 'sts', policyStrings: ['version: STSv1', 'mode: enforce', 'mx: mx.b.test', 'max_age: 86400'], mxPatterns: ['mx.b.test'], count: 1 };
  await log.record('b.test', { at, ...sts, kind: 'session', mx: 'mx.b.test', address: '192.0.2.1', sendingIp: '192.0.2.9', result: 'certificate-expired', code: 'certificate-expired' });
  await log.record('b.test', { at, ...sts, kind: 'session', mx: 'mx.b.test', address: '192.0.2.1', sendingIp: '192.0.2.9', result: 'success', code: 'success' });
  await log.record('a.test', { at, policyType: 'no-policy-found', policyStrings: ['stray'], count: 1, kind: 'discovery', result: 'sts-policy-fetch-error', code: 'policy-http-status' });
  const results = await sessionResultsFor(log, '2026-03-04');
  assert.deepEqual(results, [
    { policyDomain: 'a.test', policy: { type: 'no-policy-found', strings: [], mxPatterns: [] }, result: 'sts-policy-fetch-error', sendingMtaIp: null, receivingMxHostname: null, receivingIp: null, failureReasonCode: 'policy-http-status', count: 1 },
    { policyDomain: 'b.test', policy: { type: 'sts', strings: sts.policyStrings, mxPatterns: ['mx.b.test'] }, result: 'certificate-expired', sendingMtaIp: '192.0.2.9', receivingMxHostname: 'mx.b.test', receivingIp: '192.0.2.1', failureReasonCode: 'certificate-expired', count: 1 },
    { policyDomain: 'b.test', policy: { type: 'sts', strings: sts.policyStrings, mxPatterns: ['mx.b.test'] }, result: 'success', sendingMtaIp: '192.0.2.9', receivingMxHostname: 'mx.b.test', receivingIp: '192.0.2.1', failureReasonCode: null, count: 1 },
  ]);
  assert.deepEqual(await sessionResultsFor(log, '2026-03-05'), []);
});
