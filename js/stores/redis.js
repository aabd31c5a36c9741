// redisStore: the policy cache shared by a fleet of relays and socketmaps, over a local layer that
// keeps serving when Redis does not answer.
//
// Keys (prefix default `mtasts:`):
//   <prefix>policy:{<domain>}  the document {"mtastsStore":1,"domain":…,"entry":…}; the domain is the
//                              key's hash tag, so on a Cluster each domain has its slot and the
//                              policies spread over the masters
//   <prefix>domains            a set of the domains ever stored (list() reads it), written after
//                              the entry; a deleted domain stays in it (list() skips its tombstone,
//                              and a name whose key is gone), so that a delete racing a put of
//                              another process can never drop a live entry from the index
//
// Writes are atomic per domain (a Lua script on the domain's one key) and ordered by the entry's own times: a put never
// replaces an entry fetched later (fetchedAt), or fetched at the same time and checked later
// (checkedAt), so a slow relay cannot undo a fresher relay's policy. Spec: the file store's rule is
// "the last rename wins"; here the last *fetch* wins, which is the same for one process and the
// right answer for a fleet. Entries without numeric times (not the core's) are last-write-wins.
//
// Local layer (memory by default, a fileStore when `local` names a directory): every put and
// delete goes there first (an error of the local layer is the caller's, as with a file store);
// every get and list reads both and answers with the newer entry, writing the newer one back to the
// side that was behind. When Redis is down or slow (each call bounded by the command timeout,
// redis-connection.js) the answer is the local layer's: a look-up never fails, and mail is never
// deferred, because of Redis. Writes Redis missed wait in `pending` (at most `maxPending` domains;
// when full the oldest is dropped from it, counted in `stats.pendingDropped`: its entry stays in
// the local layer, only the fleet does not get it) and are pushed when Redis is back.
//
// A delete leaves a tombstone, {"mtastsStore":1,"domain":…,"deleted":{fetchedAt, checkedAt}} (the
// times of the entry deleted), for TOMBSTONE_SECONDS: another process that still holds the entry in
// its local layer then deletes it there instead of giving it back to Redis, and a put of an entry
// fetched no later than the one deleted is refused. A domain with no key at all is one Redis lost
// (a restart without persistence): the local layers refill it.
//
// Garbage under our keys (someone else's data, a document that does not parse, another domain's
// entry) is reported through `onError` as `store-corrupt-entry` and read as absent; a put never
// replaces a key of another type (`store-redis-foreign-data`, reported, not thrown).

import { MtaStsError } from '../error.js';
import { checkStoreEntry, checkStoreKey, isStoreKey } from './key.js';
import { fileStore } from './file.js';
import { memoryStore } from './memory.js';
import { redisConnection } from './redis-connection.js';
import { DELETE_POLICY, PUT_POLICY } from './redis-scripts.js';

const FORMAT = 1;
/**
 * Spec: a tombstone outlives every entry it can meet: an entry was fetched before its delete, and
 * RFC 8461 §3.2 caps max_age at 31557600 s, so after this long any copy left is expired anyway.
 */
const TOMBSTONE_SECONDS = 31_557_600 + 86_400;
/** Keys read together by list(). */
const LIST_CHUNK = 1000;
/** Default bound of the domains whose write waits for Redis. */
export const DEFAULT_MAX_PENDING = 10_000;

/**
 * @param {string | object} spec `redis://…`, `rediss://…` or options (redis-connection.js)
 * @param {object} [options]
 * @param {object} [options.local] the local layer (a store); default from the spec's `local`
 *   (memory, or a fileStore of that directory), else memory
 * @param {object} [options.connection] a redisConnection to share (e.g. with redisTlsrptLog)
 * @param {object} [options.log] pino-like logger
 * @param {(err: MtaStsError) => void} [options.onError] told about garbage in Redis
 * @param {number} [options.maxPending] see above (default 10000)
 */
