// Policy discovery through the library (createPolicyResolver) against the lab's embedded DNS server
// and HTTPS policy host: the whole scenario catalogue, then the cache rules of RFC 8461 §3.3, §5.1
// and §10.2 with a moved clock (PolicyResolver's `now`) and the lab's request and query counters.
// Run: scripts/build && node --test tests/js/resolve-lab.test.mjs
import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, assertBuilt } from './built-package.mjs';

assertBuilt();
const { createPolicyResolver, memoryStore, resolvePolicy, MtaStsError, PolicyResolver } = await import(pathToFileURL(join(PKG, 'js/node/index.js')));
const { startLab } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));
const { sharedResolver } = await import(pathToFileURL(join(PKG, 'js/node/resolve.js')));

const DAY = 86400;
const T0 = Date.UTC(2030, 0, 1); // ms; the clock every cache test starts from

let lab;
before(async () => {
  lab = await startLab();
});
after(() => lab?.stop());

/** A resolver on the lab with its own memory store and a clock the test moves. */
function labResolver(options = {}) {
  const clock = { t: T0 };
  const resolver = createPolicyResolver({
    dnsServers: [lab.dns.server],
    ca: lab.caPem,
    policyPort: lab.policyPort,
    timeout: 2000,
    dnsTimeout: 500,
    store: memoryStore(),
    now: () => clock.t,
    random: () => 0,
    ...options,
  });
  return { resolver, clock, advance: (seconds) => (clock.t += seconds * 1000) };
}

const codes = (r) => r.errors.map((e) => e.code);
const txtQueries = (domain) => lab.queries[`_mta-sts.${domain} TXT`] ?? 0;

describe('the scenario catalogue through createPolicyResolver', () => {
  test('every scenario gives its expected status, mode and error code', { timeout: 180_000 }, async () => {
    const { resolver } = labResolver();
    const results = await Promise.all(lab.scenarios.map((s) => resolver.resolve(s.domain)));
    lab.scenarios.forEach((s, i) => {
      const r = results[i];
      const e = s.expect;
      assert.equal(r.status, e.status, `${s.name}: status`);
      assert.equal(r.policy?.mode, e.mode, `${s.name}: mode`);
      if (e.errorCode) assert.ok(codes(r).includes(e.errorCode), `${s.name}: ${codes(r)} includes ${e.errorCode}`);
      else assert.deepEqual(codes(r), [], `${s.name}: no error`);
      if (e.status === 'found') {
        assert.equal(r.source, 'network', `${s.name}: source`);
        assert.equal(r.id, lab.state(s.name).id, `${s.name}: id`);
      } else {
        assert.equal(r.policy, null, `${s.name}: no policy`);
      }
      for (const err of r.errors) assert.match(err.tlsrpt, /^sts-(policy-fetch-error|policy-invalid|webpki-invalid)$/);
    });
  });

  test('hostile policy hosts end with their named error within the fetch bound', { timeout: 180_000 }, async () => {
    const { resolver } = labResolver({ timeout: 1500 });
    const [large, slow] = await Promise.all([resolver.resolve('policy-too-large.test'), resolver.resolve('policy-slow.test')]);
    assert.deepEqual(codes(large), ['policy-too-large']);
    assert.equal(large.errors[0].tlsrpt, 'sts-policy-fetch-error');
    assert.deepEqual(codes(slow), ['policy-fetch-timeout']);
    assert.equal(slow.status, 'none');
  });
});

