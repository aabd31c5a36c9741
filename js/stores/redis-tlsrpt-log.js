// redisTlsrptLog: the relay's TLS-RPT result log (the interface of js/relay/tlsrpt-log.js: record,
// days, domains, removeDay, list) as counters in Redis, shared by every relay of a fleet, so that
// `sessionResultsFor`, `pruneTlsrptLog`, `mtasts report build` and `report send` work unchanged.
//
// RFC 8460 §4.3 aggregates sessions per policy and result; a record's count is all a report needs
// of it, so Redis keeps one counter per distinct record instead of one line per session:
//   <prefix>{t:<day>}:counts:<domain>  hash: field = the record without `at`, `message` and `count`
//                                      (canonical JSON), value = sessions counted
//   <prefix>{t:<day>}:domains          set of the policy domains with counters that day
//   <prefix>{t:<day>}:batches          set of the batch ids already added (below)
//   <prefix>{t}:days                   set of the days (a day whose keys expired is dropped from it)
// `list()` gives each counter back as one record with its `count` (sessionResultsFor reads it), and
// with `at` the day's start. Spec: `message` (free text, different for nearly every failure) is not
// kept: reports carry the result type and the core's code (`failure-reason-code`), not the text.
//
// Never in the way of mail: `record()` adds to a local batch in memory and returns; the batch goes
// to Redis in the background (at once, and again each time Redis comes back). Each batch has a
// random id and is added by one Lua script (redis-scripts.js) that adds it only if the id is new, so
// a batch whose answer was lost (a timeout, Redis killed after the write) and is sent again is not
// counted twice, and counters of any number of processes add up: nothing lost, nothing counted
// twice. The local backlog holds at most `maxPending` distinct counters (a counter is a kind of
// record, not a session: a busy relay with a few domains needs a few dozen); a record that would
// need one more is dropped and counted in `stats.dropped` (logged) — mail goes on. The backlog is
// in memory: a process that stops while Redis is down loses what it could not send (logged).
//
// Retention: every key of a day expires at the end of the day `keepDays` after it (the day
// pruneTlsrptLog would delete it), and removeDay deletes it at once.

import { randomBytes } from 'node:crypto';
import { MtaStsError } from '../error.js';
import { isStoreKey } from './key.js';
import { redisConnection } from './redis-connection.js';
import { ADD_TLSRPT_BATCH } from './redis-scripts.js';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;
/** Default days kept (js/relay/tlsrpt-log.js DEFAULT_KEEP_DAYS). */
const DEFAULT_KEEP_DAYS = 10;
/** Default bound of the distinct counters waiting for Redis. */
export const DEFAULT_MAX_PENDING_COUNTERS = 50_000;
/** Counters per script call: bounds the time one call holds Redis. */
const BATCH_SIZE = 500;
/** While Redis is up but a send failed, try again after this long. */
const RETRY_MS = 1000;
/** The record fields that make a counter, in this order (sessionResultsFor reads these). */
const FIELDS = ['kind', 'policyType', 'policyId', 'mode', 'policyStrings', 'mxPatterns', 'mx', 'address', 'sendingIp', 'result', 'code'];

/**
 * @param {string | object} spec `redis://…` or options (redis-connection.js); ignored with `connection`
 * @param {object} [options]
 * @param {object} [options.connection] a redisConnection to share (e.g. with redisStore)
 * @param {number} [options.keepDays] days kept before the keys expire (default 10)
 * @param {number} [options.maxPending] bound of the local backlog (default 50000 counters)
 * @param {object} [options.log] pino-like logger
 * @param {(err: MtaStsError) => void} [options.onError] told about garbage in Redis
 */
