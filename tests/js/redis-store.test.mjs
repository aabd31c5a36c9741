// The Redis store and TLS-RPT log (js/stores/redis*.js) against a private redis-server: sharing
// between processes' connections, newer-fetch-wins writes, garbage under our keys, Redis down,
// killed and restarted, a peer that never answers, TLS-RPT counters that add up exactly once.
// Run: scripts/build && node --test tests/js/redis-store.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { PKG, assertBuilt } from './built-package.mjs';
import { HAVE_REDIS, startRedis, startSilentPeer, stopAllRedis } from './redis-server.mjs';

const SKIP = HAVE_REDIS ? false : 'redis-server is not installed (scripts/setup installs it)';
assertBuilt();
const load = (p) => import(pathToFileURL(join(PKG, p)));
const { redisStore, redisTlsrptLog, fileStore, memoryStore } = await load('js/stores/index.js');
const { sessionResultsFor, pruneTlsrptLog, dayOf } = await load('js/relay/tlsrpt-log.js');
const { ADD_TLSRPT_BATCH } = await load('js/stores/redis-scripts.js');
const { MtaStsError } = await load('js/error.js');
const Redis = createRequire(join(PKG, 'package.json'))('ioredis');

const ENTRY = { id: 'a1', policyText: 'version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 86400\n', fetchedAt: 1000, expiresAt: 87400, checkedAt: 1000 };

let redis;
let raw; // a plain ioredis client, to look at and spoil keys
let dir;
let n = 0;
const opened = [];
/** A store with a prefix of its own (unless given), as another process would have it. */
function store(options = {}, spec = `${redis.url}?prefix=${options.prefix ?? `t${++n}:`}`) {
  const s = redisStore(spec, options);
  opened.push(s);
  return s;
}
function log(prefix, options = {}) {
  const l = redisTlsrptLog(`${redis.url}?prefix=${prefix}`, options);
  opened.push(l);
  return l;
}
const waitFor = async (what, check) => {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`never: ${what}`);
};

