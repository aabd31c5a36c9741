// Differential test: `mtasts socketmap` and postfix-mta-sts-resolver 1.5.1 (PyPI, `mta-sts-daemon`)
// answer the same requests on the same lab. For every request the answer class (OK, NOTFOUND,
// TEMP, ...) must be the same, except the differences listed in DIFFERENCES, each with the RFC
// rule that makes ours right; an OK answer's match= names are compared too. An unlisted
// difference fails the test, and so does a listed one that no longer shows.
//
// postfix-mta-sts-resolver fetches on port 443 and asks the system resolver, so the test re-runs
// itself inside `unshare -n -m` (root): loopback only, /etc/resolv.conf bind-mounted to name
// 127.0.0.1, the lab on 53 and 443, the lab CA given to Python by SSL_CERT_FILE. Skipped with
// the reason when the peer (scripts/setup installs it into target/py-peers) or unshare is missing.
// Run: scripts/build && node --test tests/js/socketmap-differential.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PKG, ROOT, assertBuilt } from './built-package.mjs';

assertBuilt();
const load = (p) => import(pathToFileURL(join(PKG, p)));
const INSIDE = process.env.MTASTS_SOCKETMAP_NETNS === '1';
const SELF = fileURLToPath(import.meta.url);
const VENV = process.env.MTASTS_PY_VENV ?? join(ROOT, 'target', 'py-peers');
const DAEMON = join(VENV, 'bin', 'mta-sts-daemon');

/**
 * Requests whose answers differ, and why ours is right. `ours` and `theirs` are the classes (or
 * the whole reply where the class is the same and the match= names differ).
 */
const WILDCARD = {
  ours: /^OK secure match=mx1\.[a-z-]+\.test:mx2\.[a-z-]+\.test servername=hostname$/,
  theirs: /^OK secure match=\.[a-z-]+\.test servername=hostname$/,
  why: 'RFC 8461 §4.1: "*.domain" matches exactly one label; Postfix matches match=.domain at any depth, so theirs widens the policy; ours names the MX hosts the wildcard matches',
};
const DEEP = {
  ours: /^TEMP no MX host of mx-not-in-policy\.test matches its enforce policy/,
  theirs: /^OK secure match=\.mx-not-in-policy\.test /,
  why: 'RFC 8461 §4.1 and §5: the only MX (a.b.mx-not-in-policy.test) is two labels below "*.mx-not-in-policy.test", so no MX matches and mail must not be delivered; theirs accepts a certificate for it',
};
const INVALID_RECORD = {
  ours: /^NOTFOUND $/,
  theirs: /^OK secure match=/,
  why: 'RFC 8461 §3.1: id is 1-32 letters and digits; "bad-id!" makes the record invalid and the domain has no usable policy; theirs enforces a policy the domain did not validly publish',
};
const KEYWORD = {
  ours: /^OK secure match=mx1\.long-record\.test servername=hostname$/,
  // Theirs lists the names in no fixed order (seen both ways).
  theirs: /^OK secure match=(mx1\.long-record\.test:hostname|hostname:mx1\.long-record\.test) /,
  why: 'RFC 8461 §4.1 with Postfix\'s match= syntax: a policy "mx: hostname" sent as is is the Postfix keyword "the host dialled", so any MX with a certificate for its own name would pass; ours leaves it out',
};
const DIFFERENCES = {
  'strict testing-valid.test': WILDCARD,
  'strict id-rotated.test': WILDCARD,
  'postfix mx-not-in-policy.test': DEEP,
  'strict mx-not-in-policy.test': DEEP,
  'postfix invalid-record.test': INVALID_RECORD,
  'strict invalid-record.test': INVALID_RECORD,
  'postfix long-record.test': KEYWORD,
  'strict long-record.test': KEYWORD,
};

function whyNot() {
  if (process.getuid?.() !== 0) return 'unshare needs root';
  if (spawnSync('unshare', ['-n', '-m', 'true'], { stdio: 'ignore' }).status !== 0) return 'unshare -n -m is not available here';
  if (!existsSync(DAEMON)) return `postfix-mta-sts-resolver is not installed (${DAEMON}; scripts/setup installs it)`;
  return false;
}

