// The relay's TLS-RPT result log (RFC 8460 §4): an append-only list per policy domain and UTC day of
// what each delivery attempt met — success, or the failure's result type — for the reporter to
// aggregate (RFC 8460 §4.3: counts of successful and failed sessions, failure details by type).
//
// File layout, next to the policy cache of a file store:
//   <store dir>/tlsrpt/<YYYY-MM-DD>/<policy domain>.jsonl
// one JSON object per line (a record, below), appended with O_APPEND: each record is one write(2)
// of one short line, so concurrent relays sharing the directory do not interleave inside a line.
// A reader skips a line that does not parse (a crash can at most cut the last line short).
//
// A record (attempt-records.js writes them):
//   { at: ISO time, policyDomain, policyType: 'sts' | 'no-policy-found', policyId, mode,
//     policyStrings: [line, ...], mxPatterns: [pattern, ...], count: 1,
//     kind: 'session' | 'discovery', mx, address, sendingIp,
//     result: 'success' | <result type>, code, message }
// `kind: 'discovery'` records a failure met while fetching the policy (sts-policy-fetch-error,
// sts-policy-invalid, sts-webpki-invalid); `session` one connection attempt to one MX address.
// One record is one session (`count: 1`); the files of several relays, or of one relay across
// restarts, add up line by line: the core merges counters by addition (src/tlsrpt/report.rs).
// sessionResultsFor turns a day of records into the core's SessionResults.
//
// Retention: day directories older than `keepDays` (DEFAULT_KEEP_DAYS) are deleted by the relay
// at start and daily, and by `mtasts report build --prune` (pruneTlsrptLog).

import { appendFile, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isStoreKey } from '../stores/key.js';
import { MtaStsError } from '../error.js';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const MAX_MESSAGE = 300;
const DAY_MS = 86_400_000;
const JSONL = '.jsonl';

/**
 * Days of records kept (`--keep-days`). Spec: RFC 8460 §4.1 reports cover one UTC day and are
 * sent after it ends; 10 days leave a week for a report that could not be built or sent at once.
 */
export const DEFAULT_KEEP_DAYS = 10;

/** The UTC day of a record, `YYYY-MM-DD`. */
export function dayOf(date) {
  return date.toISOString().slice(0, 10);
}

/**
 * The oldest day kept at `now` (ms) when `keepDays` days are kept: today minus `keepDays` (with 10,
 * on the 11th the 1st is the oldest day kept, so yesterday's records always survive).
 */
export function oldestKeptDay(now, keepDays) {
  if (!Number.isInteger(keepDays) || keepDays < 1) {
    throw new MtaStsError('invalid-argument', `keepDays must be a whole number of days from 1, found ${JSON.stringify(keepDays)}`);
  }
  return dayOf(new Date(now - keepDays * DAY_MS));
}

/**
 * Deletes the days of `log` before the oldest kept day; returns the days deleted, oldest first.
 * @param {object} log a fileTlsrptLog or memoryTlsrptLog
 * @param {{ now: number, keepDays?: number }} options `now` in ms
 */
export async function pruneTlsrptLog(log, { now, keepDays = DEFAULT_KEEP_DAYS }) {
  const oldest = oldestKeptDay(now, keepDays);
  const removed = [];
  for (const day of await log.days()) {
    // `YYYY-MM-DD` sorts as the days do.
    if (day < oldest) {
      await log.removeDay(day);
      removed.push(day);
    }
  }
  return removed;
}

/**
 * The core's SessionResults (buildTlsRptReports `results`, src/tlsrpt/report.rs) of every record
 * of `day`: the mapping its SessionResult doc gives for a delivery Attempt. RFC 8460 §4.4: the
 * policy (type, policy-string, mx-host), `sending-mta-ip`, `receiving-mx-hostname`,
 * `receiving-ip`; `failure-reason-code` is the core's error code of a failure (a stable word,
 * where the message would split one failure into many details). A discovery record has no MX
 * (§4.3.2.2 failures happen before one is chosen).
 * @returns {Promise<object[]>} in file order, policy domains sorted
 */
