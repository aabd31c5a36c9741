// The relay's delivery journal (js/relay/delivery-journal.js): on its own (keys, restart, pending
// only, expiry, damaged lines, concurrent appends), then the relay process (the built CLI) killed
// right after the MX's 250 was journaled and before its own 250 reached the client: restarted, the
// client's retry of the same message is answered 250 "already delivered" and the MX holds one copy.
// A relay killed between the "." and the MX's reply (journal: pending only) delivers the retry again.
// Run: scripts/build && node --test tests/js/relay-journal.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, CLI, assertBuilt } from './built-package.mjs';
import { freePort } from '../../js/lab/peer-process.js';
import { startRelayMx } from './relay-mx.mjs';
import { rawSmtp } from './relay-client.mjs';

assertBuilt();
const load = (p) => import(pathToFileURL(join(PKG, p)));
const { startLab } = await load('js/lab/index.js');
const { openDeliveryJournal, readDeliveryJournal, deliveryHasher } = await load('js/relay/delivery-journal.js');

const DAY = 86_400_000;
const keyOf = (from, to, ...chunks) => {
  const h = deliveryHasher(from, to);
  for (const c of chunks) h.update(Buffer.from(c));
  return h.key();
};

let lab;
let mx;
let dir;
const children = new Set(); // relay processes, killed at the end should a test fail midway

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mtasts-relay-journal-'));
  lab = await startLab();
  writeFileSync(join(dir, 'ca.pem'), lab.caPem);
  mx = await startRelayMx(lab);
});

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await mx?.close();
  await lab?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the key covers the envelope and every octet of DATA, not how it was chunked', { timeout: 180_000 }, () => {
  const k = keyOf('a@x.test', ['b@y.test', 'c@y.test'], 'Subject: s\r\n\r\nbody\r\n');
  assert.match(k, /^[0-9a-f]{64}$/);
  assert.equal(keyOf('a@x.test', ['c@y.test', 'b@y.test'], 'Subj', 'ect: s\r\n\r\nbo', 'dy\r\n'), k, 'chunking and RCPT order');
  assert.notEqual(keyOf('a@x.test', ['b@y.test'], 'Subject: s\r\n\r\nbody\r\n'), k, 'another recipient set');
  assert.notEqual(keyOf('z@x.test', ['b@y.test', 'c@y.test'], 'Subject: s\r\n\r\nbody\r\n'), k, 'another sender');
  assert.notEqual(keyOf('a@x.test', ['b@y.test', 'c@y.test'], 'Subject: s\r\n\r\nbody!\r\n'), k, 'one octet more');
  assert.notEqual(keyOf('', ['a@x.test'], ''), keyOf('a@x.test', [], ''), 'no envelope field runs into the next');
});

test('journal: delivered keys survive a restart; a key only pending is not delivered', { timeout: 180_000 }, async () => {
  const jdir = join(dir, 'j-restart', 'journal');
  const [k1, k2, k3] = ['one', 'two', 'three'].map((s) => keyOf('a@x.test', ['b@y.test'], s));
  let j = await openDeliveryJournal({ dir: jdir });
  assert.equal(j.isDelivered(k1), false);
  await j.recordPending(k1);
  assert.equal(j.isDelivered(k1), false, 'pending is not delivered');
  await j.recordDelivered(k1);
  assert.equal(j.isDelivered(k1), true);
  await j.recordPending(k2); // killed between "." and the MX's reply
  await j.recordPending(k3);
  await j.recordDelivered(k3);
  await j.recordPending(k1); // k1 again (it had been delivered) and cut off: not interrupted before
  await j.close();

  j = await openDeliveryJournal({ dir: jdir });
  assert.equal(j.isDelivered(k1), true, 'delivered, read back after a restart');
  assert.equal(j.isDelivered(k3), true);
  assert.equal(j.isDelivered(k2), false, 'only pending: to be delivered again');
  assert.deepEqual({ delivered: j.stats.delivered, pendingOnly: j.stats.pendingOnly }, { delivered: 2, pendingOnly: 1 });
  await j.close();
  const read = await readDeliveryJournal(jdir);
  assert.deepEqual(read.pendingOnly, [k2]);
  assert.deepEqual(read.interrupted.sort(), [k1, k2].sort(), 'a pending with no delivered after it');
  assert.deepEqual([...read.delivered].sort(), [k1, k3].sort());
  const [file] = readdirSync(jdir);
  assert.match(file, /^\d{4}-\d{2}-\d{2}\.jsonl$/);
  const lines = readFileSync(join(jdir, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.state), ['pending', 'delivered', 'pending', 'pending', 'delivered', 'pending']);
});