if (!INSIDE) {
  const skip = whyNot();
  if (skip) console.log(`# socketmap-differential: skipped: ${skip}`);
  test('inside unshare -n -m: mtasts socketmap and postfix-mta-sts-resolver 1.5.1 answer alike, except where RFC 8461 says otherwise', { skip, timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtasts-netns-'));
    const resolv = join(dir, 'resolv.conf');
    writeFileSync(resolv, 'nameserver 127.0.0.1\noptions attempts:1 timeout:2\n');
    const script = `ip link set lo up && mount --bind ${resolv} /etc/resolv.conf && exec "${process.execPath}" --test-reporter=spec "${SELF}"`;
    const env = { ...process.env, MTASTS_SOCKETMAP_NETNS: '1' };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn('unshare', ['-n', '-m', 'sh', '-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise((r) => child.on('exit', r));
    rmSync(dir, { recursive: true, force: true });
    console.log(out.replace(/^/gm, '#   '));
    assert.equal(code, 0, 'the comparison inside the namespace passes');
    assert.match(out, /ℹ pass [1-9]/, 'and it ran');
    assert.match(out, /ℹ fail 0/);
  });
} else {
  /** Sends every request on one connection, pipelined; resolves the replies in order. */
  async function ask(port, requests) {
    const socket = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const replies = [];
    socket.write(requests.map((r) => `${Buffer.byteLength(r)}:${r},`).join(''));
    await new Promise((resolve, reject) => {
      socket.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        for (;;) {
          const colon = buf.indexOf(':');
          if (colon < 0) break;
          const len = Number(buf.subarray(0, colon).toString());
          if (buf.length < colon + len + 2) break;
          replies.push(buf.subarray(colon + 1, colon + 1 + len).toString());
          buf = buf.subarray(colon + len + 2);
        }
        if (replies.length === requests.length) resolve();
      });
      socket.on('error', reject);
      socket.on('close', () => resolve());
    });
    socket.end();
    return replies;
  }

  const classOf = (reply) => reply.split(' ', 1)[0];
  const matchOf = (reply) => (/ match=(\S+)/.exec(reply)?.[1] ?? '').split(':').sort().join(':');

  describe('mtasts socketmap vs postfix-mta-sts-resolver 1.5.1 on the lab', () => {
    let lab;
    let ours;
    let theirs;
    let dir;
    before(async () => {
      const { startLab, policyText } = await load('js/lab/index.js');
      dir = mkdtempSync(join(tmpdir(), 'mtasts-differential-'));
      lab = await startLab({ standardPorts: true });
      writeFileSync(join(dir, 'ca.pem'), lab.caPem);
      const ok = (body) => ({ status: 200, contentType: 'text/plain', body });
      // Extra situations on scenarios whose own case the catalogue already covers elsewhere.
      lab.update('mx-not-in-policy', { policy: ok(policyText({ mode: 'enforce', mx: ['*.mx-not-in-policy.test'] })), mx: [{ priority: 10, host: 'a.b.mx-not-in-policy.test' }] });
      lab.update('long-record', { policy: ok(policyText({ mode: 'enforce', mx: ['hostname', 'mx1.long-record.test'] })) });

      const { startSocketmap } = await load('js/socketmap/daemon.js');
      const { resolveSocketmapConfig } = await load('js/socketmap/config.js');
      const { createLogger } = await load('js/relay/log.js');
      const zones = { strict: { strict_testing: true, timeout: 4 } };
      ours = await startSocketmap(resolveSocketmapConfig({ zones }, { listen: ['127.0.0.1:0'], dnsServers: ['127.0.0.1:53'], refreshInterval: 0 }), { ca: lab.caPem, logger: createLogger({ level: 'silent' }) });

      const port = await new Promise((resolve) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
          const p = s.address().port;
          s.close(() => resolve(p));
        });
      });
      writeFileSync(join(dir, 'mta-sts-daemon.yml'), `host: 127.0.0.1\nport: ${port}\ncache:\n  type: internal\ndefault_zone:\n  strict_testing: false\n  timeout: 4\nzones:\n  strict:\n    strict_testing: true\n    timeout: 4\n`);
      theirs = spawn(DAEMON, ['-c', join(dir, 'mta-sts-daemon.yml'), '-v', 'warn'], { env: { ...process.env, SSL_CERT_FILE: join(dir, 'ca.pem') }, stdio: ['ignore', 'ignore', 'pipe'] });
      theirs.stderr.on('data', () => {});
      theirs.port = port;
      for (let i = 0; i < 200; i++) {
        const up = await new Promise((r) => {
          const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
          s.on('error', () => r(false));
        });
        if (up) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    });
    after(async () => {
      theirs?.kill('SIGTERM');
      await ours?.stop();
      await lab?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('the same answer class for every scenario, each difference explained', async () => {
      const { scenarios } = await load('js/lab/index.js');
      const requests = [];
      for (const s of scenarios) requests.push(`postfix ${s.domain}`, `strict ${s.domain}`);
      requests.push('postfix [192.0.2.1]', 'postfix .enforce-valid.test', 'postfix Enforce-Valid.TEST.', 'postfix enforce-valid.test:25', 'postfix [mx1.enforce-valid.test]:25');
      const [a, b] = await Promise.all([ask(ours.addresses[0].port, requests), ask(theirs.port, requests)]);
      const rows = [];
      const unexplained = [];
      requests.forEach((r, i) => {
        const same = classOf(a[i]) === classOf(b[i]) && (classOf(a[i]) !== 'OK' || matchOf(a[i]) === matchOf(b[i]));
        rows.push(`${same ? '  ' : '≠ '}${r.padEnd(42)} ours: ${a[i].slice(0, 90)}\n${' '.repeat(45)}theirs: ${b[i].slice(0, 90)}`);
        const listed = DIFFERENCES[r];
        if (same && listed) unexplained.push(`${r}: listed as a difference but both say ${classOf(a[i])}`);
        if (!same && !listed) unexplained.push(`${r}: ours ${JSON.stringify(a[i])}, theirs ${JSON.stringify(b[i])}`);
        if (!same && listed) {
          assert.match(a[i], listed.ours, `${r}: ours`);
          assert.match(b[i], listed.theirs, `${r}: theirs`);
        }
      });
      console.log(rows.join('\n'));
      for (const [r, d] of Object.entries(DIFFERENCES)) console.log(`difference: ${r}: ${d.why}`);
      assert.deepEqual(unexplained, []);
    });
  });
}
