// Property tests (issue 14 §4) over the asynchronous public API: resolvePolicy, createPolicyResolver
// and connectMx with arbitrary option values, and PolicyResolver (both entries) driven by hosts that
// answer arbitrary values. Each call resolves, or rejects (or throws) an MtaStsError with a code from
// errorCodes(), or lets through an error a hostile value itself threw; afterwards the module still
// answers the shared vectors. No traffic leaves loopback: the DNS server is a scripted one on
// 127.0.0.1 that answers SERVFAIL to everything (so no policy is fetched and no MX is dialled), and
// generated option values that could name another DNS server are left out.
// Seeded: MTASTS_PROPERTY_SEED=<seed> replays a run (the seed is printed).
// Run: scripts/build && node --test tests/js/property-hosts.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { ROOT, PKG, assertBuilt } from './built-package.mjs';
import { POISON, checkOutcome, hostileString, hostileValue, propertySeed } from './property-hostile-values.mjs';

assertBuilt();
const node = await import(join(PKG, 'js/node/index.js'));
const browser = await import(join(PKG, 'js/browser/index.js'));
await browser.init(readFileSync(join(PKG, 'wasm/mtasts_bg.wasm')));
const { decodeQuery, encodeResponse } = await import(join(PKG, 'js/lab/dns-wire.js'));

const SEED = propertySeed('property-hosts.test.mjs');
const RUNS = Number(process.env.MTASTS_PROPERTY_RUNS ?? 100);
const codes = new Set(node.errorCodes().map((e) => e.code));
const ctx = { MtaStsError: node.MtaStsError, codes };

let dns;
let DNS;
before(async () => {
  // SERVFAIL to every question, at once: every look-up is a temporary DNS failure.
  dns = dgram.createSocket('udp4');
  dns.on('message', (msg, rinfo) => {
    try {
      dns.send(encodeResponse(decodeQuery(msg), { rcode: 'SERVFAIL' }), rinfo.port, rinfo.address);
    } catch {
      // not a query
    }
  });
  await new Promise((r) => dns.bind(0, '127.0.0.1', r));
  DNS = `127.0.0.1:${dns.address().port}`;
});
after(() => dns?.close());

/** Could `v` name a DNS server other than ours (an IP address, with or without a port)? */
function namesAServer(v) {
  try {
    const list = Array.isArray(v) ? v : [v];
    return list.some((s) => {
      if (typeof s !== 'string') return false;
      const bare = s.replace(/^\[(.*)\](:\d+)?$/, '$1').replace(/^([^:]*):\d+$/, '$1');
      return net.isIP(bare) !== 0 || net.isIP(s) !== 0;
    });
  } catch {
    return true; // cannot be read here: not used, to be safe
  }
}

