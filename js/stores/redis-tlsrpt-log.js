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
// need one more is dropped and counted in `stats.dropped` (logged) — mail goes on.
//
// The backlog is in memory, and with `spoolDir` (the relay's `local=DIR`/tlsrpt-redis-spool) also on
// disk while Redis is down: what could not be sent is sealed into batches at most SPOOL_MS apart,
// each written to `<spoolDir>/<batch id>.json` (temporary file, fsync, rename) and removed once
// Redis has it; a process that starts (after a crash, a restart) sends the batches it finds there.
// The ids go with the batches, so one sent before a crash and again after is still counted once
// (and two processes sharing the directory may both send it). Without `spoolDir`, a process that
// stops while Redis is down loses what it could not send (logged).
//
// Retention: every key of a day expires at the end of the day `keepDays` after it (the day
// pruneTlsrptLog would delete it), and removeDay deletes it at once.

import { randomBytes } from 'node:crypto';
import { open as openFile, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { makeDirectories } from './directory.js';
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
/** While Redis is down, the open counters are sealed and spooled at most this often. */
const SPOOL_MS = 1000;
const BATCH_FILE = /^([0-9a-f]{24})\.json$/;
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
 * @param {string} [options.spoolDir] where batches wait on disk while Redis is down (see above)
 */
export function redisTlsrptLog(spec, { connection, keepDays = DEFAULT_KEEP_DAYS, maxPending = DEFAULT_MAX_PENDING_COUNTERS, log, onError, spoolDir, ioredis } = {}) {
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
  let spoolTimer = null;
  let spooling = Promise.resolve();

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
          const batch = sealed[0];
          await send(batch);
          sealed.shift();
          if (batch.file) await unlink(batch.file).catch(() => {});
        }
      } catch (err) {
        log?.warn?.({ event: 'tlsrpt-redis-deferred', counters: pendingCounters(), why: err.message });
        scheduleSpool();
        if (conn.up && !retryTimer) {
          retryTimer = setTimeout(() => {
            retryTimer = null;
            void drain();
          }, RETRY_MS);
          retryTimer.unref();
        }
      } finally {
        // No new drain from here: after a failure that would spin (Redis still looks up until its
        // socket's close event, a macrotask, is seen); the retry timer and onReady send again.
        // After success there is nothing left: the loop only ends with both queues empty.
        sending = null;
      }
    })();
    return sending;
  }

  /** Writes each sealed batch not yet on disk to the spool (see the top of this file). */
  function spool() {
    spooling = spooling.then(async () => {
      if (!spoolDir) return;
      seal();
      const todo = sealed.filter((b) => !b.file);
      if (todo.length === 0) return;
      try {
        await makeDirectories(spoolDir);
        for (const b of todo) {
          const file = join(spoolDir, `${b.id}.json`);
          const temp = `${file}.${process.pid}.tmp`;
          const fh = await openFile(temp, 'w', 0o600);
          try {
            await fh.writeFile(JSON.stringify({ mtastsTlsrptBatch: 1, id: b.id, day: b.day, counters: b.counters }));
            await fh.sync();
          } finally {
            await fh.close();
          }
          await rename(temp, file);
          b.file = file;
        }
      } catch (err) {
        log?.error?.({ event: 'tlsrpt-spool-failed', dir: spoolDir, why: err.message });
      }
    });
    return spooling;
  }

  function scheduleSpool() {
    if (!spoolDir || spoolTimer) return;
    spoolTimer = setTimeout(() => {
      spoolTimer = null;
      void spool();
    }, SPOOL_MS);
  }

  /** Batches a process before this one left in the spool: sent before anything newer. */
  async function loadSpool() {
    let names;
    try {
      names = await readdir(spoolDir);
    } catch (err) {
      if (err.code !== 'ENOENT') log?.error?.({ event: 'tlsrpt-spool-failed', dir: spoolDir, why: err.message });
      return;
    }
    const found = [];
    for (const name of names.sort()) {
      const m = BATCH_FILE.exec(name);
      if (!m || sealed.some((b) => b.id === m[1])) continue;
      const file = join(spoolDir, name);
      try {
        const doc = JSON.parse(await readFile(file, 'utf8'));
        const ok = doc?.mtastsTlsrptBatch === 1 && doc.id === m[1] && DAY.test(doc.day) && Array.isArray(doc.counters) &&
          doc.counters.every((c) => Array.isArray(c) && c.length === 3 && isStoreKey(c[0]) && typeof c[1] === 'string' && Number.isInteger(c[2]) && c[2] >= 1);
        if (!ok) throw new Error('not a batch');
        found.push({ id: doc.id, day: doc.day, counters: doc.counters, file });
      } catch (err) {
        stats.corrupt++;
        log?.error?.({ event: 'tlsrpt-spool-unreadable', file, why: err.message });
        report(Object.assign(new MtaStsError('store-corrupt-entry', `spooled tls-rpt batch ${file} is unreadable (${err.message}); left in place`), { path: file }));
      }
    }
    sealed.unshift(...found);
    if (found.length > 0) log?.info?.({ event: 'tlsrpt-spool-loaded', batches: found.length });
  }
  const loaded = spoolDir ? loadSpool() : Promise.resolve();

  conn.onReady(() => {
    loaded.then(() => {
      if (pendingCounters() > 0) void drain();
    });
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
      else scheduleSpool();
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
      for (let i = sealed.length - 1; i >= 0; i--) {
        if (sealed[i].day !== day) continue;
        const [gone] = sealed.splice(i, 1);
        if (gone.file) await unlink(gone.file).catch(() => {});
      }
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
      clearTimeout(spoolTimer);
      await loaded;
      if (pendingCounters() > 0 && conn.up) await drain();
      if (pendingCounters() > 0 && spoolDir) await spool();
      const unsent = open.size + sealed.filter((b) => !b.file).reduce((k, b) => k + b.counters.length, 0);
      if (unsent > 0) log?.error?.({ event: 'tlsrpt-redis-unsent', counters: unsent });
      else if (pendingCounters() > 0) log?.warn?.({ event: 'tlsrpt-redis-spooled', counters: pendingCounters(), dir: spoolDir });
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
