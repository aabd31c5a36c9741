// Policy store throughput: get and put operations per second for the memory store, the file store,
// and the Redis store (over a private redis-server on loopback; with a memory local layer, and with
// a file local layer as the relay has by default), one caller at a time and 32 at once. Prints
// figures, asserts nothing.
//   node tests/bench/store.mjs [--seconds 1] [--domains 1000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { PKG, assertBuilt } from '../js/built-package.mjs';
import { HAVE_REDIS, startRedis } from '../js/redis-server.mjs';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '1' }, domains: { type: 'string', default: '1000' } }, strict: false });
const SECONDS = Number(values.seconds);
const DOMAINS = Number(values.domains);
assertBuilt();
const { memoryStore, fileStore, redisStore } = await import(pathToFileURL(join(PKG, 'js/stores/index.js')));

const dir = mkdtempSync(join(tmpdir(), 'mtasts-bench-store-'));
const redis = HAVE_REDIS ? await startRedis() : null;
const names = Array.from({ length: DOMAINS }, (_, i) => `d${i}.example.test`);
const entry = (i) => ({ id: `id${i}`, policyText: 'version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 86400\n', fetchedAt: 1_700_000_000 + i, expiresAt: 1_700_086_400 + i, checkedAt: 1_700_000_000 + i });

/** Runs `op(i)` from `concurrency` callers for SECONDS; returns operations per second. */
async function rate(op, concurrency) {
  let done = 0;
  const until = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    for (let i = w; performance.now() < until; i += concurrency) {
      await op(i % DOMAINS, i);
      done++;
    }
  }));
  return done / ((performance.now() - started) / 1000);
}

const stores = [
  ['memory', () => memoryStore()],
  ['file', () => fileStore(join(dir, 'file'))],
];
if (redis) {
  stores.push(['redis (local memory)', () => redisStore(`${redis.url}?prefix=bench-m:`)]);
  stores.push(['redis (local file)', () => redisStore(`${redis.url}?prefix=bench-f:&local=${encodeURIComponent(join(dir, 'local'))}`)]);
} else {
  console.log('redis-server is not installed (scripts/setup installs it): Redis rows skipped');
}

const fmt = (n) => (n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0)).padStart(8);
console.log(`store throughput, ${DOMAINS} domains, ${SECONDS} s per figure (ops/s)`);
console.log(`${'store'.padEnd(22)}${'put c=1'.padStart(8)}${'get c=1'.padStart(8)}${'put c=32'.padStart(9)}${'get c=32'.padStart(9)}`);
for (const [name, make] of stores) {
  const s = make();
  if (s.connection) await s.connection.waitUntilUp(5000);
  const row = [];
  row.push(await rate((k, i) => s.put(names[k], entry(i)), 1));
  row.push(await rate((k) => s.get(names[k]), 1));
  row.push(await rate((k, i) => s.put(names[k], entry(i)), 32));
  row.push(await rate((k) => s.get(names[k]), 32));
  console.log(`${name.padEnd(22)}${fmt(row[0])}${fmt(row[1])} ${fmt(row[2])} ${fmt(row[3])}`);
  await s.close?.();
}
await redis?.stop();
rmSync(dir, { recursive: true, force: true });
