// The relay's delivery journal: closes the window between the MX's 250 to the end of DATA and the
// relay's own 250 reaching the local MTA (DESIGN.md, "Relay (no loss)"; RFC 1047 describes it). A
// relay killed in that window leaves the message delivered at the MX and still queued upstream; the
// local MTA sends it again, identical (Postfix adds its Received header at queue time), and the
// relay finds it here as delivered: the end of data is then withheld from the MX and the local MTA
// hears 250 "already delivered".
//
// A message's key is SHA-256 over the envelope (MAIL FROM, the sorted RCPTs the MX accepted) and
// every octet of DATA as the local MTA sent it (deliveryHasher). Before the relay sends the final
// "." it appends `pending`, after the MX's 2xx `delivered`, each with fsync, the latter before the
// relay answers 250 upstream. A key that is only `pending` (the relay died between "." and the MX's
// reply, or the MX answered 4xx/5xx or nothing) counts as not delivered, and the message goes to the
// MX again: never lost; a duplicate is still possible in that one round trip.
//
// Files: <dir>/<YYYY-MM-DD>.jsonl (UTC day), one JSON object a line,
//   { "at": ISO time, "state": "pending" | "delivered", "key": 64 hex digits }
// appended through an O_APPEND descriptor (each line one write(2)) and fsynced, the directory
// fsynced when a day's file is new. A reader skips a line a crash cut short. Files older than
// `days` (the local MTA's maximal queue lifetime: Postfix's maximal_queue_lifetime is 5d) are
// deleted at start and at each new day; the delivered keys of the kept days are held in memory
// (about 150 bytes a message), so memory is bounded by the mail of those days.
//
// With `dir: null` the journal lives in memory only (the relay with --store memory): it then
// covers crashes of a connection, not of the process.

import { createHash } from 'node:crypto';
import { open, readFile, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { MtaStsError } from '../error.js';
import { makeDirectories } from '../stores/directory.js';

const DAY_FILE = /^(\d{4}-\d{2}-\d{2})\.jsonl$/;
const KEY = /^[0-9a-f]{64}$/;
const DAY_MS = 86_400_000;

const dayOf = (ms) => new Date(ms).toISOString().slice(0, 10);

/**
 * The key of one message, fed while DATA streams: `update(chunk)` with each chunk from the local
 * MTA, then `key()` once (hex). The envelope is encoded as JSON first, so no two envelopes share a
 * prefix of the hashed bytes.
 */
export function deliveryHasher(from, recipients) {
  const hash = createHash('sha256');
  hash.update(`${JSON.stringify(['mtasts-delivery-1', from, [...recipients].sort()])}\n`);
  return {
    update(chunk) {
      hash.update(chunk);
    },
    key() {
      return hash.digest('hex');
    },
  };
}

/** The entries of one day file's text: [{ state, key }] (damaged lines skipped). */
function parseDay(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const e = JSON.parse(line);
      if ((e.state === 'pending' || e.state === 'delivered') && KEY.test(e.key)) out.push(e);
    } catch {
      // a line cut short by a crash
    }
  }
  return out;
}

/**
 * What the journal in `dir` holds, all days (for tests and operators): `{ delivered: Set,
 * pendingOnly: [key], interrupted: [key] }`. pendingOnly: journaled `pending`, never `delivered`.
 * interrupted: a `pending` not followed by `delivered` before that key's next `pending` or the end
 * (the MX refused the "." or never answered it, or the relay died waiting): the only messages that
 * may have reached the MX twice.
 */
export async function readDeliveryJournal(dir) {
  const delivered = new Set();
  const pending = new Set();
  const awaiting = new Set(); // keys whose last entry is `pending`
  const interrupted = new Set();
  let names = [];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  for (const name of names.filter((n) => DAY_FILE.test(n)).sort()) {
    for (const e of parseDay(await readFile(join(dir, name), 'utf8'))) {
      if (e.state === 'delivered') {
        delivered.add(e.key);
        awaiting.delete(e.key);
        continue;
      }
      if (awaiting.has(e.key)) interrupted.add(e.key);
      pending.add(e.key);
      awaiting.add(e.key);
    }
  }
  for (const k of awaiting) interrupted.add(k);
  return { delivered, pendingOnly: [...pending].filter((k) => !delivered.has(k)), interrupted: [...interrupted] };
}


/**
 * One day's file, open for appending. Concurrent appends share fsyncs: an append waits for a sync
 * that started after its write finished (the one running, if it started later, or the next).
 */