export function redisStore(spec, { local, connection, log, onError, maxPending = DEFAULT_MAX_PENDING, ioredis } = {}) {
  const conn = connection ?? redisConnection(spec, { log, ioredis });
  const layer = local ?? localLayer(conn.local);
  const stats = { redisHits: 0, localAnswers: 0, pushed: 0, pendingDropped: 0, corrupt: 0, foreign: 0 };
  /** domain → { op: 'put', entry } | { op: 'delete', deleted } */
  const pending = new Map();
  const keyOf = (domain) => `${conn.prefix}policy:{${domain}}`;
  const INDEX = `${conn.prefix}domains`;

  const report = (err) => {
    if (typeof onError === 'function') {
      try {
        onError(err);
      } catch {
        // a failing observer must not turn garbage in Redis into a failed look-up
      }
    }
  };

  function corrupt(domain, why) {
    stats.corrupt++;
    const err = new MtaStsError('store-corrupt-entry', `redis key ${keyOf(domain)} is unreadable (${why}); treated as absent`);
    err.domain = domain;
    err.key = keyOf(domain);
    report(err);
    return null;
  }

  /**
   * The entry in a raw Redis value, or null (absent or garbage, reported), or `{ deleted }` for a
   * tombstone.
   */
  function decode(domain, raw) {
    if (raw === null || raw === undefined) return null;
    let doc;
    try {
      doc = JSON.parse(raw);
    } catch (err) {
      return corrupt(domain, `not json: ${err.message}`);
    }
    if (doc?.mtastsStore === FORMAT && doc.domain === domain && doc.entry === undefined && doc.deleted !== null && typeof doc.deleted === 'object') {
      return { tombstone: doc.deleted };
    }
    if (doc === null || typeof doc !== 'object' || doc.mtastsStore !== FORMAT || doc.domain !== domain ||
        doc.entry === null || typeof doc.entry !== 'object' || Array.isArray(doc.entry)) {
      return corrupt(domain, `expected {"mtastsStore":${FORMAT},"domain":"${domain}","entry":{…}}`);
    }
    return doc.entry;
  }

  function note(event, domain, err) {
    stats.localAnswers++;
    log?.warn?.({ event, domain, code: err?.code, why: err?.message });
  }

  function queue(domain, item) {
    pending.delete(domain);
    pending.set(domain, item);
    while (pending.size > maxPending) {
      const oldest = pending.keys().next().value;
      pending.delete(oldest);
      stats.pendingDropped++;
      log?.warn?.({ event: 'redis-pending-dropped', domain: oldest, maxPending });
    }
  }

  function foreign(domain) {
    stats.foreign++;
    const err = new MtaStsError('store-redis-foreign-data', `redis key ${keyOf(domain)} or ${INDEX} holds data of another type; not overwritten`);
    err.domain = domain;
    err.key = keyOf(domain);
    report(err);
  }

  /** Writes one entry to Redis (newer-wins script), then indexes it. Throws when Redis cannot be reached. */
  async function pushPut(domain, entry) {
    const doc = JSON.stringify({ mtastsStore: FORMAT, domain, entry });
    const r = await conn.run('put', (c) => c.eval(PUT_POLICY, 1, keyOf(domain), doc, timeArg(entry.fetchedAt), timeArg(entry.checkedAt)));
    if (r === -1) return foreign(domain);
    try {
      await conn.run('put', (c) => c.sadd(INDEX, domain));
    } catch (err) {
      // Someone else's data at the index: the entry is in Redis, only list() does not see it.
      if (/WRONGTYPE/.test(err?.cause?.message ?? err?.message ?? '')) return foreign(domain);
      throw err; // not indexed yet: waits with the other writes Redis missed
    }
  }

  async function pushDelete(domain, deleted) {
    const times = { fetchedAt: deleted?.fetchedAt ?? null, checkedAt: deleted?.checkedAt ?? null };
    const tombstone = JSON.stringify({ mtastsStore: FORMAT, domain, deleted: times });
    const r = await conn.run('delete', (c) => c.eval(DELETE_POLICY, 1, keyOf(domain), timeArg(deleted?.fetchedAt), timeArg(deleted?.checkedAt), tombstone, String(TOMBSTONE_SECONDS)));
    if (r === -1) foreign(domain);
  }

  let flushing = null;
  /** Pushes what Redis missed, oldest first; stops at the first failure (Redis went again). */
  function flush() {
    flushing ??= (async () => {
      try {
        for (const [domain, item] of [...pending]) {
          if (pending.get(domain) !== item) continue;
          if (item.op === 'put') await pushPut(domain, item.entry);
          else await pushDelete(domain, item.deleted);
          if (pending.get(domain) === item) pending.delete(domain);
          stats.pushed++;
        }
        if (stats.pushed > 0) log?.info?.({ event: 'redis-caught-up', pending: pending.size });
      } catch (err) {
        log?.warn?.({ event: 'redis-catch-up-stopped', pending: pending.size, why: err.message });
      } finally {
        flushing = null;
      }
    })();
    return flushing;
  }
  conn.onReady(() => {
    if (pending.size > 0) void flush();
  });

  /**
   * The answer when Redis holds `fromRedis` and the local layer `fromLocal`: the newer one, and
   * Redis's when neither is newer (it is what the fleet shares). The side that is behind is brought
   * up to date: the local layer gets Redis's entry when it differs; Redis gets the local one when it
   * has none (it lost it: a restart without persistence) or an older one.
   */
  async function reconcile(domain, fromRedis, fromLocal) {
    if (fromRedis?.tombstone) {
      // Deleted by some process: ours goes too, unless it was fetched after the one deleted.
      if (fromLocal !== null && newer(fromLocal, fromRedis.tombstone)) {
        pushPut(domain, fromLocal).catch(() => queue(domain, { op: 'put', entry: fromLocal }));
        return fromLocal;
      }
      if (fromLocal !== null) await layer.delete(domain).catch((err) => log?.warn?.({ event: 'local-store-delete-failed', domain, why: err.message }));
      return null;
    }
    if (fromLocal !== null && (fromRedis === null || newer(fromLocal, fromRedis))) {
      pushPut(domain, fromLocal).catch(() => queue(domain, { op: 'put', entry: fromLocal }));
      return fromLocal;
    }
    if (fromRedis !== null && (fromLocal === null || JSON.stringify(fromLocal) !== JSON.stringify(fromRedis))) {
      await layer.put(domain, fromRedis).catch((err) => log?.warn?.({ event: 'local-store-write-failed', domain, why: err.message }));
    }
    return fromRedis;
  }

  return {
    connection: conn,
    local: layer,
    stats,
    /** Domains whose write waits for Redis. */
    get pending() {
      return pending.size;
    },

    async get(domain) {
      checkStoreKey(domain);
      if (pending.has(domain)) {
        stats.localAnswers++;
        return layer.get(domain);
      }
      // Both at once: the local answer costs no time while Redis is asked.
      const [fromLocal, asked] = await Promise.all([layer.get(domain), conn.run('get', (c) => c.get(keyOf(domain))).then((raw) => ({ raw }), (err) => ({ err }))]);
      const { raw, err } = asked;
      if (err) {
        if (/WRONGTYPE/.test(err?.message ?? '')) {
          corrupt(domain, 'not a string');
        } else {
          note('redis-get-failed', domain, err);
        }
        return fromLocal;
      }
      stats.redisHits++;
      return reconcile(domain, decode(domain, raw), fromLocal);
    },

    async put(domain, entry) {
      checkStoreKey(domain);
      checkStoreEntry(entry);
      try {
        JSON.stringify(entry);
      } catch (err) {
        throw new MtaStsError('store-invalid-entry', `store entry is not json-serialisable: ${err.message}`, { cause: err });
      }
      const copy = structuredClone(entry);
      await layer.put(domain, copy);
      try {
        await pushPut(domain, copy);
        pending.delete(domain);
      } catch (err) {
        note('redis-put-failed', domain, err);
        queue(domain, { op: 'put', entry: copy });
      }
    },

    async delete(domain) {
      checkStoreKey(domain);
      const deleted = await layer.get(domain).catch(() => null);
      await layer.delete(domain);
      try {
        await pushDelete(domain, deleted);
        pending.delete(domain);
      } catch (err) {
        note('redis-delete-failed', domain, err);
        queue(domain, { op: 'delete', deleted });
      }
    },

    /** Every entry of Redis and the local layer, the newer of the two per domain, sorted by domain. */
    async list() {
      const mine = new Map((await layer.list()).map(({ domain, entry }) => [domain, entry]));
      let shared = new Map();
      try {
        // Ours too: one may have been deleted (a tombstone) by another process.
        const domains = [...new Set([...(await conn.run('list', (c) => c.smembers(INDEX))).filter(isStoreKey), ...mine.keys()])];
        // One GET a key (on a Cluster the keys live in many slots, where MGET cannot go), sent
        // together, LIST_CHUNK at a time, each chunk within the command timeout.
        for (let i = 0; i < domains.length; i += LIST_CHUNK) {
          const part = domains.slice(i, i + LIST_CHUNK);
          const values = await conn.run('list', (c) => Promise.all(part.map((d) => c.get(keyOf(d)))));
          part.forEach((d, j) => shared.set(d, values[j]));
        }
      } catch (err) {
        note('redis-list-failed', null, err);
        return sorted(mine);
      }
      const all = new Map(mine);
      for (const [domain, raw] of shared) {
        if (pending.has(domain)) continue;
        const entry = decode(domain, raw);
        all.set(domain, await reconcile(domain, entry, mine.get(domain) ?? null));
      }
      for (const [domain, entry] of all) if (entry === null) all.delete(domain);
      return sorted(all);
    },

    /** Pushes what waits for Redis now; resolves when done or stopped by a failure. */
    flush,

    async close() {
      if (pending.size > 0 && conn.up) await flush();
      if (!connection) await conn.close();
    },
  };
}

function sorted(map) {
  return [...map.keys()].sort().map((domain) => ({ domain, entry: structuredClone(map.get(domain)) }));
}

function timeArg(t) {
  return Number.isFinite(t) ? String(t) : '';
}

/** Whether entry `a` is newer than `b` by the rule at the top of this file. */
function newer(a, b) {
  if (!Number.isFinite(a?.fetchedAt) || !Number.isFinite(b?.fetchedAt)) return false;
  if (a.fetchedAt !== b.fetchedAt) return a.fetchedAt > b.fetchedAt;
  return Number.isFinite(a.checkedAt) && Number.isFinite(b.checkedAt) && a.checkedAt > b.checkedAt;
}

function localLayer(local) {
  if (local === null || local === undefined || local === 'memory') return memoryStore();
  if (typeof local === 'string') return fileStore(local);
  return local; // a store object
}
