// `mtasts relay` end to end on loopback (issue 5): nodemailer (or a raw client) as the local MTA →
// the relay from the built package → a scripted STARTTLS MX (relay-mx.mjs) for every lab domain,
// with DNS and policies from the lab. Shows: the trace header, enforce failures as 451 4.7.5 with
// nothing delivered, testing failures delivered and recorded for TLS-RPT, one domain per
// transaction (452 4.5.3), the MX's own 5xx mirrored, a broken MX mid-DATA → 451, the local MTA
// going away mid-DATA → nothing delivered, timeouts, parameters passed on, dot-stuffing, metrics,
// the allow list and SMTP AUTH. Graceful shutdown is in relay-shutdown.test.mjs.
// Run: scripts/build && node --test tests/js/relay.test.mjs
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG } from './built-package.mjs';
import { rawSmtp } from './relay-client.mjs';
import { TODAY, deliveries, startRelayWorld } from './relay-world.mjs';

const load = (p) => import(pathToFileURL(join(PKG, p)));
const { hashPassword } = await load('js/relay/users.js');

let world;
let lab;
let mx;
let dir;
let main; // { relay, logs }
let startTestRelay;
let send;

before(async () => {
  world = await startRelayWorld();
  ({ lab, mx, dir, startTestRelay, send } = world);
  main = await startTestRelay({ metrics: '127.0.0.1:0' });
});

after(async () => {
  await world?.stop();
});

beforeEach(() => {
  for (const d of ['enforce-valid.test', 'testing-valid.test', 'no-record.test']) mx.behave(d, {});
});

test('a message is delivered over verified TLS with the trace header first, dot-stuffing intact', { timeout: 180_000 }, async () => {
  const before = mx.messages.length;
  const raw = 'From: <a@origin.test>\r\nSubject: one\r\n\r\n.a line starting with a dot\r\n..two dots\r\nlast\r\n';
  const { info, err } = await send(main, { to: ['user@enforce-valid.test'], raw });
  assert.equal(err, undefined, err?.message);
  assert.match(info.response, /^250 2\.0\.0 Ok: queued as 4ABC \[mx1\.enforce-valid\.test\]$/);
  assert.equal(mx.messages.length, before + 1);
  const m = mx.messages.at(-1);
  assert.equal(m.secure, true);
  assert.deepEqual(m.to, ['user@enforce-valid.test']);
  assert.equal(m.from, 'sender@origin.test');
  assert.match(m.data, /^MTA-STS-Verify: verified; domain=enforce-valid\.test; mode=enforce; id=20240101T000000; mx=mx1\.enforce-valid\.test; tls=TLSv1\.[23]\r\n/);
  assert.ok(m.data.endsWith(`\r\n${raw}`), `the message follows the header unchanged: ${JSON.stringify(m.data)}`);
  const line = deliveries(main).at(-1);
  assert.equal(line.outcome, 'delivered');
  assert.equal(line.domain, 'enforce-valid.test');
  assert.equal(line.mode, 'enforce');
  assert.equal(line.verified, true);
  const records = await main.relay.tlsrpt.list('enforce-valid.test', TODAY());
  assert.ok(records.some((r) => r.result === 'success' && r.policyType === 'sts' && r.mx === 'mx1.enforce-valid.test'), JSON.stringify(records));
});

test('enforce and an untrusted MX certificate: 451 4.7.5 naming domain, MX and reason; nothing delivered', { timeout: 180_000 }, async () => {
  mx.behave('enforce-valid.test', { cert: 'untrusted' });
  const before = mx.messages.length;
  const { err } = await send(main, { to: ['user@enforce-valid.test'] });
  assert.ok(err, 'the send must fail');
  assert.equal(err.responseCode, 451);
  assert.match(err.response, /^451 4\.7\.5 MTA-STS enforce-valid\.test \(mode enforce\) via mx\d\.enforce-valid\.test: certificate-not-trusted/);
  assert.equal(mx.messages.length, before, 'nothing reached the MX');
  assert.equal(deliveries(main).at(-1).outcome, 'deferred');
});

