// `mtasts relay` as a process (the built CLI): SIGTERM lets the transaction in flight finish and be
// delivered, tells an idle session 421 4.3.2, accepts no new connection, and exits 0.
// Run: scripts/build && node --test tests/js/relay-shutdown.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, CLI, assertBuilt } from './built-package.mjs';
import { startRelayMx } from './relay-mx.mjs';
import { rawSmtp, refused } from './relay-client.mjs';

assertBuilt();
const { startLab } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));

let lab;
let mx;
let dir;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mtasts-relay-cli-'));
  lab = await startLab();
  writeFileSync(join(dir, 'ca.pem'), lab.caPem);
  mx = await startRelayMx(lab);
});

after(async () => {
  await mx?.close();
  await lab?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts the relay CLI; resolves { child, port, lines, waitFor(event) } once it listens. */
async function startCli(extra = []) {
  const args = [CLI, 'relay', '--listen', '127.0.0.1:0', '--store', `file:${join(dir, 'store')}`, '--helo', 'relay.test',
    '--dns-server', lab.dns.server, '--ca-file', join(dir, 'ca.pem'), '--policy-port', String(lab.policyPort),
    '--smtp-port', String(mx.port), '--allow-private', '--refresh-interval', '0', '--shutdown-timeout', '60', ...extra];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const waiters = new Set();
  let buffer = '';
  child.stdout.on('data', (chunk) => {
    buffer += chunk;
    let i;
    while ((i = buffer.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buffer.slice(0, i)));
      buffer = buffer.slice(i + 1);
      for (const w of waiters) w();
    }
  });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const waitFor = (event) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const line = lines.find((l) => l.event === event);
        if (line) {
          waiters.delete(check);
          resolve(line);
        }
      };
      waiters.add(check);
      child.once('exit', () => reject(new Error(`relay exited before "${event}": ${stderr}`)));
      check();
    });
  const listening = await waitFor('listening');
  return { child, port: listening.addresses[0].port, lines, waitFor, stderr: () => stderr };
}

test('SIGTERM: the transaction in flight is delivered, an idle session gets 421 4.3.2, new connections are refused, exit 0', { timeout: 180_000 }, async () => {
  const relay = await startCli();
  const exited = once(relay.child, 'exit');
  const before = mx.messages.length;

  const busy = await rawSmtp(relay.port);
  assert.match(await busy.cmd('EHLO client.test'), /^250/);
  assert.match(await busy.cmd('MAIL FROM:<a@origin.test>'), /^250/);
  assert.match(await busy.cmd('RCPT TO:<user@enforce-valid.test>'), /^250/);

  const idle = await rawSmtp(relay.port);
  assert.match(await idle.cmd('EHLO client.test'), /^250/);

  relay.child.kill('SIGTERM');
  assert.match(await idle.next(), /^421 4\.3\.2 /);
  await idle.closed;
  await relay.waitFor('shutting-down');
  assert.equal(await refused(relay.port), true, 'no new connection once shutting down');

  assert.match(await busy.cmd('DATA'), /^354/);
  busy.write('Subject: in flight\r\n\r\ndelivered during shutdown\r\n.\r\n');
  assert.match(await busy.next(), /^250 2\.0\.0 /);
  await busy.closed;

  const [code] = await exited;
  assert.equal(code, 0, relay.stderr());
  assert.equal(mx.messages.length, before + 1);
  assert.match(mx.messages.at(-1).data, /delivered during shutdown/);
  assert.ok(relay.lines.some((l) => l.event === 'delivery' && l.outcome === 'delivered'));
  assert.ok(relay.lines.some((l) => l.event === 'stopped'));
});

test('relay --help documents the options; bad options exit 2 with one line', { timeout: 180_000 }, () => {
  const help = spawnSync(process.execPath, [CLI, 'relay', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  for (const flag of ['--listen', '--store', '--allow', '--users', '--metrics', '--trace-header', '--no-trace-header', '--config',
    '--shutdown-timeout', '--refresh-interval', '--dns-server HOST:PORT', '--ca-file FILE', '--policy-port N', '--smtp-port N']) {
    assert.ok(help.stdout.includes(flag), `--help mentions ${flag}`);
  }
  for (const bad of [['--listen', 'nowhere'], ['--store', 'redis:x'], ['--allow', '300.0.0.0/8'], ['--trace-header', 'Bad Name'], ['--bogus']]) {
    const r = spawnSync(process.execPath, [CLI, 'relay', ...bad], { encoding: 'utf8' });
    assert.equal(r.status, 2, `${bad.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!r.stderr.includes('    at '), 'no stack trace');
  }
  const config = join(dir, 'relay.json');
  writeFileSync(config, JSON.stringify({ listen: '127.0.0.1:1', nonsense: true }));
  const r = spawnSync(process.execPath, [CLI, 'relay', '--config', config], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown key "nonsense"/);
});

test('relay --hash-password prints a scrypt hash for a users file', { timeout: 180_000 }, () => {
  const r = spawnSync(process.execPath, [CLI, 'relay', '--hash-password'], { input: 'pw\n', encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\$scrypt\$N=16384,r=8,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+\n$/);
});
