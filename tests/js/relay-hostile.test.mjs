// The relay against hostile and broken MX servers, and recipients no retry can deliver (issue 8):
// each test here failed before the delivery machine and the core's SmtpClient took over.
//   - a 2xx answer to DATA is not delivery; replies out of step end the session with a 4xx;
//   - an endless EHLO reply is cut by the core's limits and the relay keeps serving;
//   - silent MX hosts cost at most the address limit and the delivery deadline;
//   - a client that leaves while the relay dials makes it hang up; SIGTERM-style close is prompt;
//   - testing and no-policy domains retry in plaintext when TLS fails (never enforce);
//   - NXDOMAIN, address literals and domain-less recipients are refused for good (5xx);
//   - the trace header and TLS-RPT records state the policy the core applied.
// Run: scripts/build && node --test tests/js/relay-hostile.test.mjs
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { rawSmtp } from './relay-client.mjs';
import { TODAY, deliveries, startRelayWorld } from './relay-world.mjs';

let world;
let mx;
let main;

before(async () => {
  world = await startRelayWorld();
  mx = world.mx;
  main = await world.startTestRelay();
});

after(async () => {
  await world?.stop();
});

beforeEach(() => {
  for (const d of ['enforce-valid.test', 'testing-valid.test', 'no-record.test', 'none.test']) mx.behave(d, {});
});

/** One message over a raw client; returns the reply lines of each step (stops at the first refusal). */
async function transaction(port, rcpts, { from = 'a@origin.test', body = 'Subject: x\r\n\r\nhello\r\n' } = {}) {
  const c = await rawSmtp(port);
  const out = { rcpt: [], data: null, end: null };
  await c.cmd('EHLO client.test');
  await c.cmd(`MAIL FROM:<${from}>`);
  for (const r of rcpts) out.rcpt.push(await c.cmd(`RCPT TO:<${r}>`));
  if (out.rcpt.some((r) => r.startsWith('250'))) {
    out.data = await c.cmd('DATA');
    if (out.data.startsWith('354')) out.end = await c.cmd(`${body}.`);
  }
  await c.cmd('QUIT').catch(() => {});
  c.destroy();
  return out;
}

test('an MX that answers DATA with 250 instead of 354 gets nothing, and the relay says 451', { timeout: 180_000 }, async () => {
  mx.behave('enforce-valid.test', { dataCommandReply: '250 2.0.0 sure' });
  const before = mx.messages.length;
  const { info, err } = await world.send(main, { to: ['user@enforce-valid.test'] });
  assert.equal(info, undefined, 'never 250 for a message the MX did not take');
  assert.equal(err.responseCode, 451);
  assert.match(err.response, /smtp-unexpected-reply/);
  assert.equal(mx.messages.length, before);
  const line = deliveries(main).at(-1);
  assert.equal(line.outcome, 'deferred');
  assert.ok(!deliveries(main).some((l) => l.outcome === 'delivered' && l.reply?.includes('sure')));
});

test('replies out of step (two replies to MAIL): the session ends with 451, no recipient is taken as accepted', { timeout: 180_000 }, async () => {
  // "250 ok" then the lines of another reply: every later reply would be one behind.
  mx.behave('enforce-valid.test', { mailRaw: '250 2.1.0 Ok\r\n250-stray\r\n250 stray too\r\n', rcpt: { 'refused@enforce-valid.test': '550 5.1.1 no such user' } });
  const before = mx.messages.length;
  const out = await transaction(main.port, ['refused@enforce-valid.test']);
  assert.match(out.rcpt[0], /^451 4\.5\.0 .*smtp-out-of-step/, out.rcpt[0]);
  assert.equal(out.data, null);
  assert.equal(mx.messages.length, before);
});

test('an endless EHLO reply is cut at the core limit; the relay keeps serving', { timeout: 180_000 }, async () => {
  mx.behave('enforce-valid.test', { endlessEhlo: true });
  const out = await transaction(main.port, ['user@enforce-valid.test']);
  assert.match(out.rcpt[0], /^451 .*smtp-protocol-error.*more than 256 lines/, out.rcpt[0]);
  assert.ok(mx.endlessBytes < 64 * 1024 * 1024, `the relay stopped reading (${mx.endlessBytes} bytes written)`);
  mx.behave('enforce-valid.test', {});
  const { err } = await world.send(main, { to: ['user@enforce-valid.test'] });
  assert.equal(err, undefined, 'the same process delivers the next message');
});

test('testing and no policy: every MX fails TLS, so the relay retries in plaintext and records the failure', { timeout: 180_000 }, async () => {
  for (const [domain, mode] of [['testing-valid.test', 'testing'], ['no-record.test', 'none']]) {
    mx.behave(domain, { cert: 'fail' });
    const before = mx.messages.length;
    const { err } = await world.send(main, { to: [`user@${domain}`] });
    assert.equal(err, undefined, `${domain}: ${err?.message}`);
    assert.equal(mx.messages.length, before + 1);
    const m = mx.messages.at(-1);
    assert.equal(m.secure, false, 'delivered in plaintext');
    assert.match(m.data, new RegExp(`^MTA-STS-Verify: plaintext; domain=${domain.replace(/\./g, '\\.')}; mode=${mode}`));
    if (mode === 'testing') {
      const records = await main.relay.tlsrpt.list(domain, TODAY());
      assert.ok(records.some((r) => r.kind === 'session' && r.code === 'tls-handshake-failed' && r.policyType === 'sts'), JSON.stringify(records));
    }
  }
  mx.behave('enforce-valid.test', { cert: 'fail' });
  const before = mx.messages.length;
  const { err } = await world.send(main, { to: ['user@enforce-valid.test'] });
  assert.equal(err.responseCode, 451, 'enforce never falls back');
  assert.match(err.response, /^451 4\.7\.5 .*tls-handshake-failed/);
  assert.equal(mx.messages.length, before);
});