test('journal: a line cut short by a crash is skipped; concurrent appends stay whole lines', { timeout: 180_000 }, async () => {
  const jdir = join(dir, 'j-damaged', 'journal');
  const keys = Array.from({ length: 60 }, (_, i) => keyOf('a@x.test', ['b@y.test'], `m${i}`));
  let j = await openDeliveryJournal({ dir: jdir });
  await Promise.all(keys.map(async (k) => {
    await j.recordPending(k);
    await j.recordDelivered(k);
  }));
  await j.close();
  const [file] = readdirSync(jdir);
  const lines = readFileSync(join(jdir, file), 'utf8').trim().split('\n');
  assert.equal(lines.length, 120);
  for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), l);
  appendFileSync(join(jdir, file), '{"at":"2024-01-01T00:00:00.000Z","state":"deliv');
  j = await openDeliveryJournal({ dir: jdir });
  assert.ok(keys.every((k) => j.isDelivered(k)));
  // The next append starts on a line of its own: it is read back.
  const extra = keyOf('a@x.test', ['b@y.test'], 'after the cut');
  await j.recordDelivered(extra);
  await j.close();
  j = await openDeliveryJournal({ dir: jdir });
  assert.equal(j.stats.delivered, 61, 'every whole line is read');
  assert.equal(j.isDelivered(extra), true);
  await j.close();
});

test('journal: entries expire after `days` (at start and when the day changes)', { timeout: 180_000 }, async () => {
  const jdir = join(dir, 'j-expiry', 'journal');
  const t0 = Date.parse('2024-03-01T12:00:00Z');
  let now = t0;
  const clock = () => now;
  const old = keyOf('a@x.test', ['b@y.test'], 'old');
  let j = await openDeliveryJournal({ dir: jdir, days: 5, clock });
  await j.recordDelivered(old);
  await j.close();

  now = t0 + 5 * DAY; // 2024-03-06: still within 5 days
  j = await openDeliveryJournal({ dir: jdir, days: 5, clock });
  assert.equal(j.isDelivered(old), true);
  const fresh = keyOf('a@x.test', ['b@y.test'], 'fresh');
  await j.recordDelivered(fresh);
  now = t0 + 6 * DAY; // 2024-03-07: the running journal forgets 2024-03-01 at its next append
  await j.recordPending(keyOf('a@x.test', ['b@y.test'], 'later'));
  assert.equal(j.isDelivered(old), false, 'expired in memory');
  assert.equal(j.isDelivered(fresh), true);
  assert.equal(existsSync(join(jdir, '2024-03-01.jsonl')), false, 'the expired day file is deleted');
  await j.close();

  now = t0 + 12 * DAY;
  j = await openDeliveryJournal({ dir: jdir, days: 5, clock });
  assert.equal(j.isDelivered(fresh), false, 'expired at start');
  assert.deepEqual(readdirSync(jdir), []);
  await j.close();
});

test('journal in memory (--store memory): same answers, no files', { timeout: 180_000 }, async () => {
  const j = await openDeliveryJournal({ dir: null });
  const k = keyOf('a@x.test', ['b@y.test'], 'mem');
  await j.recordPending(k);
  assert.equal(j.isDelivered(k), false);
  await j.recordDelivered(k);
  assert.equal(j.isDelivered(k), true);
  await j.close();
});