test('testing and an untrusted MX certificate: delivered (unverified) and the failure recorded for TLS-RPT', { timeout: 180_000 }, async () => {
  mx.behave('testing-valid.test', { cert: 'untrusted' });
  const { info, err } = await send(main, { to: ['user@testing-valid.test'] });
  assert.equal(err, undefined, err?.message);
  assert.match(info.response, /^250 /);
  assert.match(mx.messages.at(-1).data, /^MTA-STS-Verify: unverified; domain=testing-valid\.test; mode=testing; id=testing1; mx=mx1\.testing-valid\.test; tls=TLSv1\.[23]\r\n/);
  const records = await main.relay.tlsrpt.list('testing-valid.test', TODAY());
  const failure = records.find((r) => r.result === 'certificate-not-trusted');
  assert.ok(failure, JSON.stringify(records));
  assert.equal(failure.policyType, 'sts');
  assert.equal(failure.mode, 'testing');
  assert.equal(failure.policyId, 'testing1');
  // The same records, as files next to the policy cache (tlsrpt-log.js).
  const file = readFileSync(join(dir, 'store', 'tlsrpt', TODAY(), 'testing-valid.test.jsonl'), 'utf8');
  assert.ok(file.split('\n').filter(Boolean).some((l) => JSON.parse(l).result === 'certificate-not-trusted'));
});

test('a domain without a policy is delivered with mode=none in the header', { timeout: 180_000 }, async () => {
  const { err } = await send(main, { to: ['user@no-record.test'] });
  assert.equal(err, undefined, err?.message);
  assert.match(mx.messages.at(-1).data, /^MTA-STS-Verify: verified; domain=no-record\.test; mode=none; mx=mx1\.no-record\.test; tls=/);
  const records = await main.relay.tlsrpt.list('no-record.test', TODAY());
  assert.ok(records.some((r) => r.policyType === 'no-policy-found'), JSON.stringify(records));
});

test('recipients of a second domain in one transaction get 452 4.5.3; the first domain is delivered', { timeout: 180_000 }, async () => {
  const { info, err } = await send(main, { to: ['a@enforce-valid.test', 'b@testing-valid.test', 'c@enforce-valid.test'] });
  assert.equal(err, undefined, err?.message);
  assert.deepEqual(info.accepted, ['a@enforce-valid.test', 'c@enforce-valid.test']);
  assert.deepEqual(info.rejected, ['b@testing-valid.test']);
  assert.equal(info.rejectedErrors[0].responseCode, 452);
  assert.match(info.rejectedErrors[0].response, /^452 4\.5\.3 .*enforce-valid\.test/);
  assert.deepEqual(mx.messages.at(-1).to, ['a@enforce-valid.test', 'c@enforce-valid.test']);
});

test("the MX's 550 to RCPT is mirrored with its enhanced code and words", { timeout: 180_000 }, async () => {
  mx.behave('enforce-valid.test', { rcpt: { 'nobody@enforce-valid.test': '550 5.1.1 <nobody@enforce-valid.test>: Recipient address rejected' } });
  const one = await send(main, { to: ['nobody@enforce-valid.test'] });
  assert.equal(one.err?.responseCode, 550);
  assert.match(one.err.response, /^550 5\.1\.1 <nobody@enforce-valid\.test>: Recipient address rejected \[mx1\.enforce-valid\.test\]$/);
  const before = mx.messages.length;
  const two = await send(main, { to: ['nobody@enforce-valid.test', 'somebody@enforce-valid.test'] });
  assert.equal(two.err, undefined, two.err?.message);
  assert.deepEqual(two.info.rejected, ['nobody@enforce-valid.test']);
  assert.equal(mx.messages.length, before + 1);
  assert.deepEqual(mx.messages.at(-1).to, ['somebody@enforce-valid.test']);
});

test("the MX's refusal of MAIL becomes the reply to RCPT", { timeout: 180_000 }, async () => {
  mx.behave('enforce-valid.test', { mailReply: '553 5.7.1 sender rejected' });
  const { err } = await send(main, { to: ['user@enforce-valid.test'] });
  assert.equal(err?.responseCode, 553);
  assert.match(err.response, /^553 5\.7\.1 sender rejected \[mx1\.enforce-valid\.test\]$/);
});