/** Settles `p` (or the value `f` returns / throws) within `ms`, or fails. */
async function outcome(what, f, ms = 10_000) {
  let thrown;
  let timer;
  try {
    await Promise.race([
      (async () => f())(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not settled after ${ms} ms`)), ms);
      }),
    ]);
  } catch (e) {
    thrown = e ?? new Error(`rejected with ${String(e)}`);
  } finally {
    clearTimeout(timer);
  }
  if (thrown?.message?.endsWith(`not settled after ${ms} ms`)) throw thrown;
  checkOutcome(what, thrown, ctx);
}

const KEYS = ['store', 'recheckAfter', 'now', 'random', 'resolver', 'ca', 'policyPort', 'timeout', 'dnsTimeout', 'onStoreError'];
const CONNECT_KEYS = [...KEYS, 'heloName', 'requireTls', 'smtpPort', 'signal', 'tlsrpt', 'timeouts', 'limits', 'dns', 'roots', 'onTlsrptError'];
const optionsOf = (keys) =>
  fc.oneof(
    hostileValue,
    fc.record(Object.fromEntries(keys.map((k) => [k, hostileValue])), { requiredKeys: [] }),
    fc.record({ dnsServers: hostileValue.filter((v) => !namesAServer(v)) }, { requiredKeys: [] }),
  );
/** The generated options with our DNS server and a short DNS timeout (a generated dnsServers only when it cannot name a server). */
function onLoopback(options) {
  let o = {};
  try {
    if (typeof options === 'object' && options !== null && !Array.isArray(options)) o = { ...options };
  } catch {
    // a Proxy whose traps throw: nothing to spread
  }
  const keep = 'dnsServers' in o && !namesAServer(o.dnsServers);
  return { safe: { dnsTimeout: 500, ...o, dnsServers: keep ? o.dnsServers : [DNS] } };
}
const domain = fc.oneof(hostileValue, hostileString, fc.constantFrom('example.test', 'EXAMPLE.test.', 'xn--bcher-kva.test', 'a..b', '*.x', '[127.0.0.1]'));

test('resolvePolicy with arbitrary domains and options settles with a named outcome', { timeout: 120_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(domain, optionsOf(KEYS), async (d, options) => {
      const { safe } = onLoopback(options);
      await outcome('resolvePolicy', () => node.resolvePolicy(d, safe));
      await outcome('createPolicyResolver().resolve', () => node.createPolicyResolver(safe).resolve(d));
    }),
    { seed: SEED, numRuns: RUNS, includeErrorInReport: true },
  );
});

test('resolvePolicy with an options value that is not an object', { timeout: 60_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(hostileValue.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)), async (options) => {
      // Only values that cannot carry dnsServers: nothing reaches a real DNS server.
      if (options !== undefined) await outcome('resolvePolicy(options)', () => node.resolvePolicy('example.test', options));
    }),
    { seed: SEED, numRuns: RUNS, includeErrorInReport: true },
  );
});

test('connectMx with arbitrary domains and options settles with a named outcome', { timeout: 120_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(domain, optionsOf(CONNECT_KEYS), fc.boolean(), async (d, options, withHelo) => {
      const { safe } = onLoopback(options);
      if (withHelo && typeof safe.heloName !== 'string') safe.heloName = 'client.example.test';
      await outcome('connectMx', () => node.connectMx(d, safe));
    }),
    { seed: SEED, numRuns: RUNS, includeErrorInReport: true },
  );
});

/** What a host function may answer: anything, or the right shape with arbitrary fields. */
const txtAnswer = fc.oneof(
  hostileValue,
  fc.record({ ok: fc.constant(true), records: fc.oneof(hostileValue, fc.array(fc.array(hostileString, { maxLength: 3 }), { maxLength: 3 }), fc.constant([['v=STSv1; id=1']])) }),
  fc.record({ ok: fc.constant(false), kind: fc.oneof(hostileValue, fc.constantFrom('none', 'temporary')), detail: hostileValue }, { requiredKeys: ['ok'] }),
);
const httpsAnswer = fc.oneof(
  hostileValue,
  fc.record(
    {
      ok: fc.constant(true),
      status: fc.oneof(hostileValue, fc.constantFrom(200, 301, 404, 65536, -1, 1.5)),
      contentType: fc.oneof(hostileValue, fc.constant('text/plain')),
      location: hostileValue,
      body: fc.oneof(hostileValue, fc.constant('version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 86400\n')),
      localAddress: hostileValue,
    },
    { requiredKeys: ['ok'] },
  ),
  fc.record({ ok: fc.constant(false), kind: fc.oneof(hostileValue, fc.constantFrom('timeout', 'too-large', 'truncated', 'certificate', 'tls')), detail: hostileValue, received: hostileValue, expected: hostileValue }, { requiredKeys: ['ok'] }),
);
/** A host function: resolves the answer, rejects with it, throws it, or never settles in time. */
const hostCall = (answer) =>
  fc.tuple(answer, fc.constantFrom('resolve', 'reject', 'throw', 'value')).map(([a, how]) => {
    const f = () => {
      if (how === 'resolve') return Promise.resolve(a);
      if (how === 'reject') return Promise.reject(a);
      if (how === 'throw') {
        const e = new Error('host function failed');
        e[POISON] = true; // the host's own exception, passed on or turned into a failure
        throw e;
      }
      return a; // not even a promise
    };
    f[fc.toStringMethod] = () => `${how} ${fc.stringify(a).slice(0, 200)}`;
    return f;
  });

for (const [entry, m] of [['node', node], ['browser', browser]]) {
  test(`${entry}: PolicyResolver driven by hosts that answer arbitrary values settles with a named outcome`, { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(hostCall(txtAnswer), hostCall(httpsAnswer), domain, async (resolveTxt, get, d) => {
        const r = new m.PolicyResolver({ dns: { resolveTxt }, https: { get }, store: m.memoryStore(), recheckAfter: 0 });
        await outcome('PolicyResolver.resolve', () => r.resolve(d));
        await outcome('PolicyResolver.resolve (again, with the cache)', () => r.resolve(d));
      }),
      { seed: SEED, numRuns: RUNS * 2, includeErrorInReport: true },
    );
  });
}

test('after all of that the module still answers the shared vectors', { timeout: 30_000 }, () => {
  const load = (name) => JSON.parse(readFileSync(join(ROOT, 'tests/vectors', name), 'utf8'));
  for (const c of load('policy.json')) {
    const input = c.input !== undefined ? c.input : new Uint8Array(Buffer.from(c.inputBase64, 'base64'));
    if (c.expect.policy) assert.deepEqual(node.parsePolicy(input), c.expect.policy, c.name);
  }
  for (const c of load('record.json')) if (c.expect.record) assert.deepEqual(node.parseRecord(c.input), c.expect.record, c.name);
  for (const c of load('mx.json')) if (typeof c.expect === 'boolean') assert.equal(node.matchMx(c.patterns, c.host), c.expect, c.name);
});

// Regressions found by the properties above, fixed cases so that they stay fixed whatever the seed.
test('regressions: wrong host options are invalid-argument; a failing host keeps the cached policy', { timeout: 30_000 }, async () => {
  const invalid = async (what, p) => {
    await assert.rejects(p, (e) => e instanceof node.MtaStsError && e.code === 'invalid-argument', what);
  };
  await invalid('dnsTimeout DataView', node.resolvePolicy('example.test', { dnsServers: [DNS], dnsTimeout: new DataView(new ArrayBuffer(1)) }));
  await invalid('dnsServers function', (async () => node.createPolicyResolver({ dnsServers: () => 'x' }))());
  await invalid('dnsServers BigInt', node.resolvePolicy('example.test', { dnsServers: [[0n]] }));
  await invalid('resolver without resolve', node.resolvePolicy('example.test', { resolver: {} }));
  await invalid('ca a number', node.resolvePolicy('example.test', { dnsServers: [DNS], ca: 5 }));
  await invalid('policyPort', node.resolvePolicy('example.test', { dnsServers: [DNS], policyPort: 70000 }));
  await invalid('smtpPort BigInt', node.connectMx('example.test', { heloName: 'a.example', dnsServers: [DNS], smtpPort: [0n] }));
  assert.throws(() => new node.PolicyResolver({ dns: {}, https: { get() {} } }), (e) => e.code === 'invalid-argument');

  // A cached policy, then a DNS host that rejects with a non-error, and one whose records are a
  // Proxy that throws: both are failed look-ups, and the cached policy applies.
  const policy = 'version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 86400\n';
  let txt = async () => ({ ok: true, records: [['v=STSv1; id=1']] });
  const r = new node.PolicyResolver({
    dns: { resolveTxt: (name) => txt(name) },
    https: { get: async () => ({ ok: true, status: 200, contentType: 'text/plain', location: null, body: policy }) },
    recheckAfter: 0,
  });
  assert.equal((await r.resolve('example.test')).status, 'found');
  txt = () => Promise.reject('');
  const rejected = await r.resolve('example.test');
  assert.equal(rejected.status, 'cached');
  assert.deepEqual(rejected.errors.map((e) => e.code), ['dns-temporary']);
  txt = async () => ({ ok: true, records: new Proxy([], { get() { throw new Error('trap'); } }) });
  const proxied = await r.resolve('example.test');
  assert.equal(proxied.status, 'cached');
  assert.deepEqual(proxied.errors.map((e) => e.code), ['dns-temporary']);
});
