// A fleet: `mtasts relay` processes (the built CLI) sharing one redis-server on the lab. The second
// relay reuses the first one's policy without fetching it (the lab counts policy requests); both
// relays' TLS-RPT records add up in `mtasts report build --store redis://…`; Redis SIGKILLed
// mid-run and restarted: no message deferred because of it, no record lost or counted twice; a
// "Redis" that accepts TCP and never answers does not defer mail.
// Run: scripts/build && node --test tests/js/redis-relay.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, CLI, assertBuilt } from './built-package.mjs';
import { startRelayMx } from './relay-mx.mjs';
import { rawSmtp } from './relay-client.mjs';
import { HAVE_REDIS, startRedis, startSilentPeer, stopAllRedis } from './redis-server.mjs';

const SKIP = HAVE_REDIS ? false : 'redis-server is not installed (scripts/setup installs it)';
assertBuilt();
const { startLab } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));
const DOMAIN = 'enforce-valid.test';
const TODAY = () => new Date().toISOString().slice(0, 10);

let lab;
let mx;
let dir;
const children = new Set();

before(async () => {
  if (SKIP) return;
  dir = mkdtempSync(join(tmpdir(), 'mtasts-redis-relay-'));
  lab = await startLab();
  writeFileSync(join(dir, 'ca.pem'), lab.caPem);
  mx = await startRelayMx(lab);
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await stopAllRedis();
  await mx?.close();
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Starts `mtasts relay --store STORE`; resolves { child, port, lines, stop() } once it listens. */
async function startRelayCli(store) {
  const args = [CLI, 'relay', '--listen', '127.0.0.1:0', '--store', store, '--helo', 'relay.test', '--log-level', 'debug',
    '--dns-server', lab.dns.server, '--ca-file', join(dir, 'ca.pem'), '--policy-port', String(lab.policyPort),
    '--smtp-port', String(mx.port), '--allow-private', '--refresh-interval', '0', '--shutdown-timeout', '10',
    // A new MX connection per message: one TLS session (one TLS-RPT record) each.
    '--reuse-idle', '0'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
        if (line.event === 'listening') resolve(line);
      }
    });
    child.once('exit', (code) => reject(new Error(`relay exited (${code}) before listening: ${stderr}`)));
  });
  const { addresses } = await listening;
  // 'close', not 'exit': the process may exit before its last log lines are read from the pipe.
  const exited = new Promise((resolve) => child.once('close', resolve));
  return {
    child,
    port: addresses[0].port,
    lines,
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      children.delete(child);
      return code;
    },
  };
}

let sent = 0;
/** One message through a relay with a raw client; resolves the reply to the final "." . */
async function send(relay, to = `user@${DOMAIN}`) {
  sent += 1;
  const c = await rawSmtp(relay.port);
  try {
    await c.cmd('EHLO client.test');
    await c.cmd('MAIL FROM:<sender@origin.test>');
    const rcpt = await c.cmd(`RCPT TO:<${to}>`);
    if (!rcpt.startsWith('250')) return rcpt;
    await c.cmd('DATA');
    c.write(`Message-ID: <${sent}.${process.pid}@origin.test>\r\nSubject: fleet ${sent}\r\n\r\nhello\r\n.\r\n`);
    return await c.next();
  } finally {
    c.destroy();
  }
}

/** `mtasts report build` over the store; resolves its --json output (or null when nothing was built). */
function reportBuild(store) {
  const out = join(dir, `reports-${Math.random().toString(16).slice(2)}`);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, 'report', 'build', '--store', store, '--out', out, '--org', 'Fleet', '--contact', 'mailto:tlsrpt@origin.test',
      '--submitter', 'relay.test', '--date', TODAY(), '--json'], { timeout: 60000 }, (err, stdout, stderr) => {
      if (err && err.code !== 1) return reject(new Error(`report build failed: ${err.message}\n${stderr}`));
      resolve(err ? { reports: [], stderr } : JSON.parse(stdout));
    });
  });
}
const successfulIn = (built) => built.reports.filter((r) => r.policyDomain === DOMAIN).reduce((n, r) => n + r.successful, 0);

/** Polls report build until `want` sessions of DOMAIN are counted (at most 60 tries), returns the last count. */
async function countReaches(store, want) {
  let got = -1;
  for (let i = 0; i < 60 && got < want; i++) {
    got = successfulIn(await reportBuild(store));
    if (got < want) await new Promise((r) => setTimeout(r, 250));
  }
  return got;
}