test('the MX closing the connection in the middle of DATA gives 451, never 250', { timeout: 180_000 }, async () => {
  mx.behave('enforce-valid.test', { closeMidData: true });
  const before = mx.messages.length;
  const aborted = mx.aborted;
  const raw = `Subject: cut\r\n\r\n${'line of the body\r\n'.repeat(50)}`;
  const { err } = await send(main, { to: ['user@enforce-valid.test'], raw });
  assert.ok(err, 'the send must fail');
  assert.equal(err.responseCode, 451);
  assert.match(err.response, /^451 4\.\d\.\d MTA-STS enforce-valid\.test \(mode enforce\) via mx1\.enforce-valid\.test: smtp-closed/);
  assert.equal(mx.aborted, aborted + 1);
  assert.equal(mx.messages.length, before);
});

test('the local MTA going away in the middle of DATA: the MX connection is reset, nothing delivered', { timeout: 180_000 }, async () => {
  const before = mx.messages.length;
  const lines = mx.dataLines;
  const c = await rawSmtp(main.port);
  assert.match(c.greeting, /^220 /);
  assert.match(await c.cmd('EHLO client.test'), /^250/);
  assert.match(await c.cmd('MAIL FROM:<a@origin.test>'), /^250/);
  assert.match(await c.cmd('RCPT TO:<user@enforce-valid.test>'), /^250/);
  assert.match(await c.cmd('DATA'), /^354/);
  c.write('Subject: half\r\n\r\nthe first part\r\n');
  await mx.waitFor(() => mx.dataLines >= lines + 2);
  c.destroy();
  await mx.waitFor(() => deliveries(main).some((l) => l.outcome === 'aborted'));
  await mx.waitFor(() => mx.openConnections === 0);
  assert.equal(mx.messages.length, before, 'the MX accepted no partial message');
});

test('an MX that does not answer the end of DATA in time: 451 mx-timeout', { timeout: 180_000 }, async () => {
  const r = await startTestRelay({ timeouts: { dataEnd: 1 } });
  try {
    mx.behave('enforce-valid.test', { silentAfterData: true });
    const { err } = await send(r, { to: ['user@enforce-valid.test'] });
    assert.equal(err?.responseCode, 451);
    assert.match(err.response, /^451 4\.4\.1 MTA-STS enforce-valid\.test \(mode enforce\) via mx1\.enforce-valid\.test: mx-timeout/);
  } finally {
    await r.relay.close();
  }
});

test('EHLO offers SIZE, 8BITMIME, SMTPUTF8, PIPELINING, ENHANCEDSTATUSCODES; MAIL parameters are passed on; bare LF cannot end DATA', { timeout: 180_000 }, async () => {
  const c = await rawSmtp(main.port);
  const ehlo = await c.cmd('EHLO client.test');
  for (const k of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'SIZE 52428800']) {
    assert.ok(ehlo.split('\n').some((l) => l.slice(4) === k), `${k} in ${ehlo}`);
  }
  assert.ok(!/STARTTLS|AUTH/.test(ehlo), 'no STARTTLS or AUTH unless configured');
  assert.match(await c.cmd('MAIL FROM:<a@origin.test> SIZE=300 BODY=8BITMIME SMTPUTF8'), /^250 2\.1\.0/);
  assert.match(await c.cmd('RCPT TO:<us\u00e9r@enforce-valid.test>'), /^250 2\.1\.5/);
  assert.match(await c.cmd('DATA'), /^354/);
  c.write('Subject: params\r\n\r\nbare\nlf\r\nsmuggle\n.\nafter\r\n8bit: \u00e9\r\n.\r\n');
  assert.match(await c.next(), /^250 2\.0\.0 /);
  const m = mx.messages.at(-1);
  assert.deepEqual(m.mailParams, ['SIZE=300', 'BODY=8BITMIME', 'SMTPUTF8']);
  assert.ok(m.data.includes('\r\nbare\r\nlf\r\nsmuggle\r\n.\r\nafter\r\n'), JSON.stringify(m.data));
  assert.match(await c.cmd('QUIT'), /^221/);
});

