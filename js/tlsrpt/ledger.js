// The send ledger: what became of each report at each endpoint, so that a report is delivered once
// (RFC 8460 §5: one report per policy domain and day) and a temporary failure is retried with
// backoff for a bounded time.
//
// File: <store dir>/tlsrpt-sent/<YYYY-MM-DD>.jsonl, one JSON line per event, appended and fsync'd
// before the next endpoint is tried:
//   { at, policyDomain, rua, reportId, outcome, code?, detail? }
// outcome:
//   sent      delivered (an HTTP 2xx, an SMTP 250): final
//   failed    refused for good (a redirect, an HTTP 4xx, an SMTP 5xx): final, so an endpoint that
//             refuses the report is not hammered
//   deferred  a temporary failure (connect, timeout, HTTP 5xx/429, SMTP 4xx): tried again after a
//             backoff that grows with each deferral
//   given-up  still deferred RETRY_WINDOW_MS after the first deferral: final, and logged
// The last line of a (domain, rua) decides; a line cut short by a crash is skipped (that endpoint is
// then tried again, which at worst sends one report twice — never none).

import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MtaStsError } from '../error.js';

/**
 * Spec: RFC 8460 §5 leaves retries to the sender; a report is about one day, so retrying for a
 * day after the first failure (the "up to 24 hours") covers an endpoint's outage without
 * sending yesterday's report next week.
 */
export const RETRY_WINDOW_MS = 24 * 3600_000;
/** The first retry waits this long; each further one three times longer, up to RETRY_MAX_MS. */
export const RETRY_BASE_MS = 5 * 60_000;
export const RETRY_MAX_MS = 6 * 3600_000;

const FINAL = new Set(['sent', 'failed', 'given-up']);
const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** The wait before retry number `n` (1 = after the first deferral). */
export function backoff(n, base = RETRY_BASE_MS) {
  return Math.min(base * 3 ** Math.max(0, n - 1), Math.max(RETRY_MAX_MS, base));
}

/**
 * The ledger of `day` under `dir`.
 * @param {{ retryBase?: number, retryWindow?: number }} [timing] shorter timings for tests
 */
export async function openLedger(dir, day, { retryBase = RETRY_BASE_MS, retryWindow = RETRY_WINDOW_MS } = {}) {
  if (!DAY.test(day)) throw new MtaStsError('invalid-argument', `a ledger day is YYYY-MM-DD, found ${JSON.stringify(day)}`);
  const file = join(dir, `${day}.jsonl`);
  const state = new Map();
  const key = (domain, rua) => `${domain} ${rua}`;
  const apply = (entry) => {
    const k = key(entry.policyDomain, entry.rua);
    const prev = state.get(k);
    const deferred = entry.outcome === 'deferred' ? (prev?.outcome === 'deferred' ? prev.deferred + 1 : 1) : 0;
    const firstDeferredAt = entry.outcome === 'deferred' ? (prev?.outcome === 'deferred' ? prev.firstDeferredAt : entry.at) : null;
    state.set(k, { ...entry, deferred, firstDeferredAt });
  };
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err.code !== 'ENOENT') throw new MtaStsError('tlsrpt-ledger-io', `cannot read the ledger ${file}: ${err.code ?? err.message}`, { cause: err });
  }
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const r = JSON.parse(line);
      if (typeof r.policyDomain === 'string' && typeof r.rua === 'string' && typeof r.outcome === 'string' && typeof r.at === 'string') apply(r);
    } catch {
      // a line cut short by a crash: skipped
    }
  }
  return {
    file,
    /**
     * What to do about (domain, rua) at `now` (ms):
     *   { action: 'done', entry }                the last event is final
     *   { action: 'give-up', entry }             deferred for longer than the retry window
     *   { action: 'wait', until: ms, entry }     deferred, the backoff has not passed
     *   { action: 'try', entry: entry | null }   never tried, or due for a retry
     */
    due(domain, rua, now) {
      const entry = state.get(key(domain, rua)) ?? null;
      if (entry === null) return { action: 'try', entry };
      if (FINAL.has(entry.outcome)) return { action: 'done', entry };
      const first = Date.parse(entry.firstDeferredAt);
      if (now - first >= retryWindow) return { action: 'give-up', entry };
      const until = Date.parse(entry.at) + backoff(entry.deferred, retryBase);
      return now < until ? { action: 'wait', until, entry } : { action: 'try', entry };
    },
    /** Appends one event (fsync'd) and applies it. */
    async append(entry) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const fh = await open(file, 'a', 0o600);
      try {
        await fh.write(`${JSON.stringify(entry)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      apply(entry);
    },
  };
}
