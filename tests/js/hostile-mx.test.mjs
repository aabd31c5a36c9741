// The hostile-peer matrix, MX side (issue 14): an MX that misbehaves at each step of the dialogue —
// closes, stalls, streams an endless reply, writes garbage, or answers what it should not — met by
// the relay (every step, to the end of DATA) and by connectMx (every step up to the verified
// connection). For each: the RFC's outcome with a named error, the relay's client never hears 250
// for a message the MX did not take (RFC 5321 §4.1.1.4: only a 2xx to the final "." is delivery),
// nothing left behind, and the relay still serves. Limits are short so that stalls end quickly;
// every test has a timeout, so a hang fails instead of stalling the suite.
// Run: scripts/build && node --test tests/js/hostile-mx.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG } from './built-package.mjs';
import { startRelayWorld } from './relay-world.mjs';
import { startHostileMx } from './hostile-mx.mjs';

const { connectMx, errorCodes, MtaStsError, memoryStore } = await import(pathToFileURL(join(PKG, 'js/node/index.js')));
const CODES = new Set(errorCodes().map((e) => e.code));

const DOMAIN = 'enforce-valid.test'; // enforce, MX hosts mx1/mx2.enforce-valid.test
const TIMEOUTS = { connect: 2, reply: 2, tls: 2, command: 3, dataEnd: 3, delivery: 12 };

let w;
let cert;
before(async () => {
  w = await startRelayWorld();
  cert = w.lab.issueCert({ names: [`mx1.${DOMAIN}`, `mx2.${DOMAIN}`] });
});
after(async () => {
  await w?.stop();
});

/** [at, act, text?, what the relay's client must hear: 4 (a 4xx), 5 (a 5xx)] */
const RELAY_MATRIX = [
  ['connect', 'close'], ['connect', 'stall'], ['connect', 'garbage'],
  ['greeting', 'reply', '554 5.3.2 no service'], ['greeting', 'endless'],
  ['ehlo', 'close'], ['ehlo', 'stall'], ['ehlo', 'endless'], ['ehlo', 'garbage'],
  ['starttls', 'close'], ['starttls', 'stall'], ['starttls', 'reply', '454 4.7.0 TLS not available'],
  ['handshake', 'close'], ['handshake', 'stall'], ['handshake', 'garbage'],
  ['ehlo2', 'close'], ['ehlo2', 'stall'], ['ehlo2', 'endless'],
  ['mail', 'close'], ['mail', 'stall'], ['mail', 'endless'], ['mail', 'reply', '451 4.3.0 try later'], ['mail', 'reply', '250-a\r\n250 b\r\n250 c'],
  ['rcpt', 'close'], ['rcpt', 'stall'], ['rcpt', 'reply', '550 5.1.1 no such user', 5], ['rcpt', 'reply-close', '421 4.3.2 closing'],
  ['data', 'close'], ['data', 'stall'], ['data', 'reply', '250 2.0.0 taken (not 354)'], ['data', 'reply', '554 5.7.1 no data', 5],
  ['body', 'close'], ['body', 'stall'],
  ['dot', 'close'], ['dot', 'stall'], ['dot', 'reply', '451 4.3.0 try later'], ['dot', 'reply', '550 5.7.1 refused', 5], ['dot', 'reply-close', '421 4.3.2 closing'], ['dot', 'endless'],
];

async function inBatches(items, n, fn) {
  const out = [];
  for (let i = 0; i < items.length; i += n) out.push(...(await Promise.all(items.slice(i, i + n).map(fn))));
  return out;
}

