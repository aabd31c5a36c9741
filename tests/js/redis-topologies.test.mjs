// The Redis store over each form Redis is deployed in, each a real redis-server (Debian's) on
// loopback: TLS (rediss:// with the CA of a private PKI, and refused when the certificate is not
// trusted), Sentinel (redis+sentinel://, a failover followed), Cluster (redis+cluster://, three
// masters: each domain's writes atomic in its own slot, the policies spread over the masters,
// list() and the TLS-RPT counters across the slots).
// Run: scripts/build && node --test tests/js/redis-topologies.test.mjs
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, assertBuilt } from './built-package.mjs';
import { HAVE_REDIS, redisCli, startCluster, startRedis, startSentinel, stopAllRedis } from './redis-server.mjs';

assertBuilt();
const load = (p) => import(pathToFileURL(join(PKG, p)));
const { redisStore, redisTlsrptLog, memoryStore } = await load('js/stores/index.js');
const { sessionResultsFor, dayOf } = await load('js/relay/tlsrpt-log.js');
const { createAuthority, issueCertificate } = await load('js/lab/pki.js');
const { MtaStsError } = await load('js/error.js');

const SKIP = HAVE_REDIS ? false : 'redis-server is not installed (scripts/setup installs it)';
// Debian's redis is built with TLS (BUILD_TLS=yes); redis-cli --help then lists --tls.
const HAVE_TLS = HAVE_REDIS && /--tls\b/.test(redisCli(['--help']));

const entry = (id, fetchedAt = 1000) => ({ id, policyText: `version: STSv1\nmode: enforce\nmx: mx.${id}.test\nmax_age: 86400\n`, fetchedAt, expiresAt: fetchedAt + 86400, checkedAt: fetchedAt });
const opened = [];
const open = (spec, options) => {
  const s = redisStore(spec, options);
  opened.push(s);
  return s;
};
/** A new store (its own memory layer: what it answers came from Redis) once its connection is ready. */
const ready = async (spec) => {
  const s = open(spec);
  assert.ok(await s.connection.waitUntilUp(10_000), `${spec}: connected`);
  return s;
};
const waitFor = async (what, check, tries = 400) => {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`never: ${what}`);
};
const dir = mkdtempSync(join(tmpdir(), 'mtasts-redis-topologies-'));
after(async () => {
  for (const s of opened) await s.close();
  await stopAllRedis();
  rmSync(dir, { recursive: true, force: true });
});

describe('rediss:// (TLS)', { skip: SKIP || (!HAVE_TLS && 'this redis-server has no TLS') }, () => {
  const ca = createAuthority('Redis Test CA');
  const caFile = join(dir, 'redis-ca.pem');
  writeFileSync(caFile, ca.certPem);

  test('ca=FILE: the store talks TLS to a Redis whose certificate chains to that CA; two stores share entries', { timeout: 30_000 }, async () => {
    const redis = await startRedis({ tls: issueCertificate(ca, { names: ['localhost'] }) });
    const url = `rediss://localhost:${redis.port}/0?ca=${encodeURIComponent(caFile)}&prefix=tls:`;
    const a = open(url);
    const b = open(url);
    // A call made before the connection is ready waits for it at most the command timeout, then
    // is answered locally: on a busy machine a TLS handshake can take longer, so wait here.
    assert.ok(await a.connection.waitUntilUp(10_000) && await b.connection.waitUntilUp(10_000), 'TLS connections ready');
    await a.put('example.test', entry('t1'));
    assert.deepEqual(await b.get('example.test'), entry('t1'));
    assert.equal(a.stats.localAnswers + b.stats.localAnswers, 0, 'answered by Redis, over TLS');
    assert.equal(a.connection.up, true);
    const out = redisCli(['--tls', '--cacert', caFile, '-h', 'localhost', '-p', String(redis.port), 'get', 'tls:policy:{example.test}']);
    assert.equal(JSON.parse(out).entry.id, 't1', 'the key is in that Redis');
  });

  test('a certificate not from a trusted CA, or for another name: Redis is not used, the local layer answers, nothing fails', { timeout: 30_000 }, async () => {
    const stranger = createAuthority('Someone Else');
    const untrusted = await startRedis({ tls: issueCertificate(stranger, { names: ['localhost'] }) });
    const events = [];
    const logger = { info() {}, warn: (o) => events.push(o), error: (o) => events.push(o), debug() {} };
    const s = open(`rediss://localhost:${untrusted.port}/0?ca=${encodeURIComponent(caFile)}&timeout=300`, { log: logger });
    await s.put('example.test', entry('local'));
    assert.deepEqual(await s.get('example.test'), entry('local'), 'served from the local layer');
    await waitFor('the refusal logged', () => events.some((e) => e.event === 'redis-down' && /certificate|self.signed|verify/i.test(e.why)));
    assert.equal(s.connection.up, false);
    assert.deepEqual(await s.get('example.test'), entry('local'), 'still the local layer');
    assert.ok(s.pending >= 1, 'the write waits for a Redis it can trust');

    const wrongName = await startRedis({ tls: issueCertificate(ca, { names: ['redis.elsewhere.test'] }) });
    const t = open(`rediss://localhost:${wrongName.port}/0?ca=${encodeURIComponent(caFile)}&timeout=300`, { local: memoryStore() });
    await t.put('example.test', entry('local'));
    assert.deepEqual(await t.get('example.test'), entry('local'));
    assert.equal(await t.connection.waitUntilUp(1000), false, 'the certificate names another host');
  });

  test('ca= needs rediss:// and a readable file', () => {
    for (const bad of [`redis://127.0.0.1:6379/0?ca=${caFile}`, `rediss://127.0.0.1:6379/0?ca=${join(dir, 'missing.pem')}`]) {
      assert.throws(() => redisStore(bad), (e) => e instanceof MtaStsError && e.code === 'store-redis-invalid-spec', bad);
    }
  });
});