/** The relay CLI on `port` with the store in `storeDir`; resolves once it listens. */
async function startCli(port, storeDir, env = {}) {
  const args = [CLI, 'relay', '--listen', `127.0.0.1:${port}`, '--store', `file:${storeDir}`, '--helo', 'relay.test',
    '--dns-server', lab.dns.server, '--ca-file', join(dir, 'ca.pem'), '--policy-port', String(lab.policyPort),
    '--smtp-port', String(mx.port), '--allow-private', '--refresh-interval', '0', '--reuse-idle', '0'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.add(child);
  const lines = [];
  let buffer = '';
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const listening = new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      buffer += chunk;
      let i;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffer.slice(0, i));
        buffer = buffer.slice(i + 1);
        lines.push(line);
        if (line.event === 'listening') resolve();
      }
    });
    child.once('exit', () => reject(new Error(`relay exited before listening: ${stderr}`)));
  });
  await listening;
  return { child, lines, exited: once(child, 'exit') };
}

/** The first log line of `relay` that satisfies `predicate` (the log reaches us apart from SMTP replies). */
async function logLine(relay, predicate) {
  for (let i = 0; i < 400; i++) {
    const line = relay.lines.find(predicate);
    if (line) return line;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

/** One message through the relay with a raw client; resolves the reply to the end of DATA (null: cut). */
async function sendOnce(port, to, text) {
  const c = await rawSmtp(port);
  assert.match(await c.cmd('EHLO client.test'), /^250/);
  assert.match(await c.cmd('MAIL FROM:<queued@origin.test>'), /^250/);
  assert.match(await c.cmd(`RCPT TO:<${to}>`), /^250/);
  assert.match(await c.cmd('DATA'), /^354/);
  c.write(text);
  const reply = await c.next();
  if (reply !== null) await c.cmd('QUIT');
  c.destroy();
  return reply;
}

test('relay killed after the MX took a message, before its 250 went upstream: the retry is not delivered twice', { timeout: 180_000 }, async () => {
  const port = await freePort('127.0.0.1');
  const storeDir = join(dir, 'store-crash');
  const to = 'crash@enforce-valid.test';
  const message = 'Received: from origin.test by origin.test with ESMTP id 4XyZ; Mon, 1 Jan 2024 00:00:00 +0000\r\n' +
    'Message-ID: <crash-1@origin.test>\r\nSubject: sent once\r\n\r\nexactly one copy\r\n..a dot line\r\n.\r\n';
  const copies = () => mx.messages.filter((m) => m.data.includes('exactly one copy')).length;

  const crashing = await startCli(port, storeDir, { MTASTS_RELAY_TEST_CRASH_AFTER_DELIVERED: '1' });
  assert.equal(await sendOnce(port, to, message), null, 'the relay died before answering the end of DATA');
  const [, signal] = await crashing.exited;
  assert.equal(signal, 'SIGKILL');
  assert.equal(copies(), 1, 'the MX accepted the message');
  const journal = await readDeliveryJournal(join(storeDir, 'journal'));
  assert.equal(journal.delivered.size, 1);
  assert.deepEqual(journal.pendingOnly, []);

  const relay = await startCli(port, storeDir);
  const dataLinesBefore = mx.dataLines;
  const retry = await sendOnce(port, to, message);
  assert.match(retry, /^250 2\.0\.0 already delivered/);
  await mx.waitFor(() => mx.dataLines > dataLinesBefore); // the retry's DATA did reach the MX...
  assert.equal(copies(), 1, '...but was not ended there: one copy');
  const logged = await logLine(relay, (l) => l.event === 'delivery' && l.outcome === 'already-delivered');
  assert.ok(logged, 'logged as already-delivered');
  assert.equal(logged.journal, [...journal.delivered][0]);

  // Another message (other content) is delivered as usual.
  assert.match(await sendOnce(port, to, 'Subject: next\r\n\r\nexactly one copy, another message\r\n.\r\n'), /^250 2\.0\.0 /);
  assert.equal(copies(), 2);
  relay.child.kill('SIGTERM');
  assert.equal((await relay.exited)[0], 0);
});

test('a retry of a delivered message is "already delivered" even when the MX fails before the end of DATA', { timeout: 180_000 }, async () => {
  // The journal is asked at the local MTA's end of data, which comes whatever the MX did meanwhile:
  // a refused or hostile DATA, a cut, a connection gone after RCPT. Without that, the retry would be
  // deferred (and sent again) at every such failure until one MX session lasted to the end of DATA.
  const port = await freePort('127.0.0.1');
  const to = 'retry@enforce-valid.test';
  const message = 'Subject: delivered once\r\n\r\nthe retried message\r\nsecond line\r\nthird line\r\n.\r\n';
  const copies = () => mx.messages.filter((m) => m.data.includes('the retried message')).length;
  const relay = await startCli(port, join(dir, 'store-retry'));
  try {
    assert.match(await sendOnce(port, to, message), /^250 2\.0\.0 /);
    assert.equal(copies(), 1);
    const faults = [
      ['DATA refused', { dataCommandReply: '451 4.3.0 not now' }],
      ['DATA answered 250 (hostile)', { dataCommandReply: '250 2.0.0 taken, honestly' }],
      ['cut in the middle of DATA', { closeMidData: true }],
      ['gone after RCPT', { closeAfterRcpt: true }],
    ];
    for (const [what, behaviour] of faults) {
      mx.behave('enforce-valid.test', behaviour);
      assert.match(await sendOnce(port, to, message), /^250 2\.0\.0 already delivered/, what);
    }
    // The same faults for a message the journal does not have: a 4xx, never a 250.
    for (const [what, behaviour] of faults) {
      mx.behave('enforce-valid.test', behaviour);
      const reply = await sendOnce(port, to, `Subject: not delivered\r\n\r\n${what}\r\nsecond line\r\n.\r\n`);
      assert.match(reply ?? '', /^4\d\d /, `${what}: ${reply}`);
    }
    assert.equal(copies(), 1, 'the MX holds one copy');
    const logged = await logLine(relay, (l) => l.event === 'delivery' && l.outcome === 'already-delivered' && /not now/.test(l.mxFailure ?? ''));
    assert.ok(logged, 'logged as already-delivered, with what the MX did');
  } finally {
    mx.behave('enforce-valid.test', {});
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
});

test('relay killed between the "." and the MX\'s reply (journal: pending only): the retry is delivered again, never lost', { timeout: 180_000 }, async () => {
  const port = await freePort('127.0.0.1');
  const storeDir = join(dir, 'store-pending');
  const to = 'pending@testing-valid.test';
  const message = 'Subject: pending window\r\n\r\nthe pending window\r\n.\r\n';
  const copies = () => mx.messages.filter((m) => m.data.includes('the pending window')).length;
  mx.behave('testing-valid.test', { silentAfterData: true });
  try {
    const relay = await startCli(port, storeDir);
    const c = await rawSmtp(port);
    assert.match(await c.cmd('EHLO client.test'), /^250/);
    assert.match(await c.cmd('MAIL FROM:<queued@origin.test>'), /^250/);
    assert.match(await c.cmd(`RCPT TO:<${to}>`), /^250/);
    assert.match(await c.cmd('DATA'), /^354/);
    c.write(message);
    await mx.waitFor(() => copies() === 1); // the MX has the "." but has not answered
    relay.child.kill('SIGKILL');
    await relay.exited;
    assert.equal(await c.next(), null);
    const journal = await readDeliveryJournal(join(storeDir, 'journal'));
    assert.equal(journal.pendingOnly.length, 1);
    assert.equal(journal.delivered.size, 0);
  } finally {
    mx.behave('testing-valid.test', {});
  }
  const relay = await startCli(port, storeDir);
  assert.ok(relay.lines.some((l) => l.event === 'journal-pending' && l.pendingOnly === 1), 'the start-up log names the pending entries');
  assert.match(await sendOnce(port, to, message), /^250 2\.0\.0 /);
  assert.equal(copies(), 2, 'delivered again (the MX may have taken it: the one window left)');
  relay.child.kill('SIGTERM');
  await relay.exited;
});