async function openDayFile(dir, day) {
  const path = join(dir, `${day}.jsonl`);
  let existed = true;
  // A crash may have cut the last line short: the next line starts on a line of its own.
  let cut = false;
  try {
    const { size } = await stat(path);
    if (size > 0) {
      const r = await open(path, 'r');
      try {
        const { buffer } = await r.read(Buffer.alloc(1), 0, 1, size - 1);
        cut = buffer[0] !== 0x0a;
      } finally {
        await r.close();
      }
    }
  } catch {
    existed = false;
  }
  const handle = await open(path, 'a', 0o600);
  if (!existed) {
    // The new file's name is durable only once its directory is.
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
  let running = null;
  let next = null;
  const sync = () => {
    if (!running) {
      running = handle.sync().finally(() => {
        running = null;
      });
      return running;
    }
    next ??= running.then(
      () => ((next = null), sync()),
      () => ((next = null), sync()),
    );
    return next;
  };
  return {
    async append(line) {
      const text = cut ? `\n${line}` : line;
      cut = false;
      await handle.write(text);
      await sync();
    },
    close: () => handle.close(),
  };
}

/**
 * Opens the journal: reads the kept days of `dir` (deleting older files), or starts empty in memory
 * (`dir: null`).
 * @param {object} options
 * @param {string|null} options.dir
 * @param {number} [options.days] how many days back a delivered key is remembered (default 5)
 * @param {() => number} [options.clock] ms since the epoch
 * @returns {Promise<{ isDelivered(key): boolean, recordPending(key), recordDelivered(key), close(), stats }>}
 */
export async function openDeliveryJournal({ dir, days = 5, clock = Date.now }) {
  const byDay = new Map(); // day → Set of delivered keys
  const files = new Map(); // day → day file (promise)
  const stats = { delivered: 0, pendingOnly: 0, expiredFiles: 0 };
  const oldestKept = () => dayOf(clock() - days * DAY_MS);

  async function expire() {
    const oldest = oldestKept();
    for (const day of byDay.keys()) if (day < oldest) byDay.delete(day);
    if (!dir) return;
    for (const [day, file] of files) {
      // Yesterday's file may still get a late line; older ones are closed.
      if (day < dayOf(clock() - DAY_MS)) {
        files.delete(day);
        file.then((f) => f.close(), () => {});
      }
    }
    for (const name of await readdir(dir)) {
      const m = DAY_FILE.exec(name);
      if (m && m[1] < oldest) {
        await unlink(join(dir, name)).catch(() => {});
        stats.expiredFiles += 1;
      }
    }
  }

  if (dir) {
    try {
      await makeDirectories(dir);
      await expire();
      const pending = new Set();
      const delivered = new Set();
      for (const name of (await readdir(dir)).sort()) {
        const m = DAY_FILE.exec(name);
        if (!m) continue;
        for (const e of parseDay(await readFile(join(dir, name), 'utf8'))) {
          if (e.state === 'pending') {
            pending.add(e.key);
            continue;
          }
          delivered.add(e.key);
          if (!byDay.has(m[1])) byDay.set(m[1], new Set());
          byDay.get(m[1]).add(e.key);
        }
      }
      stats.delivered = delivered.size;
      stats.pendingOnly = [...pending].filter((k) => !delivered.has(k)).length;
    } catch (err) {
      throw new MtaStsError('journal-unavailable', `cannot open the delivery journal in ${dir}: ${err.code ?? err.message}`, { cause: err });
    }
  }

  let today = dayOf(clock());

  async function append(state, key) {
    const day = dayOf(clock());
    if (day !== today) {
      today = day;
      await expire().catch(() => {});
    }
    if (!dir) return day;
    if (!files.has(day)) {
      const opening = openDayFile(dir, day);
      files.set(day, opening);
      opening.catch(() => files.delete(day));
    }
    try {
      const file = await files.get(day);
      await file.append(`${JSON.stringify({ at: new Date(clock()).toISOString(), state, key })}\n`);
    } catch (err) {
      throw new MtaStsError('journal-write-failed', `cannot write the delivery journal in ${dir}: ${err.code ?? err.message}`, { cause: err });
    }
    return day;
  }

  return {
    stats,
    /** Whether `key` was journaled as delivered within the kept days. */
    isDelivered(key) {
      for (const set of byDay.values()) if (set.has(key)) return true;
      return false;
    },
    /** Appends `pending` (durable when it resolves): the final "." may go to the MX now. */
    async recordPending(key) {
      await append('pending', key);
    },
    /** Appends `delivered` (durable when it resolves): the relay may answer 250 upstream now. */
    async recordDelivered(key) {
      const day = await append('delivered', key);
      if (!byDay.has(day)) byDay.set(day, new Set());
      byDay.get(day).add(key);
    },
    async close() {
      const all = [...files.values()];
      files.clear();
      await Promise.all(all.map((f) => f.then((x) => x.close(), () => {})));
    },
  };
}