before(async () => {
  if (SKIP) return;
  redis = await startRedis();
  raw = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  await raw.connect();
  dir = mkdtempSync(join(tmpdir(), 'mtasts-redis-store-'));
});
after(async () => {
  for (const s of opened) await s.close();
  raw?.disconnect();
  await stopAllRedis();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('redisStore', { skip: SKIP }, () => {
  test('two stores (two connections, two local layers) share one entry; the key layout is documented', async () => {
    const a = store({ prefix: 'share:' });
    const b = store({ prefix: 'share:' });
    await a.put('example.test', ENTRY);
    assert.deepEqual(await b.get('example.test'), ENTRY, 'b has its own memory layer: the entry came from Redis');
    assert.deepEqual(JSON.parse(await raw.get('share:policy:{example.test}')), { mtastsStore: 1, domain: 'example.test', entry: ENTRY });
    assert.deepEqual(await raw.smembers('share:domains'), ['example.test']);
    assert.deepEqual(await b.list(), [{ domain: 'example.test', entry: ENTRY }]);
    await b.delete('example.test');
    assert.equal(await a.get('example.test'), null, 'a had it in its memory layer: the tombstone removed it there');
    assert.equal(await a.local.get('example.test'), null);
    assert.deepEqual(JSON.parse(await raw.get('share:policy:{example.test}')), { mtastsStore: 1, domain: 'example.test', deleted: { fetchedAt: 1000, checkedAt: 1000 } });
    assert.ok((await raw.ttl('share:policy:{example.test}')) > 365 * 86400, 'the tombstone outlives any max_age');
    assert.deepEqual(await raw.smembers('share:domains'), ['example.test'], 'a deleted domain stays indexed (no delete can race a put out of the index)');
    assert.deepEqual(await b.list(), [], 'list() skips the tombstone');
    await a.put('example.test', ENTRY);
    assert.equal(await b.get('example.test'), null, 'the entry deleted does not come back');
    await a.put('example.test', { ...ENTRY, fetchedAt: 1001 });
    assert.equal((await b.get('example.test')).fetchedAt, 1001, 'a later fetch does');
    assert.equal(a.stats.localAnswers + b.stats.localAnswers, 0, 'every answer came from Redis');
  });

  test('a put never replaces an entry fetched later (or fetched at once and checked later)', async () => {
    const a = store({ prefix: 'order:' });
    const b = store({ prefix: 'order:' });
    await a.put('example.test', { ...ENTRY, id: 'new', fetchedAt: 2000, checkedAt: 2000 });
    await b.put('example.test', { ...ENTRY, id: 'old', fetchedAt: 1000, checkedAt: 1500 });
    assert.equal(JSON.parse(await raw.get('order:policy:{example.test}')).entry.id, 'new');
    assert.equal((await b.get('example.test')).id, 'new', 'b answers with the newer entry and mirrors it locally');
    assert.equal((await b.local.get('example.test')).id, 'new');
    await b.put('example.test', { ...ENTRY, id: 'new', fetchedAt: 2000, checkedAt: 1900 });
    assert.equal((await a.get('example.test')).checkedAt, 2000, 'same fetch, earlier check: kept');
    await b.put('example.test', { ...ENTRY, id: 'new', fetchedAt: 2000, checkedAt: 2100 });
    assert.equal((await a.get('example.test')).checkedAt, 2100, 'same fetch, later check: written');
    // A delete of an entry older than the stored one keeps the stored one.
    await b.local.put('example.test', { ...ENTRY, fetchedAt: 1000 });
    await b.delete('example.test');
    assert.equal((await a.get('example.test')).checkedAt, 2100);

    // Many concurrent writers: the latest fetch is what remains.
    const writers = Array.from({ length: 8 }, () => store({ prefix: 'race:' }));
    const puts = [];
    for (let t = 1; t <= 40; t++) puts.push(writers[t % 8].put('race.test', { ...ENTRY, id: `v${t}`, fetchedAt: t, checkedAt: t }));
    await Promise.all(puts.reverse());
    assert.equal((await store({ prefix: 'race:' }).get('race.test')).id, 'v40');
  });

  test('garbage under our keys reads as absent (store-corrupt-entry) and is never overwritten when of another type', async () => {
    const errors = [];
    const s = store({ prefix: 'junk:', onError: (e) => errors.push(e) });
    await raw.set('junk:policy:{text.test}', 'not json at all');
    await raw.set('junk:policy:{other.test}', JSON.stringify({ mtastsStore: 1, domain: 'someone-else.test', entry: { id: 'x' } }));
    await raw.set('junk:policy:{array.test}', JSON.stringify({ mtastsStore: 1, domain: 'array.test', entry: [1] }));
    await raw.hset('junk:policy:{hash.test}', 'a', 'b');
    await raw.sadd('junk:domains', 'text.test', 'other.test', 'hash.test', '../etc', 'UPPER.test');
    for (const d of ['text.test', 'other.test', 'array.test', 'hash.test']) assert.equal(await s.get(d), null, d);
    assert.deepEqual(await s.list(), []);
    assert.ok(errors.length >= 4 && errors.every((e) => e instanceof MtaStsError && e.code === 'store-corrupt-entry'), errors.map((e) => e.code).join());
    // A put repairs a string that does not parse, and leaves someone's hash alone.
    await s.put('text.test', ENTRY);
    assert.deepEqual(await store({ prefix: 'junk:' }).get('text.test'), ENTRY);
    await s.put('hash.test', ENTRY);
    assert.equal(await raw.type('junk:policy:{hash.test}'), 'hash');
    assert.ok(errors.some((e) => e.code === 'store-redis-foreign-data' && e.domain === 'hash.test'));
    assert.deepEqual(await s.get('hash.test'), ENTRY, 'the local layer still has it');
    // The index itself of another type: writes refused, reads still answered from the local layer.
    await raw.set('junk2:domains', 'x');
    const t = store({ prefix: 'junk2:', onError: (e) => errors.push(e) });
    await t.put('a.test', ENTRY);
    assert.deepEqual(await t.get('a.test'), ENTRY);
    assert.deepEqual((await t.list()).map((e) => e.domain), ['a.test']);
  });

  test('Redis killed: every call is answered by the local file layer; when it is back the writes are pushed', async () => {
    const own = await startRedis();
    const url = `${own.url}?local=${encodeURIComponent(join(dir, 'local'))}`;
    const events = [];
    const logger = { info: (o) => events.push(o), warn: (o) => events.push(o), error: (o) => events.push(o) };
    const s = redisStore(url, { log: logger });
    opened.push(s);
    await s.put('before.test', ENTRY);
    await own.kill();
    assert.deepEqual(await s.get('before.test'), ENTRY);
    await s.put('during.test', { ...ENTRY, id: 'during' });
    await s.delete('before.test');
    assert.equal(await s.get('before.test'), null);
    assert.deepEqual((await s.list()).map((e) => e.domain), ['during.test']);
    assert.equal(s.pending, 2, 'a put and a delete wait for Redis');
    assert.ok(s.stats.localAnswers >= 4);
    assert.ok(events.some((e) => e.event === 'redis-down'));
    // The local layer is a file store: a new process (fresh connection) on the same dir has it too.
    assert.equal((await fileStore(join(dir, 'local')).get('during.test')).id, 'during');

    await own.restart(); // empty: no persistence
    await waitFor('caught up', () => s.pending === 0);
    const other = redisStore(own.url);
    opened.push(other);
    assert.equal((await other.get('during.test')).id, 'during', 'the write made while Redis was down reached it');
    assert.equal(await other.get('before.test'), null);
    assert.ok(events.some((e) => e.event === 'redis-up'));
    assert.ok(events.some((e) => e.event === 'redis-caught-up'));
    await own.stop();
  });

  test('a Redis that lost its data (restart without persistence) is refilled from the local layer', async () => {
    const own = await startRedis();
    const s = redisStore(own.url);
    opened.push(s);
    await s.put('kept.test', ENTRY);
    await own.kill();
    await own.restart();
    await s.connection.waitUntilUp(5000);
    assert.deepEqual(await s.get('kept.test'), ENTRY, 'answered from memory');
    const other = redisStore(own.url);
    opened.push(other);
    await waitFor('refilled', async () => (await other.get('kept.test')) !== null);
    await own.stop();
  });

  test('a peer that accepts and never answers: each call ends within the command timeout, from the local layer', async () => {
    const silent = await startSilentPeer();
    const s = redisStore(`${silent.url}?timeout=200`, { local: memoryStore() });
    opened.push(s);
    const started = Date.now();
    await s.put('x.test', ENTRY);
    for (let i = 0; i < 20; i++) assert.deepEqual(await s.get('x.test'), ENTRY);
    assert.deepEqual(await s.list(), [{ domain: 'x.test', entry: ENTRY }]);
    // Figures, not an assertion on time: 22 calls, each bounded by the 200 ms timeout.
    console.log(`silent peer: 22 store calls took ${Date.now() - started} ms (timeout 200 ms, connect timeout 2000 ms)`);
    assert.equal(s.connection.up, false);
    assert.ok(s.stats.localAnswers >= 22, `${s.stats.localAnswers} answers from the local layer`);
    assert.ok(s.connection.stats.unavailable >= 2 && s.connection.stats.ups === 0);
    await silent.close();
  });

  test('bad specs are named errors', () => {
    for (const bad of ['redis://', 'http://x', 'redis://h?timeout=0', 'redis://h?timeout=abc', 'redis://h?local=', 42, null]) {
      assert.throws(() => redisStore(bad), (e) => e instanceof MtaStsError && e.code === 'store-redis-invalid-spec', String(bad));
    }
  });
});

describe('redisTlsrptLog', { skip: SKIP }, () => {
  const today = () => dayOf(new Date());
  const record = (over = {}) => ({
    at: new Date(), policyDomain: 'example.test', policyType: 'sts', policyId: 'id1', mode: 'enforce',
    policyStrings: ['version: STSv1', 'mode: enforce'], mxPatterns: ['mx.example.test'], count: 1,
    kind: 'session', mx: 'mx.example.test', address: '127.0.0.1', sendingIp: '127.0.0.2', result: 'success', code: 'success',
    message: 'free text', ...over,
  });

  test('records of several logs (processes) add up; sessionResultsFor reads the counters; records never wait for Redis', async () => {
    const logs = [log('rpt:'), log('rpt:'), log('rpt:')];
    const day = today();
    const writes = [];
    for (let i = 0; i < 300; i++) {
      const l = logs[i % 3];
      const failed = i % 10 === 0;
      writes.push(l.record('example.test', record(failed ? { result: 'certificate-not-trusted', code: 'certificate-not-trusted', message: `attempt ${i}` } : {})));
      if (i % 50 === 0) writes.push(l.record('other.test', record({ policyType: 'no-policy-found', kind: 'discovery', result: 'sts-policy-fetch-error', code: 'policy-fetch-failed', mx: null })));
    }
    await Promise.all(writes);
    await Promise.all(logs.map((l) => l.flush()));
    const reader = log('rpt:');
    assert.deepEqual(await reader.days(), [day]);
    assert.deepEqual(await reader.domains(day), ['example.test', 'other.test']);
    const results = await sessionResultsFor(reader, day);
    const sum = (pred) => results.filter(pred).reduce((k, r) => k + r.count, 0);
    assert.equal(sum((r) => r.policyDomain === 'example.test' && r.result === 'success'), 270);
    assert.equal(sum((r) => r.policyDomain === 'example.test' && r.result === 'certificate-not-trusted'), 30);
    assert.equal(sum((r) => r.policyDomain === 'other.test'), 6);
    const fail = results.find((r) => r.result === 'certificate-not-trusted');
    assert.deepEqual(fail.policy, { type: 'sts', strings: ['version: STSv1', 'mode: enforce'], mxPatterns: ['mx.example.test'] });
    assert.equal(fail.failureReasonCode, 'certificate-not-trusted');
    assert.equal(fail.receivingIp, '127.0.0.1');
    assert.equal(results.length, 3, 'one counter per distinct record, the messages not kept');
  });

  test('a batch sent twice (its answer lost) is counted once', async () => {
    const day = today();
    const keys = [`dup:{t:${day}}:domains`, `dup:{t:${day}}:batches`, `dup:{t:${day}}:counts:example.test`];
    const args = ['batch-1', String(Math.floor(Date.now() / 1000) + 3600), '1', '3', 'example.test', '["f"]', '5'];
    assert.equal(await raw.eval(ADD_TLSRPT_BATCH, 3, ...keys, ...args), 1);
    assert.equal(await raw.eval(ADD_TLSRPT_BATCH, 3, ...keys, ...args), 0);
    assert.equal(await raw.hget(keys[2], '["f"]'), '5');
    assert.ok((await raw.ttl(keys[2])) > 0, 'the keys expire');
  });

  test('Redis killed mid-run and restarted: records kept meanwhile are written once, none lost', async () => {
    const own = await startRedis();
    const events = [];
    const l = redisTlsrptLog(own.url, { log: { info() {}, warn: (o) => events.push(o), error: (o) => events.push(o) } });
    opened.push(l);
    const day = today();
    for (let i = 0; i < 50; i++) await l.record('example.test', record());
    await l.flush();
    await own.kill();
    for (let i = 0; i < 70; i++) await l.record('example.test', record(i % 7 === 0 ? { result: 'starttls-not-supported', code: 'starttls-not-supported' } : {}));
    assert.ok(l.pending > 0);
    await own.restart(); // empty: the first 50 are gone with it (no persistence), the 70 come back
    await waitFor('flushed', () => l.pending === 0);
    const reader = redisTlsrptLog(own.url);
    opened.push(reader);
    const results = await sessionResultsFor(reader, day);
    const total = results.reduce((k, r) => k + r.count, 0);
    assert.equal(total, 70);
    assert.equal(results.filter((r) => r.result === 'starttls-not-supported').reduce((k, r) => k + r.count, 0), 10);
    assert.ok(events.some((e) => e.event === 'redis-down'));
    await own.stop();
  });

  test('with a spool directory, records kept while Redis is down survive the process: the next one sends them, once', async () => {
    const own = await startRedis();
    const spoolDir = join(dir, 'spool');
    const day = today();
    const first = redisTlsrptLog(own.url, { spoolDir });
    await first.connection.waitUntilUp(5000);
    await own.kill();
    for (let i = 0; i < 30; i++) await first.record('example.test', record(i < 10 ? { result: 'certificate-expired', code: 'certificate-expired' } : {}));
    await waitFor('spooled', () => existsSync(spoolDir) && readdirSync(spoolDir).some((f) => f.endsWith('.json')));
    writeFileSync(join(spoolDir, `${'f'.repeat(24)}.json`), '{"torn'); // a batch cut short: reported, left alone
    // The first process "dies": it never sends again (its connection is gone).
    await first.connection.close();
    await own.restart();
    const errors = [];
    const second = redisTlsrptLog(own.url, { spoolDir, onError: (e) => errors.push(e) });
    opened.push(second);
    await waitFor('sent', () => second.pending === 0 && readdirSync(spoolDir).filter((f) => f.endsWith('.json')).length === 1);
    // A third process on the same directory finds nothing more to send; a resend would count once anyway.
    const results = await sessionResultsFor(second, day);
    assert.equal(results.reduce((k, r) => k + r.count, 0), 30);
    assert.equal(results.filter((r) => r.result === 'certificate-expired').reduce((k, r) => k + r.count, 0), 10);
    assert.deepEqual(errors.map((e) => e.code), ['store-corrupt-entry']);
    await own.stop();
  });

  test('the backlog is bounded: records beyond it are dropped and counted, never an error', async () => {
    const silent = await startSilentPeer();
    const events = [];
    const l = redisTlsrptLog(`${silent.url}?timeout=100`, { maxPending: 3, log: { info() {}, warn() {}, error: (o) => events.push(o) } });
    opened.push(l);
    for (let i = 0; i < 10; i++) await l.record('example.test', record({ mx: `mx${i}.example.test` }));
    await l.record('example.test', record({ mx: 'mx0.example.test' })); // an existing counter still counts
    assert.equal(l.pending, 3);
    assert.equal(l.stats.dropped, 7);
    assert.ok(events.some((e) => e.event === 'tlsrpt-backlog-full'));
    await assert.rejects(l.days(), (e) => e.code === 'store-redis-unavailable' || e.code === 'store-redis-timeout', 'a reader is told Redis is not there');
    await silent.close();
  });

  test('garbage in TLS-RPT keys: unreadable counters skipped (reported), keys of another type left alone', async () => {
    const errors = [];
    const l = log('rjunk:', { onError: (e) => errors.push(e) });
    const day = today();
    await raw.sadd(`rjunk:{t}:days`, day, 'not-a-day');
    await raw.sadd(`rjunk:{t:${day}}:domains`, 'example.test', 'Bad..name');
    await raw.hset(`rjunk:{t:${day}}:counts:example.test`, 'not json', '3', '["too","short"]', '4', JSON.stringify(Array(11).fill(null)), 'x');
    assert.deepEqual(await l.days(), [day]);
    assert.deepEqual(await l.domains(day), ['example.test']);
    assert.deepEqual(await l.list('example.test', day), []);
    assert.ok(errors.length === 3 && errors.every((e) => e.code === 'store-corrupt-entry'));
    // A counter field that holds a non-number: the batch is refused, nothing half-written.
    await l.record('example.test', record());
    await raw.hset(`rjunk:{t:${day}}:counts:example.test`, JSON.stringify(['session', 'sts', 'id1', 'enforce', ['version: STSv1', 'mode: enforce'], ['mx.example.test'], 'mx.example.test', '127.0.0.1', '127.0.0.2', 'success', 'success']), 'seven');
    await l.flush();
    await l.record('example.test', record());
    await l.flush();
    assert.ok(errors.some((e) => e.code === 'store-redis-foreign-data'));
    await raw.set(`rjunk2:{t:${day}}:domains`, 'a string');
    const m = log('rjunk2:', { onError: (e) => errors.push(e) });
    await m.record('example.test', record());
    await m.flush();
    assert.equal(await raw.get(`rjunk2:{t:${day}}:domains`), 'a string');
    assert.equal(m.stats.foreign, 1);
  });

  test('retention: removeDay deletes a day and pruneTlsrptLog works over the log; keys expire keepDays after their day', async () => {
    const l = log('ret:', { keepDays: 3 });
    const now = Date.now();
    const days = [0, 1, 2, 3, 4].map((k) => new Date(now - k * 86_400_000));
    for (const d of days) await l.record('example.test', record({ at: d }));
    await l.flush();
    const ttlOf = async (d) => raw.ttl(`ret:{t:${dayOf(d)}}:counts:example.test`);
    // Day D expires at the start of D + 4 days (keepDays 3): what pruneTlsrptLog would keep.
    const expected = (d) => (Date.parse(`${dayOf(d)}T00:00:00Z`) + 4 * 86_400_000 - now) / 1000;
    for (const d of days.slice(0, 3)) {
      const ttl = await ttlOf(d);
      assert.ok(Math.abs(ttl - expected(d)) <= 5, `ttl ${ttl} for ${dayOf(d)}, expected about ${expected(d)}`);
    }
    // Days 4 and over are past their expiry already: gone as soon as written.
    assert.deepEqual(await l.days(), days.slice(0, 4).map(dayOf).filter((d) => Date.parse(`${d}T00:00:00Z`) + 4 * 86_400_000 > now).sort());
    const removed = await pruneTlsrptLog(l, { now, keepDays: 1 });
    assert.ok(removed.length >= 1);
    assert.deepEqual(await l.days(), [dayOf(days[1]), dayOf(days[0])]);
    await l.removeDay(dayOf(days[0]));
    assert.deepEqual(await l.days(), [dayOf(days[1])]);
    assert.equal(await raw.exists(`ret:{t:${dayOf(days[0])}}:counts:example.test`), 0);
  });
});