test('recipients no retry can deliver are refused for good with their enhanced code', { timeout: 180_000 }, async () => {
  const out = await transaction(main.port, ['user@no-such-domain.test', 'user@[127.0.0.1]', 'postmaster']);
  assert.match(out.rcpt[0], /^550 5\.1\.2 .*domain-not-found/, out.rcpt[0]);
  assert.match(out.rcpt[1], /^550 5\.1\.2 .*recipient-address-literal/, out.rcpt[1]);
  assert.match(out.rcpt[2], /^550 5\.1\.3 .*recipient-no-domain/, out.rcpt[2]);
  for (const r of out.rcpt) assert.ok(r.length > 20, `a reason is given: ${r}`);
});

test('records and trace header: an enforce failure is recorded under its policy; a cached policy keeps its id after a restart', { timeout: 180_000 }, async () => {
  mx.behave('enforce-valid.test', { cert: 'untrusted' });
  await world.send(main, { to: ['user@enforce-valid.test'] });
  const records = await main.relay.tlsrpt.list('enforce-valid.test', TODAY());
  const failed = records.filter((r) => r.result === 'certificate-not-trusted');
  assert.ok(failed.length > 0 && failed.every((r) => r.policyType === 'sts' && r.policyId === '20240101T000000'), JSON.stringify(failed));
  mx.behave('enforce-valid.test', {});
  // A second relay on the same store finds the policy cached.
  const again = await world.startTestRelay();
  const { err } = await world.send(again, { to: ['user@enforce-valid.test'] });
  assert.equal(err, undefined, err?.message);
  assert.match(mx.messages.at(-1).data, /^MTA-STS-Verify: verified; domain=enforce-valid\.test; mode=enforce; id=20240101T000000;/);
  await again.relay.close();
});

test('testing: an MX outside the policy with a valid certificate is delivered as verified, and reported', { timeout: 180_000 }, async () => {
  world.lab.update('testing-valid', { mx: [{ priority: 10, host: 'mx1.none.test' }] });
  try {
    const { err } = await world.send(main, { to: ['user@testing-valid.test'] });
    assert.equal(err, undefined, err?.message);
    assert.match(mx.messages.at(-1).data, /^MTA-STS-Verify: verified; domain=testing-valid\.test; mode=testing; id=testing1; mx=mx1\.none\.test/);
    const records = await main.relay.tlsrpt.list('testing-valid.test', TODAY());
    assert.ok(records.some((r) => r.code === 'mx-not-in-policy' && r.mx === 'mx1.none.test'), JSON.stringify(records));
  } finally {
    world.lab.reset('testing-valid');
  }
});

/** A TCP server that accepts and never says a word; counts open connections. */
async function silentServer() {
  const sockets = new Set();
  let accepted = 0; // connections accepted in all
  const server = net.createServer((s) => {
    accepted += 1;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    get open() {
      return sockets.size;
    },
    get accepted() {
      return accepted;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

const waitUntil = async (predicate, ms = 10_000) => {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (predicate()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return predicate();
};

test('silent MX hosts: one RCPT dials at most the address limit and answers 451 by the delivery deadline', { timeout: 180_000 }, async () => {
  const silent = await silentServer();
  world.lab.update('enforce-valid', { mx: Array.from({ length: 40 }, (_, i) => ({ priority: i, host: `mx${i + 1}.enforce-valid.test` })) });
  const r = await world.startTestRelay({ smtpPort: silent.port, mxAddressLimit: 3, timeouts: { reply: 1, delivery: 60 } });
  try {
    const out = await transaction(r.port, ['user@enforce-valid.test']);
    assert.match(out.rcpt[0], /^451 4\.4\.1 .*mx-timeout/, out.rcpt[0]);
    // Each lab MX name has 127.0.0.1 (silent) and ::1 (nothing listens): three addresses in all.
    const failed = r.logs.filter((l) => l.event === 'delivery').at(-1);
    assert.equal(failed.attempts.length, 3, 'mx-address-limit');
    assert.ok(silent.accepted <= 3);
    const r2 = await world.startTestRelay({ smtpPort: silent.port, timeouts: { reply: 2, delivery: 3 } });
    const out2 = await transaction(r2.port, ['user@enforce-valid.test']);
    assert.match(out2.rcpt[0], /^451 4\.4\.1 .*delivery-deadline/, out2.rcpt[0]);
    await r2.relay.close();
  } finally {
    world.lab.reset('enforce-valid');
    await r.relay.close();
    await silent.close();
  }
});

test('a client that leaves while the relay dials: the MX session is closed, and close() finds nothing in flight', { timeout: 180_000 }, async () => {
  const silent = await silentServer();
  const r = await world.startTestRelay({ smtpPort: silent.port, timeouts: { reply: 60, delivery: 200 } });
  try {
    const c = await rawSmtp(r.port);
    await c.cmd('EHLO client.test');
    await c.cmd('MAIL FROM:<a@origin.test>');
    c.write('RCPT TO:<user@enforce-valid.test>\r\n');
    assert.ok(await waitUntil(() => silent.open === 1), 'the relay is dialling the MX');
    c.destroy();
    assert.ok(await waitUntil(() => silent.open === 0, 5_000), 'the relay hung up on the MX when its client left');
    assert.equal(silent.accepted, 1, 'and dialled no further address');
    // The relay's close() waits for transactions in flight; none is left to wait for.
    await r.relay.close();
    assert.equal(silent.open, 0);
  } finally {
    await silent.close();
  }
});