export function redisTlsrptLog(spec, { connection, keepDays = DEFAULT_KEEP_DAYS, maxPending = DEFAULT_MAX_PENDING_COUNTERS, log, onError, ioredis } = {}) {
  if (!Number.isInteger(keepDays) || keepDays < 1) {
    throw new MtaStsError('invalid-argument', `keepDays must be a whole number of days from 1, found ${JSON.stringify(keepDays)}`);
  }
  const conn = connection ?? redisConnection(spec, { log, ioredis });
  const p = conn.prefix;
  const dayKey = (day, what) => `${p}{t:${day}}:${what}`;
  const countsKey = (day, domain) => dayKey(day, `counts:${domain}`);
  const DAYS = `${p}{t}:days`;
  const stats = { recorded: 0, dropped: 0, sent: 0, duplicates: 0, foreign: 0, corrupt: 0 };

  /** Counters not yet in a batch: `day \n domain \n field` → count. */
  let open = new Map();
  /** Sealed batches, oldest first: { id, day, counters: [[domain, field, count]] }. */
  const sealed = [];
  let sending = null;
  let retryTimer = null;
  let droppedLogged = 0;

  const pendingCounters = () => open.size + sealed.reduce((n, b) => n + b.counters.length, 0);

  const report = (err) => {
    if (typeof onError === 'function') {
      try {
        onError(err);
      } catch {
        // an observer's failure is its own
      }
    }
  };

  function seal() {
    const byDay = new Map();
    for (const [k, count] of open) {
      const [day, domain, field] = k.split('\n');
      if (!byDay.has(day)) byDay.set(day, []);
      byDay.get(day).push([domain, field, count]);
    }
    open = new Map();
    for (const [day, counters] of byDay) {
      for (let i = 0; i < counters.length; i += BATCH_SIZE) {
        sealed.push({ id: randomBytes(12).toString('hex'), day, counters: counters.slice(i, i + BATCH_SIZE) });
      }
    }
  }

  /** Adds one batch once (see the top of this file); throws when Redis cannot be reached. */
  async function send(batch) {
    const domains = [...new Set(batch.counters.map(([d]) => d))];
    const keys = [dayKey(batch.day, 'domains'), dayKey(batch.day, 'batches'), ...domains.map((d) => countsKey(batch.day, d))];
    const args = [batch.id, String(expiryOf(batch.day, keepDays)), String(batch.counters.length)];
    for (const [domain, field, count] of batch.counters) args.push(String(3 + domains.indexOf(domain)), domain, field, String(count));
    // The day first: a day listed without keys is skipped by days(); keys without their day would be missed.
    await conn.run('tls-rpt day', (c) => c.sadd(DAYS, batch.day));
    const r = await conn.run('tls-rpt add', (c) => c.eval(ADD_TLSRPT_BATCH, keys.length, ...keys, ...args));
    if (r === 0) stats.duplicates++;
    else if (r < 0) {
      stats.foreign++;
      const err = new MtaStsError('store-redis-foreign-data', `tls-rpt keys of ${batch.day} in redis hold data of another kind (${r === -1 ? 'a key of another type' : 'a counter that is not a number'}); ${batch.counters.length} counters not added`);
      err.day = batch.day;
      report(err);
      log?.error?.({ event: 'tlsrpt-redis-foreign-data', day: batch.day, counters: batch.counters.length, why: err.message });
    } else stats.sent += batch.counters.length;
  }

  /** Sends every sealed batch and what is open, in order; stops at the first failure. */
  function drain() {
    sending ??= (async () => {
      try {
        for (;;) {
          if (sealed.length === 0) {
            if (open.size === 0) break;
            seal();
          }
          await send(sealed[0]);
          sealed.shift();
        }
      } catch (err) {
        log?.warn?.({ event: 'tlsrpt-redis-deferred', counters: pendingCounters(), why: err.message });
        if (conn.up && !retryTimer) {
          retryTimer = setTimeout(() => {
            retryTimer = null;
            void drain();
          }, RETRY_MS);
          retryTimer.unref();
        }
      } finally {
        sending = null;
      }
      if (open.size > 0 && conn.up) void drain();
    })();
    return sending;
  }
  conn.onReady(() => {
    if (pendingCounters() > 0) void drain();
  });

  /** Reads through Redis; throws (`store-redis-unavailable`/`-timeout`) when it cannot answer. */
  const read = async (what, fn) => {
    if (!conn.up) await conn.waitUntilUp(); // a one-shot reader (report build) that just started
    return conn.run(what, fn);
  };

  return {
    connection: conn,
    stats,
    /** Counters waiting for Redis. */
    get pending() {
      return pendingCounters();
    },

    /** Counts one record (the interface of fileTlsrptLog); never waits for Redis. */
    async record(policyDomain, record) {
      if (!isStoreKey(policyDomain)) {
        throw new MtaStsError('store-invalid-key', `tls-rpt records are kept per policy domain (lowercase ldh), found ${JSON.stringify(policyDomain)}`);
      }
      const at = new Date(record?.at);
      if (Number.isNaN(at.getTime())) throw new MtaStsError('invalid-argument', 'a tls-rpt record needs a valid `at` time');
      const day = at.toISOString().slice(0, 10);
      const field = fieldOf(record);
      const count = Number.isInteger(record.count) && record.count >= 1 ? record.count : 1;
      const k = `${day}\n${policyDomain}\n${field}`;
      if (!open.has(k) && pendingCounters() >= maxPending) {
        stats.dropped++;
        // Logged once per 1000 dropped, so a long outage does not flood the log.
        if (stats.dropped - droppedLogged >= 1000 || droppedLogged === 0) {
          droppedLogged = stats.dropped;
          log?.error?.({ event: 'tlsrpt-backlog-full', dropped: stats.dropped, maxPending });
        }
        return;
      }
      open.set(k, (open.get(k) ?? 0) + count);
      stats.recorded++;
      if (conn.up) void drain();
    },

    /** The days that have records, oldest first. */
    async days() {
      return read('tls-rpt days', async (c) => {
        const days = (await c.smembers(DAYS)).filter((d) => DAY.test(d)).sort();
        if (days.length === 0) return [];
        const live = await Promise.all(days.map((d) => c.exists(dayKey(d, 'domains'))));
        const gone = days.filter((_, i) => live[i] === 0);
        if (gone.length > 0) await c.srem(DAYS, ...gone);
        return days.filter((_, i) => live[i] !== 0);
      });
    },

    /** The policy domains with records on `day`, sorted. */
    async domains(day) {
      if (!DAY.test(day)) return [];
      return read('tls-rpt domains', async (c) => (await c.smembers(dayKey(day, 'domains'))).filter(isStoreKey).sort());
    },

    /** Deletes the records of `day`, in Redis and waiting here. */
    async removeDay(day) {
      if (!DAY.test(day)) return;
      for (const k of [...open.keys()]) if (k.startsWith(`${day}\n`)) open.delete(k);
      for (let i = sealed.length - 1; i >= 0; i--) if (sealed[i].day === day) sealed.splice(i, 1);
      await read('tls-rpt remove day', async (c) => {
        const domains = await c.smembers(dayKey(day, 'domains'));
        await c.del(dayKey(day, 'domains'), dayKey(day, 'batches'), ...domains.map((d) => countsKey(day, d)));
        await c.srem(DAYS, day);
      });
    },

    /** The records of `policyDomain` on `day`: one per counter, with its count, in a stable order. */
    async list(policyDomain, day) {
      if (!isStoreKey(policyDomain) || !DAY.test(day)) return [];
      const hash = await read('tls-rpt list', (c) => c.hgetall(countsKey(day, policyDomain)));
      const out = [];
      for (const field of Object.keys(hash).sort()) {
        const count = /^\d+$/.test(hash[field]) ? Number(hash[field]) : 0;
        let fields;
        try {
          fields = JSON.parse(field);
        } catch {
          fields = null;
        }
        if (!Array.isArray(fields) || fields.length !== FIELDS.length || count < 1) {
          stats.corrupt++;
          report(Object.assign(new MtaStsError('store-corrupt-entry', `a tls-rpt counter of ${policyDomain} on ${day} in redis is unreadable; skipped`), { domain: policyDomain, day }));
          continue;
        }
        const record = { at: `${day}T00:00:00.000Z`, policyDomain };
        FIELDS.forEach((name, i) => (record[name] = fields[i]));
        record.count = count;
        out.push(record);
      }
      return out;
    },

    /** Sends what waits now; resolves when done or stopped by a failure. */
    flush: drain,

    /** Sends what waits (when Redis is up), then closes the connection unless it was given. */
    async close() {
      clearTimeout(retryTimer);
      if (pendingCounters() > 0 && conn.up) await drain();
      if (pendingCounters() > 0) log?.error?.({ event: 'tlsrpt-redis-unsent', counters: pendingCounters() });
      if (!connection) await conn.close();
    },
  };
}

/** The counter of a record: its fields in a fixed order (null when absent), as JSON. */
function fieldOf(record) {
  return JSON.stringify(FIELDS.map((name) => (record[name] === undefined ? null : record[name])));
}

/** End of the last day kept: pruneTlsrptLog keeps `day` until `keepDays` days after it have passed. */
function expiryOf(day, keepDays) {
  return Math.floor((Date.parse(`${day}T00:00:00Z`) + (keepDays + 1) * DAY_MS) / 1000);
}
