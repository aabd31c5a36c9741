// A real Postfix asks `mtasts socketmap` for its TLS policy (smtp_tls_policy_maps =
// socketmap:inet:127.0.0.1:PORT:postfix) and delivers to lab MX hosts (a receiving Postfix, one
// port per certificate behaviour): enforce + valid certificate → delivered over verified TLS;
// enforce + wrong name / untrusted / expired certificate → deferred, postqueue shows why;
// testing → delivered (even with an untrusted certificate); a wildcard policy whose MX is two
// labels deep → not delivered under enforce (RFC 8461 §4.1).
//
// The sending Postfix looks up MX records itself, through the system resolver: the test re-runs
// itself inside a private network and mount namespace (`unshare -n -m`, root), where loopback
// is the only interface, /etc/resolv.conf is bind-mounted to name 127.0.0.1, and the lab serves
// DNS on 53 and HTTPS on 443. Each domain is routed by transport_maps to `smtp:DOMAIN:PORT` (an
// MX lookup, then the behaviour's port), so Postfix's lookup key is `DOMAIN:PORT`, as Postfix
// sends it for such a next hop. Needs Postfix and root; skipped with the reason otherwise.
// Run: scripts/build && node --test tests/js/socketmap-postfix.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PKG, assertBuilt } from './built-package.mjs';

assertBuilt();
const load = (p) => import(pathToFileURL(join(PKG, p)));
const { startLab, startPostfixMx, startPostfixSender, postfixAvailable, policyText } = await load('js/lab/index.js');

const INSIDE = process.env.MTASTS_SOCKETMAP_NETNS === '1';
const SELF = fileURLToPath(import.meta.url);

function whyNot() {
  if (!postfixAvailable()) return 'postfix is not installed (apt-get install postfix; scripts/setup installs it)';
  if (process.getuid?.() !== 0) return 'private Postfix instances and unshare need root';
  if (spawnSync('unshare', ['-n', '-m', 'true'], { stdio: 'ignore' }).status !== 0) return 'unshare -n -m is not available here';
  return false;
}

