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
// A record:
//   { at: ISO time, policyDomain, policyType: 'sts' | 'no-policy-found', policyId, mode,
//     kind: 'session' | 'discovery', mx, address, result: 'success' | <result type>, code, message }
// `kind: 'discovery'` records a failure met while fetching the policy (sts-policy-fetch-error,
// sts-policy-invalid, sts-webpki-invalid); `session` one connection attempt to one MX address.

import { appendFile, mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isStoreKey } from '../stores/key.js';
import { MtaStsError } from '../error.js';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const MAX_MESSAGE = 300;

/** The UTC day of a record, `YYYY-MM-DD`. */
export function dayOf(date) {
  return date.toISOString().slice(0, 10);
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
    async list(policyDomain, day) {
      return structuredClone(byKey.get(`${day} ${policyDomain}`) ?? []);
    },
  };
}
