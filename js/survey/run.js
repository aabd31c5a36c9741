// The survey loop: domains from a stream, checked `concurrency` at a time, each result handed on
// (written as one JSON line) the moment it is known. A check that met a temporary DNS failure is
// tried again after a growing pause; if it still fails it is a result of its own
// (dns-temporary), never "no record" (RFC 8461 §10: a failure to answer proves nothing).

import { classify } from './classify.js';
import { inShard } from './shard.js';

/**
 * @param {object} options
 * @param {AsyncIterable<{ domain: string, line: number }>} options.entries the input (input.js)
 * @param {(domain: string, attempt: number) => Promise<object>} options.check one `check --json`
 *   object for a normalised domain (checkDomain with the survey's hosts)
 * @param {(name: string) => string} options.normalise the core's normalizeDomain (throws MtaStsError)
 * @param {(result: object) => void} options.emit called once per domain, in completion order
 * @param {number} [options.concurrency] domains in flight (default 50)
 * @param {number} [options.retries] extra tries after a temporary failure (default 2)
 * @param {number} [options.backoffMs] pause before the first retry, doubled each time (default 1000)
 * @param {{ index, count } | null} [options.shard]
 * @param {(domain: string) => boolean} [options.skip] already done (--resume)
 * @param {AbortSignal} [options.signal] stop taking domains; results still in flight are dropped
 * @param {() => Date} [options.clock]
 * @returns {Promise<{ emitted: number, skipped: number, interrupted: boolean }>}
 */
export async function runSurvey({ entries, check, normalise, emit, concurrency = 50, retries = 2, backoffMs = 1000, shard = null, skip = () => false, signal, clock = () => new Date(), sleep = defaultSleep }) {
  const iterator = entries[Symbol.asyncIterator]();
  const counts = { emitted: 0, skipped: 0 };
  const stopped = () => signal?.aborted === true;

  // The next entry of this shard not yet done; null at the end. Calls are serialised by the
  // async iterator itself.
  const next = async () => {
    for (;;) {
      const { value, done } = await iterator.next();
      if (done) return null;
      let domain;
      try {
        domain = normalise(value.domain);
      } catch (err) {
        // A line that is not a domain name is a result too (so that every input line is accounted
        // for), with the core's error code (domain-invalid).
        if (!inShard(value.domain, shard) || skip(value.domain)) continue;
        return { domain: value.domain, invalid: err };
      }
      if (!inShard(domain, shard)) continue;
      if (skip(domain)) {
        counts.skipped += 1;
        continue;
      }
      return { domain, line: value.line };
    }
  };

  const one = async (entry) => {
    if (entry.invalid) {
      const e = entry.invalid;
      return { domain: entry.domain, error: { code: e.code ?? 'domain-invalid', message: e.message }, survey: { category: 'input-invalid', attempts: 0, at: clock().toISOString() } };
    }
    for (let attempt = 1; ; attempt++) {
      let result;
      try {
        result = await check(entry.domain, attempt);
      } catch (err) {
        return { domain: entry.domain, error: { code: err?.code ?? 'check-failed', message: err?.message ?? String(err) }, survey: { category: 'check-failed', attempts: attempt, at: clock().toISOString() } };
      }
      const c = classify(result);
      if (c.temporary && attempt <= retries && !stopped()) {
        await sleep(backoffMs * 2 ** (attempt - 1));
        if (!stopped()) continue;
      }
      return { ...result, survey: { category: c.category, attempts: attempt, at: clock().toISOString() } };
    }
  };

  const worker = async () => {
    while (!stopped()) {
      const entry = await next();
      if (entry === null || stopped()) return;
      const result = await one(entry);
      if (stopped()) return; // Ctrl-C: the output holds only whole results; --resume redoes this one
      emit(result);
      counts.emitted += 1;
    }
  };
  await Promise.race([
    Promise.all(Array.from({ length: concurrency }, worker)),
    new Promise((resolve) => signal?.addEventListener('abort', resolve, { once: true })),
  ]);
  return { ...counts, interrupted: stopped() };
}

const defaultSleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