export async function sessionResultsFor(tlsrptLog, day) {
  const results = [];
  for (const policyDomain of await tlsrptLog.domains(day)) {
    // Records that differ only in time are one result with their counts added (what the core's
    // aggregation does anyway, RFC 8460 §4.3: counts per policy and failure detail): a day of a
    // busy relay crosses into the core as a few results per domain, not one per session.
    const merged = new Map();
    for (const r of await tlsrptLog.list(policyDomain, day)) {
      const sts = r.policyType === 'sts';
      const session = r.kind === 'session';
      const result = {
        policyDomain,
        policy: {
          type: sts ? 'sts' : 'no-policy-found',
          strings: sts && Array.isArray(r.policyStrings) ? r.policyStrings : [],
          mxPatterns: sts && Array.isArray(r.mxPatterns) ? r.mxPatterns : [],
        },
        result: r.result,
        // RFC 8460 §4.4: the local address of the session, or of the policy fetch for a discovery
        // failure (null when no connection was made, e.g. a DNS failure; left out of the report).
        sendingMtaIp: r.sendingIp ?? null,
        receivingMxHostname: session ? (r.mx ?? null) : null,
        receivingIp: session ? (r.address ?? null) : null,
        failureReasonCode: r.result === 'success' ? null : (r.code ?? null),
        count: Number.isInteger(r.count) && r.count >= 1 ? r.count : 1,
      };
      const p = result.policy;
      const key = [p.type, p.strings.join('\n'), p.mxPatterns.join(' '), result.result, result.sendingMtaIp, result.receivingMxHostname, result.receivingIp, result.failureReasonCode].join('\0');
      const seen = merged.get(key);
      if (seen) seen.count += result.count;
      else merged.set(key, result);
    }
    results.push(...merged.values());
  }
  return results;
}

function checkRecord(policyDomain, record) {
  if (!isStoreKey(policyDomain)) {
    throw new MtaStsError('store-invalid-key', `tls-rpt records are kept per policy domain (lowercase ldh), found ${JSON.stringify(policyDomain)}`);
  }
  const at = new Date(record.at);
  if (Number.isNaN(at.getTime())) throw new MtaStsError('invalid-argument', 'a tls-rpt record needs a valid `at` time');
  const out = { ...record, at: at.toISOString(), policyDomain };
  if (typeof out.message === 'string' && out.message.length > MAX_MESSAGE) out.message = `${out.message.slice(0, MAX_MESSAGE)}...`;
  return { day: dayOf(at), line: `${JSON.stringify(out)}\n` };
}

/** Records in files under `dir` (see the layout above). */
export function fileTlsrptLog(dir) {
  const made = new Set();
  return {
    dir,
    async record(policyDomain, record) {
      const { day, line } = checkRecord(policyDomain, record);
      const dayDir = join(dir, day);
      if (!made.has(dayDir)) {
        await mkdir(dayDir, { recursive: true, mode: 0o700 });
        made.add(dayDir);
      }
      await appendFile(join(dayDir, `${policyDomain}.jsonl`), line, { mode: 0o600 });
    },
    /** The days that have records, oldest first. */
    async days() {
      try {
        return (await readdir(dir)).filter((d) => DAY.test(d)).sort();
      } catch (err) {
        if (err.code === 'ENOENT') return [];
        throw err;
      }
    },
    /** The policy domains with records on `day`, sorted. */
    async domains(day) {
      if (!DAY.test(day)) return [];
      try {
        return (await readdir(join(dir, day)))
          .filter((f) => f.endsWith(JSONL) && isStoreKey(f.slice(0, -JSONL.length)))
          .map((f) => f.slice(0, -JSONL.length))
          .sort();
      } catch (err) {
        if (err.code === 'ENOENT') return [];
        throw err;
      }
    },
    /** Deletes the records of `day` (its directory). */
    async removeDay(day) {
      if (!DAY.test(day)) return;
      await rm(join(dir, day), { recursive: true, force: true });
      made.delete(join(dir, day));
    },
    /** The records of `policyDomain` on `day` (`YYYY-MM-DD`), in the order written. */
    async list(policyDomain, day) {
      if (!isStoreKey(policyDomain) || !DAY.test(day)) return [];
      let text;
      try {
        text = await readFile(join(dir, day, `${policyDomain}.jsonl`), 'utf8');
      } catch (err) {
        if (err.code === 'ENOENT') return [];
        throw err;
      }
      const out = [];
      for (const line of text.split('\n')) {
        if (!line) continue;
        try {
          out.push(JSON.parse(line));
        } catch {
          // a line cut short by a crash: skipped
        }
      }
      return out;
    },
  };
}

/** The same interface in memory (the relay with `--store memory`). */
export function memoryTlsrptLog() {
  const byKey = new Map();
  return {
    async record(policyDomain, record) {
      const { day, line } = checkRecord(policyDomain, record);
      const key = `${day} ${policyDomain}`;
      if (!byKey.has(key)) byKey.set(key, []);
      byKey.get(key).push(JSON.parse(line));
    },
    async days() {
      return [...new Set([...byKey.keys()].map((k) => k.split(' ')[0]))].sort();
    },
    async domains(day) {
      return [...byKey.keys()].filter((k) => k.startsWith(`${day} `)).map((k) => k.slice(day.length + 1)).sort();
    },
    async removeDay(day) {
      for (const k of [...byKey.keys()]) if (k.startsWith(`${day} `)) byKey.delete(k);
    },
    async list(policyDomain, day) {
      return structuredClone(byKey.get(`${day} ${policyDomain}`) ?? []);
    },
  };
}
