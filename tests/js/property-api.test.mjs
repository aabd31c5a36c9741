// Property tests (issue 14 §4) over the synchronous public API of both entries (Node's and the
// browser's): every function, given arbitrary JS values (wrong types, huge strings, lone
// surrogates, typed arrays, Proxies and getters that throw, objects with toString), returns or
// throws an MtaStsError whose code is one of errorCodes() (or lets through the error a hostile
// value itself threw) — never a TypeError of its own, never a wasm trap. Afterwards the module
// still answers every shared vector (tests/vectors/) as before: no call poisoned the wasm instance.
// Seeded: the seed is printed; MTASTS_PROPERTY_SEED=<seed> replays a run (fast-check also prints
// the seed and the shrunk counterexample's path when a property fails).
// Run: scripts/build && node --test tests/js/property-api.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { ROOT, PKG, assertBuilt } from './built-package.mjs';
import { checkOutcome, hostileString, hostileValue, propertySeed, thrownBy } from './property-hostile-values.mjs';

assertBuilt();
const node = await import(join(PKG, 'js/node/index.js'));
const browser = await import(join(PKG, 'js/browser/index.js'));
await browser.init(readFileSync(join(PKG, 'wasm/mtasts_bg.wasm')));

const SEED = propertySeed('property-api.test.mjs');
const RUNS = Number(process.env.MTASTS_PROPERTY_RUNS ?? 150);
const load = (name) => JSON.parse(readFileSync(join(ROOT, 'tests/vectors', name), 'utf8'));
const der = (name) => new Uint8Array(readFileSync(join(ROOT, 'tests/pki', `${name}.der`)));
const CHAIN = [der('mx-ec'), der('int-ec')];
const ROOTS = [der('ca-rsa'), der('ca-ec')];
const GOOD_POLICY = 'version: STSv1\nmode: enforce\nmx: mx1.example.test\nmx: *.example.net\nmax_age: 86400\n';

/** Values that get past the type checks and reach the core: strings, bytes, string arrays. */
const nearValid = fc.oneof(
  hostileString,
  fc.array(hostileString, { maxLength: 5 }),
  fc.array(fc.array(hostileString, { maxLength: 3 }), { maxLength: 4 }),
  fc.uint8Array({ maxLength: 200 }),
  hostileString.map((s) => Buffer.from(`${GOOD_POLICY}${s}`)),
  hostileString.map((s) => GOOD_POLICY.replace('mx1.example.test', s)),
);
const arg = fc.oneof({ weight: 2, arbitrary: hostileValue }, { weight: 2, arbitrary: nearValid });

/** Every synchronous public function: name → how to call it with generated arguments. */
const CALLS = {
  parseRecord: [arg],
  selectRecord: [arg],
  lintRecord: [arg, arg],
  parseTlsRptRecord: [arg],
  selectTlsRptRecord: [arg],
  lintTlsRptRecord: [arg, arg],
  parsePolicy: [arg],
  lintPolicy: [arg],
  formatPolicy: [fc.oneof(arg, fc.record({ version: arg, mode: fc.oneof(arg, fc.constantFrom('enforce', 'testing', 'none')), maxAge: fc.oneof(arg, fc.integer()), mx: arg, extensions: fc.oneof(arg, fc.dictionary(hostileString, hostileString, { maxKeys: 3 })) }, { requiredKeys: [] }))],
  matchMx: [arg, arg],
  matchMxList: [arg, arg],
  verifyCertificate: [
    fc.oneof(arg, fc.constant(CHAIN), fc.array(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constant(CHAIN[0])), { maxLength: 4 })),
    arg,
    fc.oneof(arg, fc.record({ now: arg, roots: fc.oneof(arg, fc.constant(ROOTS)), ring: arg }, { requiredKeys: [] })),
  ],
  buildTlsRptReports: [
    fc.oneof(
      arg,
      fc.record(
        {
          organization: fc.oneof(arg, fc.constant('Org')),
          contact: fc.oneof(arg, fc.constant('mailto:a@b.example')),
          submitter: fc.oneof(arg, fc.constant('b.example')),
          day: fc.oneof(arg, fc.constantFrom('2026-12-01', '2026-13-01', '1-1-1')),
          results: fc.oneof(arg, fc.array(fc.oneof(hostileValue, fc.dictionary(fc.constantFrom('policyDomain', 'result', 'policy', 'mx', 'at', 'type', 'count', 'sendingIp', 'receivingIp', 'receivingMx'), hostileValue)), { maxLength: 4 })),
        },
        { requiredKeys: [] },
      ),
    ),
  ],
  readTlsRptReport: [fc.oneof(arg, hostileValue.map((v) => { try { return JSON.stringify(v) ?? 'null'; } catch { return '{}'; } }))],
  errorCodes: [],
};