describe('redis+sentinel://', { skip: SKIP }, () => {
  test('the store finds the master through the sentinel, and follows a failover to the promoted replica', { timeout: 60_000 }, async () => {
    const master = await startRedis();
    const replica = await startRedis({ extra: ['--replicaof', '127.0.0.1', String(master.port)] });
    const sentinel = await startSentinel(master.port);
    const s = open(`${sentinel.url}?prefix=sen:&timeout=1000`);
    assert.ok(await s.connection.waitUntilUp(10_000), 'the master found through the sentinel');
    await s.put('before.test', entry('b1'));
    assert.equal(s.stats.localAnswers, 0);
    assert.equal(JSON.parse(redisCli(['-p', String(master.port), 'get', 'sen:policy:{before.test}'])).entry.id, 'b1', 'written on the master');
    await waitFor('the replica has it', () => redisCli(['-p', String(replica.port), 'get', 'sen:policy:{before.test}']).includes('b1'));
    await waitFor('the sentinel knows the replica', () => redisCli(['-p', String(sentinel.port), 'sentinel', 'replicas', sentinel.name]).includes(String(replica.port)));

    redisCli(['-p', String(sentinel.port), 'sentinel', 'failover', sentinel.name]);
    await waitFor('the replica is the master', () => redisCli(['-p', String(sentinel.port), 'sentinel', 'get-master-addr-by-name', sentinel.name]).includes(String(replica.port)), 1200);
    await waitFor('the old master follows it', () => redisCli(['-p', String(master.port), 'role']).startsWith('slave'), 1200);
    // Writes go on: the first may land locally (a READONLY answer drops the connection and asks
    // the sentinel again), and every one reaches the new master.
    await waitFor('a write reaches the new master', async () => {
      await s.put('after.test', entry('a1'));
      return redisCli(['-p', String(replica.port), 'get', 'sen:policy:{after.test}']).includes('a1');
    }, 400);
    const other = await ready(`${sentinel.url}?prefix=sen:`);
    assert.deepEqual((await other.list()).map((e) => e.domain), ['after.test', 'before.test']);
  });

  test('URL forms: several sentinels, a db, credentials; mistakes are named', async () => {
    const { parseRedisSpec } = await load('js/stores/redis-connection.js');
    const p = parseRedisSpec('redis+sentinel://:secret@127.0.0.1:26379,[::1]:26380/mymaster/2?prefix=x:');
    assert.deepEqual(p.options.sentinels, [{ host: '127.0.0.1', port: 26379 }, { host: '::1', port: 26380 }]);
    assert.equal(p.options.name, 'mymaster');
    assert.equal(p.options.db, 2);
    assert.equal(p.options.password, 'secret');
    assert.equal(p.prefix, 'x:');
    assert.doesNotMatch(p.where, /secret/);
    const c = parseRedisSpec('rediss+cluster://u:pw@10.0.0.1,10.0.0.2:7001?timeout=900');
    assert.deepEqual(c.cluster, [{ host: '10.0.0.1', port: 6379 }, { host: '10.0.0.2', port: 7001 }]);
    assert.deepEqual([c.options.username, c.options.password, c.commandTimeout], ['u', 'pw', 900]);
    assert.ok(c.options.tls, 'rediss+: TLS to every node');
    for (const bad of ['redis+sentinel://127.0.0.1:26379', 'redis+sentinel://127.0.0.1:26379/m/x', 'redis+cluster://127.0.0.1:7000/3',
      'redis+cluster://127.0.0.1:99999', 'redis+cluster://127.0.0.1:7000?db=1', 'redis+cluster://']) {
      assert.throws(() => parseRedisSpec(bad), (e) => e instanceof MtaStsError && e.code === 'store-redis-invalid-spec', bad);
    }
  });
});

