// `mtasts serve`'s helpers without a browser (js/serve/): the SSRF refusals, domain parameters that
// are not domains, hostile DNS-over-HTTPS queries (huge, malformed, a response, the wrong media
// type), floods hitting the rate limits (the clock is moved, nothing waits), a probe of a host that
// is not an MX host, and the CLI's usage errors. The lab runs on loopback.
// Run: scripts/build && node --test tests/js/serve-helpers.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, CLI, assertBuilt } from './built-package.mjs';

assertBuilt();
const { startLab } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));
await import(pathToFileURL(join(PKG, 'js/node/index.js')));
const { startServer } = await import(pathToFileURL(join(PKG, 'js/serve/server.js')));
const { refusedBecause, domainParameter } = await import(pathToFileURL(join(PKG, 'js/serve/target-guard.js')));
const { createRateLimiter, createConcurrencyCap } = await import(pathToFileURL(join(PKG, 'js/serve/rate-limit.js')));
const { createNodeHosts } = await import(pathToFileURL(join(PKG, 'js/node/resolve.js')));
const { encodeQuery, decodeResponse } = await import(pathToFileURL(join(PKG, 'js/check/doh-dns.js')));

let lab, open, closed, clock;

before(async () => {
  lab = await startLab();
  const { dns } = createNodeHosts({ dnsServers: [lab.dns.server], dnsTimeout: 2000 });
  clock = 1_000_000;
  const common = { port: 0, dns, httpsOptions: { ca: lab.caPem, policyPort: lab.policyPort, timeout: 5000 }, heloName: 'checker.test', smtpPort: 9, roots: [lab.caPem], now: () => clock };
  open = await startServer({ ...common, allowPrivate: true, limits: { dnsPerClientPerMinute: 20, policyPerDomainPerMinute: 3 } });
  closed = await startServer({ ...common, allowPrivate: false });
});
after(async () => {
  await open?.close();
  await closed?.close();
  await lab?.stop();
});

const json = async (r) => ({ status: r.status, body: await r.json() });

describe('target guard (no SSRF)', () => {
  test('loopback, private, link-local, multicast, reserved and mapped addresses are refused; public ones pass', () => {
    const refused = ['127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1', '169.254.169.254', '0.0.0.0', '224.0.0.1', '239.1.1.1', '240.0.0.1', '255.255.255.255', '192.0.2.1', '198.18.0.1',
      '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '2001:db8::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '::ffff:7f00:1', '::ffff:8.8.8.8', '::7f00:1', '2002:7f00:1::', '2002:c0a8:101::1', '64:ff9b::a00:1', 'fe80::1%lo', 'not-an-ip'];
    for (const a of refused) assert.ok(refusedBecause(a), `${a} must be refused`);
    for (const a of ['1.1.1.1', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '2002:808:808::1', '64:ff9b::808:808', '2a00:1450:4001::1']) assert.equal(refusedBecause(a), null, `${a} is public`);
  });

  test('domain parameters that are not domains are serve-not-a-domain', () => {
    for (const bad of [undefined, '', '127.0.0.1', '[::1]', 'localhost', 'a b.example', 'x'.repeat(254), 'example..com', 'http://example.com', 'exa<mple>.com', '-.example']) {
      assert.throws(() => domainParameter(bad), { code: 'serve-not-a-domain' }, String(bad));
    }
    assert.equal(domainParameter('Example.COM.'), 'example.com');
  });

  test('the helpers refuse a domain whose policy host or MX host is on loopback', async () => {
    let r = await json(await fetch(`${closed.url}api/policy?domain=enforce-valid.test`));
    assert.equal(r.status, 403);
    assert.equal(r.body.code, 'serve-target-refused');
    r = await json(await fetch(`${closed.url}api/probe?domain=enforce-valid.test&host=mx1.enforce-valid.test`));
    assert.equal(r.status, 403);
    assert.equal(r.body.code, 'serve-target-refused');
  });

  test('the probe goes to MX hosts of the domain only', async () => {
    const r = await json(await fetch(`${open.url}api/probe?domain=enforce-valid.test&host=mta-sts.enforce-valid.test`));
    assert.equal(r.status, 403);
    assert.equal(r.body.code, 'serve-not-mx-host');
    const bad = await json(await fetch(`${open.url}api/probe?domain=enforce-valid.test&host=${encodeURIComponent('mx1.enforce-valid.test:25')}`));
    assert.equal(bad.body.code, 'serve-not-a-domain');
  });

  test('the probe transcript holds raw facts: steps, bytes, no verdict', async () => {
    const r = await json(await fetch(`${open.url}api/probe?domain=enforce-valid.test&host=mx1.enforce-valid.test`));
    assert.equal(r.status, 200);
    assert.equal(r.body.port, 9);
    assert.equal(r.body.events[0].step, 'resolve-addresses');
    assert.ok(r.body.events.some((e) => e.step === 'connect'));
    assert.equal(r.body.events.at(-1).step, 'probed');
    assert.equal(JSON.stringify(r.body).includes('verdict'), false);
  });
});