if (!INSIDE) {
  const skip = whyNot();
  if (skip) console.log(`# socketmap-postfix: skipped: ${skip}`);
  test('inside unshare -n -m: Postfix with smtp_tls_policy_maps = socketmap:… delivers to lab MX hosts', { skip, timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtasts-netns-'));
    const resolv = join(dir, 'resolv.conf');
    writeFileSync(resolv, 'nameserver 127.0.0.1\noptions attempts:1 timeout:2\n');
    const script = `ip link set lo up && ip addr add 127.0.0.2/8 dev lo && mount --bind ${resolv} /etc/resolv.conf && exec "${process.execPath}" --test-reporter=spec "${SELF}"`;
    // The inner run is a test run of its own (not a subtest of this one).
    const env = { ...process.env, MTASTS_SOCKETMAP_NETNS: '1' };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn('unshare', ['-n', '-m', 'sh', '-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise((r) => child.on('exit', r));
    rmSync(dir, { recursive: true, force: true });
    console.log(out.replace(/^/gm, '#   '));
    assert.equal(code, 0, 'the tests inside the namespace pass');
    assert.match(out, /ℹ pass [1-9]/, 'and they ran');
    assert.match(out, /ℹ fail 0/);
  });
} else {
  describe('Postfix → socketmap policy → lab MX (inside the namespace)', () => {
    let lab;
    let mx;
    let daemon;
    let sender;
    let dir;
    const logs = [];
    const ok = (body) => ({ status: 200, contentType: 'text/plain', body });
    // domain → the MX behaviour its transport dials
    const ROUTES = {
      'enforce-valid.test': 'valid',
      'split-record.test': 'wrongName',
      'long-record.test': 'untrusted',
      'none.test': 'expired',
      'testing-valid.test': 'untrusted',
      'mx-not-in-policy.test': 'valid',
    };

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'mtasts-socketmap-postfix-'));
      lab = await startLab({ standardPorts: true });
      writeFileSync(join(dir, 'ca.pem'), lab.caPem);
      // none.test becomes an enforce domain (for the expired certificate); mx-not-in-policy.test a
      // wildcard policy whose only MX is two labels below the domain.
      lab.update('none', { policy: ok(policyText({ mode: 'enforce', mx: ['mx1.none.test', 'mx2.none.test'] })) });
      lab.update('mx-not-in-policy', {
        policy: ok(policyText({ mode: 'enforce', mx: ['*.mx-not-in-policy.test'] })),
        mx: [{ priority: 10, host: 'a.b.mx-not-in-policy.test' }],
      });
      mx = await startPostfixMx({ lab, domains: Object.keys(ROUTES), listeners: { valid: 0, wrongName: 0, untrusted: 0, expired: 0 }, ipv6: false });
      const { startSocketmap: start } = await load('js/socketmap/daemon.js');
      const { resolveSocketmapConfig } = await load('js/socketmap/config.js');
      const { createLogger } = await load('js/relay/log.js');
      const config = resolveSocketmapConfig({}, { listen: ['127.0.0.1:0'], dnsServers: ['127.0.0.1:53'], refreshInterval: 0 });
      daemon = await start(config, { ca: lab.caPem, logger: createLogger({ level: 'info', stream: { write: (l) => logs.push(JSON.parse(l)) } }) });
      const transport = Object.entries(ROUTES).map(([d, b]) => `${d}=smtp:${d}:${mx.ports[b]}`).join(', ');
      sender = await startPostfixSender({
        // Never used: every test domain has a transport. Inside the namespace only loopback exists.
        relayhost: '[127.0.0.1]:9',
        main: {
          // The sender's own addresses must not include the MX's 127.0.0.1, or Postfix takes the
          // MX for itself ("loops back to myself"); its listener keeps 127.0.0.1 in master.cf.
          // (127.0.0.2 is added to lo inside the namespace.)
          inet_interfaces: '127.0.0.2',
          smtp_dns_support_level: 'enabled',
          smtp_host_lookup: 'dns',
          transport_maps: `inline:{ ${transport} }`,
          smtp_tls_security_level: 'may',
          smtp_tls_policy_maps: `socketmap:inet:127.0.0.1:${daemon.addresses[0].port}:postfix`,
          smtp_tls_CAfile: join(dir, 'ca.pem'),
          smtp_tls_loglevel: 1,
        },
      });
    });

    after(async () => {
      await sender?.stop();
      await daemon?.stop();
      await mx?.stop();
      await lab?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const landed = (subject) => mx.waitForMessages((all) => all.some((m) => m.subject === subject), { timeoutMs: 30000 });
    async function deferred(address) {
      for (let i = 0; i < 300; i++) {
        const entry = (await sender.queue()).flatMap((m) => m.recipients).find((r) => r.address === address && r.delay_reason);
        if (entry) return entry.delay_reason;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${address} was not deferred; maillog:\n${sender.maillog().slice(-3000)}`);
    }
    const send = (to, subject) => sender.send({ from: 'alice@sender.lab.test', to: [to], subject, body: subject });

    test('enforce + valid certificate: delivered over verified TLS', async () => {
      const subject = `enforce valid ${Date.now()}`;
      await send('bob@enforce-valid.test', subject);
      await landed(subject);
      assert.match(sender.maillog(), /Verified TLS connection established to mx\d\.enforce-valid\.test\[127\.0\.0\.1\]/);
      assert.ok(logs.some((l) => l.event === 'socketmap-answer' && l.key === `enforce-valid.test:${mx.ports.valid}` && l.reply.startsWith('OK secure match=mx1.enforce-valid.test:mx2.enforce-valid.test')), 'Postfix asked with DOMAIN:PORT');
    });

    test('testing + untrusted certificate: delivered (RFC 8461 §5)', async () => {
      const subject = `testing untrusted ${Date.now()}`;
      await send('carol@testing-valid.test', subject);
      await landed(subject);
    });

    for (const [to, what, why] of [
      ['dave@split-record.test', 'wrong name', /certificate verification failed|Server certificate not verified/i],
      ['erin@long-record.test', 'untrusted', /certificate verification failed|Server certificate not verified|untrusted/i],
      ['frank@none.test', 'expired', /certificate verification failed|Server certificate not verified|expired/i],
    ]) {
      test(`enforce + ${what} certificate: deferred, postqueue shows why`, async () => {
        const subject = `enforce ${what} ${Date.now()}`;
        await send(to, subject);
        const reason = await deferred(to);
        assert.match(reason, why, reason);
        console.log(`${to}: ${reason}`);
        const p = await sender.postqueue(['-p']);
        assert.ok(p.includes(to), p);
        assert.ok(!mx.messages().some((m) => m.subject === subject), 'nothing delivered');
      });
    }

    test('enforce wildcard with an MX two labels deep: not delivered (RFC 8461 §4.1)', async () => {
      const subject = `wildcard deep ${Date.now()}`;
      await send('gina@mx-not-in-policy.test', subject);
      const reason = await deferred('gina@mx-not-in-policy.test');
      // Postfix defers a next hop whose TLS policy lookup answered TEMP, and logs the reason.
      assert.match(reason, /client TLS configuration problem/, reason);
      const warning = sender.maillog().split('\n').find((l) => l.includes('mx-not-in-policy.test') && /warning/.test(l));
      console.log(`postfix logged: ${warning}`);
      assert.match(warning ?? '', /socketmap server temporary error: no MX host of mx-not-in-policy\.test matches its enforce policy/);
      assert.ok(logs.some((l) => l.event === 'socketmap-answer' && l.domain === 'mx-not-in-policy.test' && l.reply.startsWith('TEMP no MX host')), 'our answer was TEMP');
      assert.ok(!mx.messages().some((m) => m.subject === subject));
    });
  });
}