describe('redis+cluster://', { skip: SKIP }, () => {
  test('policies spread over the masters (a hash slot per domain), writes stay atomic and newest-wins, list() reads every slot', { timeout: 60_000 }, async () => {
    const cluster = await startCluster(3);
    const a = open(`${cluster.url}?prefix=cl:`);
    const b = open(`${cluster.url}?prefix=cl:`);
    // Until the client has the slot map, calls are answered locally (and writes wait): measured
    // here from when both are ready.
    assert.ok(await a.connection.waitUntilUp(10_000) && await b.connection.waitUntilUp(10_000), 'the cluster clients become ready');
    const domains = Array.from({ length: 30 }, (_, i) => `d${i}.example.test`);
    await Promise.all(domains.map((d, i) => a.put(d, entry(`v${i}`))));
    assert.equal(a.stats.localAnswers, 0, 'every write reached the cluster');
    const perNode = cluster.ports.map((port) => redisCli(['-p', String(port), '--scan', '--pattern', 'cl:policy:*']).split('\n').filter(Boolean).length);
    assert.equal(perNode.reduce((x, y) => x + y, 0), 30, `each policy once: ${perNode}`);
    assert.ok(perNode.filter((k) => k > 0).length >= 2, `the policies are on several masters: ${perNode}`);
    for (const [i, d] of domains.entries()) assert.equal((await b.get(d)).id, `v${i}`, d);
    // Newest fetch wins under concurrent writers, on the domain's own slot.
    const puts = [];
    for (let t = 1; t <= 20; t++) puts.push((t % 2 ? a : b).put('race.test', entry(`r${t}`, 2000 + t)));
    await Promise.all(puts.reverse());
    assert.equal((await (await ready(`${cluster.url}?prefix=cl:`)).get('race.test')).id, 'r20');
    await b.delete('d0.example.test');
    assert.equal(await a.get('d0.example.test'), null, 'a tombstone on its slot');
    const listed = (await (await ready(`${cluster.url}?prefix=cl:`)).list()).map((e) => e.domain);
    assert.deepEqual(listed, [...domains.slice(1), 'race.test'].sort());
  });

  test('TLS-RPT counters of two logs add up on a cluster (a day\'s keys share a slot)', { timeout: 60_000 }, async () => {
    const cluster = await startCluster(3);
    const day = dayOf(new Date());
    const logs = [redisTlsrptLog(`${cluster.url}?prefix=rc:`), redisTlsrptLog(`${cluster.url}?prefix=rc:`)];
    opened.push(...logs);
    for (const l of logs) assert.ok(await l.connection.waitUntilUp(10_000));
    const rec = (result) => ({ at: new Date(), policyDomain: 'example.test', policyType: 'sts', policyId: 'id1', mode: 'enforce', policyStrings: ['version: STSv1'], mxPatterns: ['mx.example.test'], count: 1, kind: 'session', mx: 'mx.example.test', address: '127.0.0.1', sendingIp: '127.0.0.2', result, code: result, message: '' });
    for (let i = 0; i < 40; i++) await logs[i % 2].record('example.test', rec(i % 4 === 0 ? 'certificate-expired' : 'success'));
    await Promise.all(logs.map((l) => l.flush()));
    const reader = redisTlsrptLog(`${cluster.url}?prefix=rc:`);
    opened.push(reader);
    assert.ok(await reader.connection.waitUntilUp(10_000));
    assert.deepEqual(await reader.days(), [day]);
    const results = await sessionResultsFor(reader, day);
    const sum = (r) => results.filter((x) => x.result === r).reduce((k, x) => k + x.count, 0);
    assert.deepEqual([sum('success'), sum('certificate-expired')], [30, 10]);
  });
});