test('the relay: a fault at every step of the dialogue gives its client the RFC outcome, never a false 250', { timeout: 600_000 }, async () => {
  const outcomes = await inBatches(RELAY_MATRIX, 6, async ([at, act, text, klass = 4]) => {
    const mx = await startHostileMx({ cert, fault: { at, act, text } });
    const r = await w.startTestRelay({ smtpPort: mx.port, timeouts: TIMEOUTS, store: 'memory' });
    try {
      const { info, err } = await w.send(r, { to: [`user@${DOMAIN}`] });
      return { at, act, text, klass, code: err?.responseCode ?? null, response: err?.response ?? info?.response, taken: mx.messages.length };
    } finally {
      await r.relay.close();
      await mx.close();
    }
  });
  for (const o of outcomes) {
    const name = `${o.at}/${o.act}${o.text ? ` ${JSON.stringify(o.text.split('\r\n')[0])}` : ''}`;
    assert.notEqual(o.code, null, `${name}: the client heard ${o.response}, but the MX took nothing`);
    assert.equal(Math.floor(o.code / 100), o.klass, `${name}: ${o.response}`);
    assert.equal(o.taken, 0, `${name}: the MX kept no message`);
  }
  // And a good MX after all that: delivered.
  const mx = await startHostileMx({ cert });
  const r = await w.startTestRelay({ smtpPort: mx.port, timeouts: TIMEOUTS, store: 'memory' });
  try {
    const { err } = await w.send(r, { to: [`user@${DOMAIN}`] });
    assert.equal(err, undefined);
    assert.equal(mx.messages.length, 1);
  } finally {
    await r.relay.close();
    await mx.close();
  }
});

const CONNECT_MATRIX = [
  ['connect', 'close'], ['connect', 'stall'], ['connect', 'garbage'],
  ['greeting', 'reply', '554 5.3.2 no service'], ['greeting', 'endless'],
  ['ehlo', 'close'], ['ehlo', 'stall'], ['ehlo', 'endless'], ['ehlo', 'garbage'],
  ['starttls', 'close'], ['starttls', 'stall'], ['starttls', 'reply', '454 4.7.0 TLS not available'],
  ['handshake', 'close'], ['handshake', 'stall'], ['handshake', 'garbage'],
];

const options = (port) => ({
  heloName: 'sender.lab.test', dnsServers: [w.lab.dns.server], ca: w.lab.caPem, policyPort: w.lab.policyPort, smtpPort: port, allowPrivate: true,
  store: memoryStore(), timeouts: { connect: 2000, reply: 2000, tls: 2000 }, limits: { deadline: 12_000 },
});

test('connectMx: each fault before the verified connection is a named, temporary error with every attempt recorded', { timeout: 300_000 }, async () => {
  const outcomes = await inBatches(CONNECT_MATRIX, 5, async ([at, act, text]) => {
    const mx = await startHostileMx({ cert, fault: { at, act, text } });
    try {
      const c = await connectMx(DOMAIN, options(mx.port));
      c.socket.destroy();
      return { at, act, err: null };
    } catch (err) {
      return { at, act, err };
    } finally {
      await mx.close();
    }
  });
  for (const { at, act, err } of outcomes) {
    const name = `${at}/${act}`;
    assert.ok(err instanceof MtaStsError, `${name}: enforce never hands out this connection`);
    assert.ok(CODES.has(err.code), `${name}: ${err.code} is a catalogued code`);
    assert.equal(err.temporary, true, `${name}: ${err.code} is temporary (the sender retries)`);
    assert.ok(err.attempts.length >= 1, `${name}: the attempts are recorded`);
    for (const a of err.attempts) assert.ok(CODES.has(a.result) || a.result === 'success', `${name}: attempt ${a.result}`);
    assert.ok(err.reply && err.reply.code >= 400 && err.reply.code < 500, `${name}: a 4xx for a relay to answer (${JSON.stringify(err.reply)})`);
  }
});

test('a chain of 50 certificates (the leaf, then 49 from elsewhere): judged within the limits, with a named verdict', { timeout: 60_000 }, async () => {
  const extraChain = Array.from({ length: 49 }, (_, i) => w.lab.issueCert({ names: [`junk${i}.example`], ca: 'untrusted' }).certPem);
  const mx = await startHostileMx({ cert, extraChain });
  try {
    let verdict;
    try {
      const c = await connectMx(DOMAIN, options(mx.port));
      verdict = c.tls.certificate;
      c.socket.destroy();
    } catch (err) {
      verdict = { ok: false, code: err.code };
      assert.ok(CODES.has(err.code), err.code);
    }
    // RFC 8461 §4.2: the leaf chains to the lab CA; certificates that chain nowhere change nothing.
    assert.equal(verdict.ok, true, JSON.stringify(verdict));
  } finally {
    await mx.close();
  }
});