describe('cache semantics with a moved clock', () => {
  const touched = [];
  const use = (name) => (touched.push(name), `${name}.test`);
  afterEach(() => {
    for (const name of touched.splice(0)) lab.reset(name);
  });

  test('id unchanged: the TXT record is asked again, the policy is not fetched again', { timeout: 180_000 }, async () => {
    const domain = use('enforce-valid');
    const { resolver, advance } = labResolver();
    const requests = lab.requests[domain];
    const first = await resolver.resolve(domain);
    assert.equal(first.status, 'found');
    assert.equal(lab.requests[domain], requests + 1);

    const queries = txtQueries(domain);
    advance(301); // past the default recheckAfter (300 s)
    const second = await resolver.resolve(domain);
    assert.equal(second.status, 'cached');
    assert.equal(second.source, 'cache');
    assert.equal(second.policy.mode, 'enforce');
    assert.equal(txtQueries(domain), queries + 1, 'the TXT record was asked');
    assert.equal(lab.requests[domain], requests + 1, 'no HTTPS request');
  });

  test('id changed (lab.rotate): the new policy is fetched and replaces the old', { timeout: 180_000 }, async () => {
    const domain = use('id-rotated');
    const { resolver, advance } = labResolver();
    const first = await resolver.resolve(domain);
    assert.deepEqual([first.status, first.id, first.policy.mode], ['found', 'rot1', 'testing']);
    const requests = lab.requests[domain];

    const { id, mode } = lab.rotate('id-rotated');
    advance(301);
    const second = await resolver.resolve(domain);
    assert.deepEqual([second.status, second.id, second.policy.mode], ['found', id, mode]);
    assert.equal(second.policy.maxAge, 604800);
    assert.equal(lab.requests[domain], requests + 1, 'one HTTPS request for the new id');
  });

  test('id changed but the fetch fails: the cached policy is kept, with the error', { timeout: 180_000 }, async () => {
    const domain = use('enforce-valid');
    const { resolver, advance } = labResolver();
    const first = await resolver.resolve(domain);
    lab.update('enforce-valid', { txt: [['v=STSv1; id=changed2']], policy: { status: 500, contentType: 'text/plain', body: 'down\n' } });
    advance(301);
    const requests = lab.requests[domain];
    const second = await resolver.resolve(domain);
    assert.equal(lab.requests[domain], requests + 1, 'the new id was fetched');
    assert.equal(second.status, 'cached');
    assert.equal(second.id, first.id, 'still the old id');
    assert.equal(second.policy.mode, 'enforce');
    assert.deepEqual(codes(second), ['policy-http-status']);
    assert.equal(second.expiresAt.getTime(), first.expiresAt.getTime(), 'the failed fetch does not extend the old policy');
  });

  test('TXT record removed: the cached policy applies until it expires, then there is none', { timeout: 180_000 }, async () => {
    const domain = use('enforce-valid');
    const { resolver, clock, advance } = labResolver();
    const first = await resolver.resolve(domain);
    lab.update('enforce-valid', { txt: [] });
    advance(301);
    const kept = await resolver.resolve(domain);
    assert.equal(kept.status, 'cached', 'RFC 8461 §10.2: a missing record never removes a cached policy');
    assert.equal(kept.policy.mode, 'enforce');

    clock.t = first.expiresAt.getTime() - 1000;
    assert.equal((await resolver.resolve(domain)).status, 'cached', 'one second before expiry');
    clock.t = first.expiresAt.getTime();
    const gone = await resolver.resolve(domain);
    assert.equal(gone.status, 'none', 'at fetchedAt + max_age the policy has expired');
    assert.equal(gone.policy, null);
  });

  test('max_age boundary: the policy expires exactly at fetchedAt + max_age', { timeout: 180_000 }, async () => {
    const domain = use('enforce-valid');
    const { resolver, clock } = labResolver();
    const first = await resolver.resolve(domain);
    assert.equal(first.fetchedAt.getTime(), T0);
    assert.equal(first.expiresAt.getTime(), T0 + first.policy.maxAge * 1000);
    assert.equal(first.policy.maxAge, DAY);

    // At expiry with an unchanged id the policy is fetched again (it is not used past max_age).
    const requests = lab.requests[domain];
    clock.t = first.expiresAt.getTime();
    const again = await resolver.resolve(domain);
    assert.equal(again.status, 'found');
    assert.equal(lab.requests[domain], requests + 1);
    assert.equal(again.expiresAt.getTime(), clock.t + DAY * 1000);
  });

  test('expired cache and a failing fetch: no policy, with the error', { timeout: 180_000 }, async () => {
    const domain = use('enforce-valid');
    const { resolver, clock } = labResolver();
    const first = await resolver.resolve(domain);
    lab.update('enforce-valid', { policy: { status: 500, contentType: 'text/plain', body: 'down\n' } });
    clock.t = first.expiresAt.getTime() + 1000;
    const r = await resolver.resolve(domain);
    assert.equal(r.status, 'none');
    assert.equal(r.policy, null);
    assert.deepEqual(codes(r), ['policy-http-status']);
  });

  test('DNS failing while a cached policy is live: the cached policy keeps applying', { timeout: 180_000 }, async () => {
    const domain = use('enforce-valid');
    const { resolver, advance } = labResolver();
    await resolver.resolve(domain);
    lab.update('enforce-valid', { dnsFault: 'servfail' });
    advance(301);
    const r = await resolver.resolve(domain);
    assert.equal(r.status, 'cached');
    assert.deepEqual(codes(r), ['dns-temporary']);
  });

  test('recheckAfter 0 asks the TXT record every time, and still fetches only once', { timeout: 180_000 }, async () => {
    const domain = use('enforce-valid');
    const { resolver } = labResolver({ recheckAfter: 0 });
    const queries = txtQueries(domain);
    const requests = lab.requests[domain];
    assert.equal((await resolver.resolve(domain)).status, 'found');
    assert.equal((await resolver.resolve(domain)).status, 'cached');
    assert.equal((await resolver.resolve(domain)).status, 'cached');
    assert.equal(txtQueries(domain), queries + 3);
    assert.equal(lab.requests[domain], requests + 1);
  });

  test('within recheckAfter the answer is reused without any DNS query', { timeout: 180_000 }, async () => {
    const domain = use('enforce-valid');
    const { resolver, advance } = labResolver();
    await resolver.resolve(domain);
    const queries = txtQueries(domain);
    advance(299);
    assert.equal((await resolver.resolve(domain)).status, 'found');
    assert.equal(txtQueries(domain), queries);
  });

  test('dueForRefresh lists an entry from 75% of its lifetime; refreshDue fetches it', { timeout: 180_000 }, async () => {
    const domain = use('enforce-valid');
    const { resolver, clock } = labResolver();
    await resolver.resolve(domain);
    clock.t = T0 + 0.75 * DAY * 1000 - 1000;
    assert.deepEqual(await resolver.dueForRefresh(), [], 'not due just before 75%');
    clock.t = T0 + 0.75 * DAY * 1000;
    assert.deepEqual(await resolver.dueForRefresh(), [domain]);

    const requests = lab.requests[domain];
    const [refreshed] = await resolver.refreshDue();
    assert.equal(refreshed.status, 'found');
    assert.equal(lab.requests[domain], requests + 1, 'the refresh fetched the policy although the id is unchanged');
    assert.equal(refreshed.expiresAt.getTime(), clock.t + DAY * 1000, 'a new lifetime from the refresh');
    assert.deepEqual(await resolver.dueForRefresh(), []);
  });

  test('a refresh that fails keeps the cached policy', { timeout: 180_000 }, async () => {
    const domain = use('enforce-valid');
    const { resolver, clock } = labResolver();
    const first = await resolver.resolve(domain);
    lab.update('enforce-valid', { policy: { status: 500, contentType: 'text/plain', body: 'down\n' } });
    clock.t = T0 + 0.8 * DAY * 1000;
    const [r] = await resolver.refreshDue();
    assert.equal(r.status, 'cached');
    assert.deepEqual(codes(r), ['policy-http-status']);
    assert.equal(r.expiresAt.getTime(), first.expiresAt.getTime());
  });
});