test('the metrics endpoint serves the counters', { timeout: 180_000 }, async () => {
  const res = await fetch(`http://127.0.0.1:${main.relay.metricsAddress.port}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  const value = (series) => Number(new RegExp(`^${series.replace(/[{}"=,]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  assert.ok(value('mtasts_relay_deliveries_total{outcome="delivered",mode="enforce"}') >= 1, text);
  assert.ok(value('mtasts_relay_deliveries_total{outcome="deferred",mode="enforce"}') >= 1);
  assert.ok(value('mtasts_relay_deliveries_total{outcome="delivered",mode="testing"}') >= 1);
  assert.ok(value('mtasts_relay_tls_failures_total{result_type="certificate-not-trusted"}') >= 1);
  assert.ok(value('mtasts_relay_policy_lookups_total{result="hit"}') >= 1);
  assert.ok(value('mtasts_relay_policy_lookups_total{result="miss"}') >= 1);
  assert.match(text, /^mtasts_relay_delivery_duration_seconds_count\{outcome="delivered"\} [1-9]/m);
});

test('a client outside the allow list gets 554 5.7.1 when it connects', { timeout: 180_000 }, async () => {
  const r = await startTestRelay({ allow: ['10.0.0.0/8'] });
  try {
    const c = await rawSmtp(r.port);
    assert.match(c.greeting, /^554 5\.7\.1 127\.0\.0\.1 may not relay/);
    await c.closed;
  } finally {
    await r.relay.close();
  }
});

test('SMTP AUTH with a users file: required, wrong password refused, right one relays', { timeout: 180_000 }, async () => {
  const users = join(dir, 'users');
  writeFileSync(users, `# relay users\npostfix:${await hashPassword('s3cret')}\n`);
  const r = await startTestRelay({ users });
  try {
    const none = await send(r, { to: ['user@enforce-valid.test'] });
    assert.equal(none.err?.responseCode, 530);
    const wrong = await send(r, { to: ['user@enforce-valid.test'], auth: { user: 'postfix', pass: 'nope' } });
    assert.equal(wrong.err?.responseCode, 535);
    assert.match(wrong.err.response, /^535 5\.7\.8/);
    const right = await send(r, { to: ['user@enforce-valid.test'], auth: { user: 'postfix', pass: 's3cret' } });
    assert.equal(right.err, undefined, right.err?.message);
  } finally {
    await r.relay.close();
  }
});

test('cached policies are refreshed in the background before they expire (RFC 8461 §3.3)', { timeout: 180_000 }, async () => {
  let offset = 0;
  const r = await startTestRelay({ store: `file:${join(dir, 'refresh-store')}` }, { clock: () => Date.now() + offset });
  try {
    const { err } = await send(r, { to: ['user@enforce-valid.test'] });
    assert.equal(err, undefined, err?.message);
    const fetched = lab.requests['enforce-valid.test'];
    await r.relay.refresh.runNow();
    assert.equal(lab.requests['enforce-valid.test'], fetched, 'a fresh policy is not due');
    offset = 0.9 * 86400 * 1000; // 90 % of max_age later: due whatever the jitter
    await r.relay.refresh.runNow();
    assert.equal(lab.requests['enforce-valid.test'], fetched + 1, 'the due policy was fetched again');
    const text = await r.relay.metrics.registry.getSingleMetricAsString('mtasts_relay_policy_refreshes_total');
    assert.match(text, /mtasts_relay_policy_refreshes_total\{result="ok"\} 1/);
    assert.ok(r.logs.some((l) => l.event === 'policy-refresh' && l.domain === 'enforce-valid.test'));
  } finally {
    await r.relay.close();
  }
});

test('a verified MX connection is reused for the next message to the domain; one the MX dropped is replaced', { timeout: 180_000 }, async () => {
  const r = await startTestRelay({ reuseIdle: 30 });
  try {
    const sessions = mx.sessions;
    for (let i = 0; i < 3; i++) {
      const { err } = await send(r, { to: [`reuse${i}@enforce-valid.test`] });
      assert.equal(err, undefined, err?.message);
    }
    assert.equal(mx.sessions, sessions + 1, 'three messages, one MX connection');
    assert.match(mx.messages.at(-1).data, /^MTA-STS-Verify: verified; domain=enforce-valid\.test; /);
    mx.drop();
    const { err } = await send(r, { to: ['after-drop@enforce-valid.test'] });
    assert.equal(err, undefined, err?.message);
    assert.equal(mx.sessions, sessions + 2);
    assert.deepEqual(mx.messages.at(-1).to, ['after-drop@enforce-valid.test']);
    const text = await r.relay.metrics.registry.getSingleMetricAsString('mtasts_relay_reused_connections_total');
    assert.match(text, /mtasts_relay_reused_connections_total [23]$/m);
  } finally {
    await r.relay.close();
  }
});