describe('DNS over HTTPS (RFC 8484), hostile queries', () => {
  const post = (body, type = 'application/dns-message') => fetch(`${open.url}dns-query`, { method: 'POST', headers: { 'content-type': type }, body });

  test('GET and POST answer TXT from the server resolver; NXDOMAIN and a timeout keep their codes', async () => {
    const q = Buffer.from(encodeQuery('_mta-sts.enforce-valid.test', 'TXT'));
    const viaGet = await fetch(`${open.url}dns-query?dns=${q.toString('base64url')}`);
    assert.equal(viaGet.headers.get('content-type'), 'application/dns-message');
    const a = decodeResponse(new Uint8Array(await viaGet.arrayBuffer()));
    assert.deepEqual(a.answers.map((x) => x.data), [['v=STSv1; id=20240101T000000']]);
    const nx = decodeResponse(new Uint8Array(await (await post(encodeQuery('nothing-here.test', 'TXT'))).arrayBuffer()));
    assert.equal(nx.rcode, 3);
    const slow = decodeResponse(new Uint8Array(await (await post(encodeQuery('_mta-sts.dns-timeout.test', 'TXT'))).arrayBuffer()));
    assert.equal(slow.rcode, 2);
    assert.equal(slow.ede, 'ETIMEOUT');
  });

  test('huge, malformed and out-of-place queries get named errors, never a crash', async () => {
    const cases = [
      [await fetch(`${open.url}dns-query?dns=${'A'.repeat(5000)}`), 413, 'serve-request-too-large'],
      [await fetch(`${open.url}dns-query?dns=not*base64`), 400, 'serve-dns-query-malformed'],
      [await fetch(`${open.url}dns-query`), 400, 'serve-dns-query-malformed'],
      [await post(Buffer.alloc(5)), 400, 'serve-dns-query-malformed'],
      [await post(Buffer.alloc(70_000, 1)), 413, 'serve-request-too-large'],
      [await post(encodeQuery('x.test', 'TXT'), 'text/plain'), 415, 'serve-unsupported-media-type'],
      [await fetch(`${open.url}dns-query`, { method: 'PUT' }), 405, 'serve-method-not-allowed'],
    ];
    // A response sent as a query; a name whose compression pointer loops.
    const response = Buffer.from(encodeQuery('x.test', 'TXT'));
    response[2] |= 0x80;
    cases.push([await post(response), 400, 'serve-dns-query-malformed']);
    const loop = Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 16, 0, 1]);
    cases.push([await post(loop), 400, 'serve-dns-query-malformed']);
    for (const [r, status, code] of cases) {
      const body = await r.json();
      assert.equal(r.status, status, code);
      assert.equal(body.code, code);
    }
    // An unsupported type is a DNS answer (NOTIMP), not an HTTP error.
    const ns = Buffer.from(encodeQuery('x.test', 'TXT'));
    ns.writeUInt16BE(2, ns.length - 4);
    assert.equal(decodeResponse(new Uint8Array(await (await post(ns)).arrayBuffer())).rcode, 4);
  });

  test('a flood of queries hits the per-client rate limit; the bucket refills as the clock moves', async () => {
    clock += 3_600_000;
    const q = encodeQuery('_mta-sts.enforce-valid.test', 'TXT');
    const statuses = [];
    for (let i = 0; i < 30; i++) statuses.push((await post(q)).status);
    assert.equal(statuses.filter((s) => s === 200).length, 20);
    const limited = await post(q);
    assert.equal(limited.status, 429);
    assert.equal((await limited.json()).code, 'serve-rate-limited');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    clock += 60_000;
    assert.equal((await post(q)).status, 200);
  });
});