test('two relays on one Redis: the second reuses the first one\'s policy without fetching; both relays\' records add up', { skip: SKIP }, async () => {
  const redis = await startRedis();
  try {
    const url = redis.url;
    const a = await startRelayCli(`${url}?local=${join(dir, 'a')}`);
    const b = await startRelayCli(`${url}?local=${join(dir, 'b')}`);
    const fetchedBefore = lab.requests[DOMAIN];
    assert.match(await send(a), /^250 /);
    assert.equal(lab.requests[DOMAIN] - fetchedBefore, 1, 'relay a fetched the policy');
    assert.match(await send(b), /^250 /);
    assert.match(await send(b), /^250 /);
    assert.equal(lab.requests[DOMAIN] - fetchedBefore, 1, 'relay b found it in Redis: no second fetch');
    for (const r of [a, b]) assert.equal(await r.stop(), 0);
    // Read after stop: a 250 reaches the client before the relay's log line reaches this process.
    const bLookup = b.lines.filter((l) => l.event === 'delivery');
    assert.equal(bLookup.length, 2);

    // 1 session through a, 2 through b: one report with 3.
    const built = await reportBuild(url);
    assert.equal(built.store, url, 'the output names the store');
    assert.equal(successfulIn(built), 3);
    assert.equal(built.reports.length, 1);

    // report send reads the same records (the lab publishes no _smtp._tls record: skipped, with the
    // reason), its ledger in the local directory.
    const sendOut = await new Promise((resolve) => {
      execFile(process.execPath, [CLI, 'report', 'send', '--store', `${url}?local=${join(dir, 'a')}`, '--org', 'Fleet', '--contact', 'mailto:tlsrpt@origin.test',
        '--submitter', 'relay.test', '--date', TODAY(), '--dns-server', lab.dns.server, '--dry-run', '--out', join(dir, 'send-out')], { timeout: 60000 }, (err, stdout, stderr) => resolve({ code: err?.code ?? 0, stdout, stderr }));
    });
    console.log(`report send: exit ${sendOut.code}: ${sendOut.stdout.trim()} ${sendOut.stderr.trim()}`);
    assert.match(sendOut.stdout + sendOut.stderr, new RegExp(`${DOMAIN.replace('.', '\\.')}.*skipped`));
  } finally {
    await redis.stop();
  }
});

test('Redis SIGKILLed mid-run and restarted: nothing deferred because of it; every session counted once', { skip: SKIP }, async () => {
  const persistDir = join(dir, 'aof');
  mkdirSync(persistDir);
  const redis = await startRedis({ persistDir });
  try {
    const store = (name) => `${redis.url}?local=${join(dir, name)}`;
    const a = await startRelayCli(store('ka'));
    const b = await startRelayCli(store('kb'));
    const relays = [a, b];
    const replies = [];
    for (let i = 0; i < 6; i++) replies.push(await send(relays[i % 2]));
    await redis.kill('SIGKILL');
    for (let i = 0; i < 8; i++) replies.push(await send(relays[i % 2]));
    await redis.restart();
    for (let i = 0; i < 6; i++) replies.push(await send(relays[i % 2]));
    assert.deepEqual(replies.filter((r) => !/^250 /.test(r)), [], 'every message delivered');
    assert.equal(replies.length, 20);
    // The relays wrote what they kept meanwhile once Redis came back (they are still running).
    assert.equal(await countReaches(redis.url, 20), 20, 'each of the 20 sessions counted once');
    for (const r of relays) {
      assert.ok(r.lines.some((l) => l.event === 'redis-down'), 'the outage was logged');
      assert.ok(r.lines.some((l) => l.event === 'redis-up'));
    }
    for (const r of relays) assert.equal(await r.stop(), 0);
    assert.equal(successfulIn(await reportBuild(redis.url)), 20, 'still 20 after both stopped');
  } finally {
    await redis.stop();
  }
});

test('a relay SIGKILLed while Redis is down: its restart sends the records it spooled, once', { skip: SKIP }, async () => {
  const redis = await startRedis();
  try {
    const store = `${redis.url}?local=${join(dir, 'spooler')}`;
    const first = await startRelayCli(store);
    assert.match(await send(first), /^250 /);
    await redis.kill('SIGKILL'); // no persistence: the first session is gone with it
    for (let i = 0; i < 5; i++) assert.match(await send(first), /^250 /);
    // The relay spools what it could not send within a second (SPOOL_MS); wait for the files.
    const spool = join(dir, 'spooler', 'tlsrpt-redis-spool');
    for (let i = 0; i < 100 && !(existsSync(spool) && readdirSync(spool).some((f) => f.endsWith('.json'))); i++) await new Promise((r) => setTimeout(r, 50));
    first.child.kill('SIGKILL');
    await redis.restart();
    const second = await startRelayCli(store);
    assert.equal(await countReaches(redis.url, 5), 5, 'the 5 sessions recorded while Redis was down, once');
    assert.equal(await second.stop(), 0);
    assert.ok(second.lines.some((l) => l.event === 'tlsrpt-spool-loaded'));
    assert.equal(successfulIn(await reportBuild(redis.url)), 5);
  } finally {
    await redis.stop();
  }
});

test('a Redis that accepts TCP and never answers: mail is delivered from the local layer', { skip: SKIP }, async () => {
  const silent = await startSilentPeer();
  try {
    const r = await startRelayCli(`${silent.url}?local=${join(dir, 'silent')}&timeout=200`);
    const times = [];
    for (let i = 0; i < 4; i++) {
      const started = Date.now();
      assert.match(await send(r), /^250 /);
      times.push(Date.now() - started);
    }
    // Figures, not an assertion on time.
    console.log(`silent redis (timeout 200 ms): deliveries took ${times.join(', ')} ms`);
    assert.ok(silent.connections >= 1, 'the relay did dial the silent peer');
    assert.equal(await r.stop(), 0, 'and it stops cleanly');
    assert.ok(r.lines.some((l) => l.event === 'redis-down'));
  } finally {
    await silent.close();
  }
});