describe('resolvePolicy shares one cache per host configuration (RFC 8461 §5.1, §10.2)', () => {
  afterEach(() => lab.reset('enforce-valid'));
  // A new but equal options object on every call, as a script calling resolvePolicy would pass.
  const labOptions = (extra = {}) => ({
    dnsServers: [lab.dns.server],
    ca: lab.caPem,
    policyPort: lab.policyPort,
    timeout: 2000,
    dnsTimeout: 500,
    ...extra,
  });

  test('two calls with equal options: the second answers from the cache, one HTTPS request in all', { timeout: 180_000 }, async () => {
    const domain = 'enforce-valid.test';
    const requests = lab.requests[domain] ?? 0;
    const queries = txtQueries(domain);
    // recheckAfter 0: the second call asks the TXT record again, so the cache (not a reused answer)
    // is what spares the fetch.
    const first = await resolvePolicy(domain, labOptions({ recheckAfter: 0 }));
    assert.deepEqual([first.status, first.source], ['found', 'network']);
    const second = await resolvePolicy(domain, labOptions({ recheckAfter: 0 }));
    assert.deepEqual([second.status, second.source, second.id], ['cached', 'cache', first.id]);
    assert.equal(txtQueries(domain), queries + 2, 'the TXT record was asked twice');
    assert.equal(lab.requests[domain], requests + 1, 'the policy was fetched once');
  });

  test('the cache survives a removed TXT record between calls (the downgrade defence)', { timeout: 180_000 }, async () => {
    const domain = 'enforce-valid.test';
    const options = () => labOptions({ recheckAfter: 0, timeout: 2001 }); // a configuration of its own
    assert.equal((await resolvePolicy(domain, options())).status, 'found');
    lab.update('enforce-valid', { txt: [] });
    const kept = await resolvePolicy(domain, options());
    assert.equal(kept.status, 'cached', 'RFC 8461 §10.2: a missing record never removes a cached policy');
    assert.equal(kept.policy.mode, 'enforce');
  });

  test('other options are another configuration; a caller-given store is used as given', { timeout: 180_000 }, async () => {
    const domain = 'enforce-valid.test';
    const requests = lab.requests[domain] ?? 0;
    await resolvePolicy(domain, labOptions({ recheckAfter: 0, timeout: 2002 }));
    await resolvePolicy(domain, labOptions({ recheckAfter: 0, timeout: 2003 }));
    assert.equal(lab.requests[domain], requests + 2, 'a different timeout is a different host configuration');
    const store = memoryStore();
    const mine = await resolvePolicy(domain, labOptions({ store }));
    assert.equal(mine.source, 'network', 'a fresh store starts empty');
    assert.equal((await store.get(domain)).id, mine.id, "the policy went into the caller's store");
  });

  test('a domain that is not a string is invalid-argument, not a wasm trap', { timeout: 180_000 }, async () => {
    for (const bad of [42, undefined, null, {}, ['example.test']]) {
      await assert.rejects(resolvePolicy(bad, labOptions()), (e) => e instanceof MtaStsError && e.code === 'invalid-argument', String(bad));
    }
    await assert.rejects(resolvePolicy('enforce-valid.test', 42), (e) => e instanceof MtaStsError && e.code === 'invalid-argument');
  });
});