describe('policy helper', () => {
  test('returns the fetch as raw facts; a domain is limited per minute', async () => {
    clock += 3_600_000;
    const r = await json(await fetch(`${open.url}api/policy?domain=policy-redirect.test`));
    assert.equal(r.status, 200);
    assert.equal(r.body.ok, true);
    assert.equal(r.body.status >= 300 && r.body.status < 400, true, 'the redirect is returned, not followed');
    for (let i = 0; i < 2; i++) await fetch(`${open.url}api/policy?domain=policy-redirect.test`);
    const limited = await json(await fetch(`${open.url}api/policy?domain=policy-redirect.test`));
    assert.equal(limited.status, 429);
    assert.match(limited.body.message, /policy-redirect\.test/);
  });

  test('only the page files are served; paths outside are serve-not-found', async () => {
    for (const p of ['package.json', 'js/../package.json', 'js/%2e%2e/package.json', 'node_modules/x.js', 'js/checker/index.htmlx', '%00.js']) {
      const r = await fetch(`${open.url}${p}`);
      assert.equal(r.status, 404, p);
    }
    const page = await fetch(`${open.url}js/checker/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy'), /script-src 'self' 'wasm-unsafe-eval'/);
    assert.doesNotMatch(await page.text(), /<script>/, 'no inline script');
  });
});

test('rate limiter: burst, then one token per interval', () => {
  let t = 0;
  const l = createRateLimiter({ perMinute: 2, now: () => t });
  l.take('a', 'x');
  l.take('a', 'x');
  assert.throws(() => l.take('a', 'x'), { code: 'serve-rate-limited' });
  l.take('b', 'x');
  t += 30_000;
  l.take('a', 'x');
});

test('concurrency cap: the task over the cap is serve-busy; a finished task frees its place', async () => {
  const cap = createConcurrencyCap(2, 'MX probes');
  let release;
  const gate = new Promise((r) => (release = r));
  const running = [cap.run(() => gate), cap.run(() => gate)];
  await assert.rejects(cap.run(async () => 'third'), { code: 'serve-busy', status: 503 });
  release();
  await Promise.all(running);
  assert.equal(cap.running, 0);
  assert.equal(await cap.run(async () => 'again'), 'again');
});

test('mtasts serve: usage errors exit 2', async () => {
  const run = (args) => new Promise((resolve) => execFile(process.execPath, [CLI, 'serve', ...args], (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stderr })));
  for (const args of [['--listen', 'nowhere'], ['--listen', '127.0.0.1:99999'], ['extra'], ['--smtp-port', '0']]) {
    const r = await run(args);
    assert.equal(r.code, 2, args.join(' '));
  }
});

test('mtasts serve: starts with the lab flags, answers, and exits 0 on SIGTERM', async () => {
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--allow-private', '--dns-server', lab.dns.server, '--policy-port', String(lab.policyPort), '--helo', 'checker.test'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /checker is at (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
  assert.match(out, /private targets allowed/);
  const r = await fetch(`${url}config.json`);
  assert.deepEqual(await r.json(), { helpers: true, doh: '/dns-query' });
  const page = await fetch(url, { redirect: 'manual' });
  assert.equal(page.status, 302);
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});