function sharedVectorsStillHold(m, entry) {
  for (const c of load('record.json')) {
    if (c.expect.record) assert.deepEqual(m.parseRecord(c.input), c.expect.record, `${entry}: record ${c.name}`);
    else assert.throws(() => m.parseRecord(c.input), (e) => e instanceof m.MtaStsError && e.code === c.expect.error.code, `${entry}: record ${c.name}`);
  }
  for (const c of load('select.json')) {
    if ('record' in c.expect) assert.deepEqual(m.selectRecord(c.input), c.expect.record, `${entry}: select ${c.name}`);
  }
  for (const c of load('policy.json')) {
    const input = c.input !== undefined ? c.input : new Uint8Array(Buffer.from(c.inputBase64, 'base64'));
    if (c.expect.policy) assert.deepEqual(m.parsePolicy(input), c.expect.policy, `${entry}: policy ${c.name}`);
    else assert.throws(() => m.parsePolicy(input), (e) => e instanceof m.MtaStsError && e.code === c.expect.error.code, `${entry}: policy ${c.name}`);
  }
  for (const c of load('mx.json')) {
    if (typeof c.expect === 'boolean') assert.equal(m.matchMx(c.patterns, c.host), c.expect, `${entry}: mx ${c.name}`);
  }
  const v = m.verifyCertificate(CHAIN, 'a.wild.example.test', { now: new Date('2028-01-01T00:00:00Z'), roots: ROOTS });
  assert.equal(v.ok, true, `${entry}: the certificate vector`);
}

for (const [entry, m] of [['node', node], ['browser', browser]]) {
  const codes = new Set(m.errorCodes().map((e) => e.code));
  const ctx = { MtaStsError: m.MtaStsError, codes };

  for (const [name, args] of Object.entries(CALLS)) {
    test(`${entry}: ${name} on arbitrary values returns or throws a named MtaStsError`, { timeout: 60_000 }, () => {
      fc.assert(
        fc.property(fc.tuple(...args), (values) => {
          checkOutcome(`${name}(${values.length} args)`, thrownBy(() => m[name](...values)), ctx);
        }),
        { seed: SEED, numRuns: name === 'errorCodes' ? 3 : RUNS, includeErrorInReport: true },
      );
    });
  }

  test(`${entry}: matchMx on a parsed policy whose mx list was tampered with`, { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(hostileValue, hostileValue, (mx, host) => {
        const policy = m.parsePolicy(GOOD_POLICY);
        policy.mx = mx;
        checkOutcome('matchMx(tampered policy)', thrownBy(() => m.matchMx(policy, host)), ctx);
        checkOutcome('matchMxList(tampered policy)', thrownBy(() => m.matchMxList(policy, [host])), ctx);
      }),
      { seed: SEED, numRuns: RUNS, includeErrorInReport: true },
    );
  });

  test(`${entry}: after all of that the module still answers every shared vector`, { timeout: 60_000 }, () => {
    sharedVectorsStillHold(m, entry);
  });
}

// Regression (found by this file): the glue that copies bytes into the module trusts `length`, so
// a Uint8Array that lies about it (an own getter) made the core read past the bytes into stale
// module memory — lint quoted that memory back, and a lie of 1e9 grew the module by a gigabyte.
test('a Uint8Array that lies about its length is read for its real bytes only', { timeout: 30_000 }, () => {
  const lying = (bytes) => {
    const u = new Uint8Array(bytes);
    Object.defineProperty(u, 'length', { get: () => 1e8 });
    return u;
  };
  const rss = process.memoryUsage().rss;
  for (const m of [node, browser]) {
    assert.deepEqual(m.parsePolicy(lying(Buffer.from(GOOD_POLICY))).mx, ['mx1.example.test', '*.example.net']);
    const lint = m.lintPolicy(lying([0x6a, 0x75, 0x6e, 0x6b]));
    assert.equal(lint.diagnostics[0].message, 'expected "key: value", found "junk"');
    const now = new Date('2028-01-01T00:00:00Z');
    assert.deepEqual(m.verifyCertificate([lying(CHAIN[0]), CHAIN[1]], 'a.wild.example.test', { now, roots: [ROOTS[0], lying(ROOTS[1])] }), { ok: true });
  }
  assert.ok(process.memoryUsage().rss - rss < 64 * 1024 * 1024, 'no allocation the size of the lie');
});