describe('a store that cannot be written (RFC 8461 §3.3)', () => {
  afterEach(() => lab.reset('enforce-valid'));

  test('the fetched policy is still returned; the failure is an errors entry and goes to onStoreError', { timeout: 180_000 }, async () => {
    const domain = 'enforce-valid.test';
    const failing = { ...memoryStore(), put: async () => { throw new MtaStsError('store-io-error', 'disk full (test)'); } };
    const seen = [];
    const { resolver } = labResolver({ store: failing, onStoreError: (err, d) => seen.push([err.code, err.temporary, d]) });
    const r = await resolver.resolve(domain);
    assert.equal(r.status, 'found', 'a policy fetched fine is not turned into a failure');
    assert.equal(r.source, 'network');
    assert.equal(r.policy.mode, 'enforce');
    assert.deepEqual(codes(r), ['store-io-error']);
    assert.equal(r.errors[0].temporary, true);
    assert.equal(r.errors[0].tlsrpt, null, 'not a policy failure of the domain: nothing for its TLS-RPT');
    assert.match(r.errors[0].message, /disk full \(test\)/);
    assert.deepEqual(seen, [['store-io-error', true, domain]]);
    assert.equal(resolver.storeErrors, 1);
  });

  test('an onStoreError that throws does not break the look-up', { timeout: 180_000 }, async () => {
    const failing = { ...memoryStore(), put: async () => { throw new Error('EIO'); } };
    const { resolver } = labResolver({ store: failing, onStoreError: () => { throw new Error('observer'); } });
    const r = await resolver.resolve('enforce-valid.test');
    assert.deepEqual([r.status, codes(r)], ['found', ['store-io-error']]);
  });
});

test('a truncated body from the HTTPS host is reported by the core as policy-truncated, with the byte counts', { timeout: 180_000 }, async () => {
  const resolver = new PolicyResolver({
    dns: { resolveTxt: async () => ({ ok: true, records: [['v=STSv1; id=t1']] }) },
    // What js/node/https.js reports when the connection ends before Content-Length bytes.
    https: { get: async () => ({ ok: false, kind: 'truncated', detail: 'ERR_BODY_TRUNCATED', message: 'cut off', received: 400, expected: 1000 }) },
  });
  const r = await resolver.resolve('truncated.example');
  assert.equal(r.status, 'none');
  assert.deepEqual(codes(r), ['policy-truncated']);
  assert.equal(r.errors[0].tlsrpt, 'sts-policy-fetch-error');
  assert.match(r.errors[0].message, /cut off: the connection ended after 400 of 1000 bytes/);
});

test('sharedResolver: one resolver per equal host configuration, bounded; own store, clock or resolver are kept apart', { timeout: 180_000 }, () => {
  const config = { dnsServers: ['127.0.0.1:1'], ca: [Buffer.from('ca bytes')], policyPort: 1, timeout: 5, dnsTimeout: 5 };
  const one = sharedResolver(config);
  assert.equal(sharedResolver({ ...config, ca: [Buffer.from('ca bytes')] }), one, 'equal options, new objects');
  assert.equal(sharedResolver({ ...config, ca: [new Uint8Array(Buffer.from('ca bytes'))] }), one, 'the same CA bytes as a Uint8Array');
  assert.notEqual(sharedResolver({ ...config, ca: [Buffer.from('other ca')] }), one);
  assert.notEqual(sharedResolver({ ...config, recheckAfter: 0 }), one);
  assert.equal(sharedResolver(), sharedResolver({}), 'no options is one configuration too');
  const store = memoryStore();
  const own = sharedResolver({ ...config, store });
  assert.notEqual(own, one);
  assert.equal(own.store, store);
  assert.notEqual(sharedResolver({ ...config, store }), own, 'a caller-given store gets a resolver per call');
  assert.notEqual(sharedResolver({ ...config, now: () => 0 }), one, 'a caller-given clock too');
  assert.equal(sharedResolver({ ...config, resolver: own }), own, 'a given resolver is used as it is');
  // Bounded: after 16 other configurations the first one is dropped (and made anew).
  for (let port = 2; port < 18; port++) sharedResolver({ ...config, policyPort: port });
  assert.notEqual(sharedResolver(config), one);
});
