// Limits of `mtasts serve`'s helpers: token buckets per client address and per domain, and caps on
// the requests in flight. A refusal is serve-rate-limited (429, with Retry-After) or serve-busy
// (503). Time comes from `now` (ms), so tests move it instead of waiting.

import { ServeError } from './errors.js';

/** At most this many buckets are kept per limiter (the least recently used go first). */
const MAX_BUCKETS = 10_000;

/**
 * @param {{ perMinute: number, burst?: number, now?: () => number }} options
 */
export function createRateLimiter({ perMinute, burst = perMinute, now = Date.now }) {
  const buckets = new Map();
  const rate = perMinute / 60_000; // tokens per ms
  return {
    /** Takes one token for `key`, or throws serve-rate-limited naming `what`. */
    take(key, what) {
      const t = now();
      let b = buckets.get(key);
      if (b) buckets.delete(key);
      else b = { tokens: burst, at: t };
      b.tokens = Math.min(burst, b.tokens + (t - b.at) * rate);
      b.at = t;
      buckets.set(key, b);
      if (buckets.size > MAX_BUCKETS) buckets.delete(buckets.keys().next().value);
      if (b.tokens < 1) {
        const retryAfter = Math.max(1, Math.ceil((1 - b.tokens) / rate / 1000));
        throw new ServeError('serve-rate-limited', `too many ${what}: at most ${perMinute} a minute; try again in ${retryAfter} s`, { retryAfter });
      }
      b.tokens -= 1;
    },
  };
}

/** Runs at most `limit` tasks at once; the next one is refused with serve-busy. */
export function createConcurrencyCap(limit, what) {
  let running = 0;
  return {
    async run(task) {
      if (running >= limit) throw new ServeError('serve-busy', `the server is busy with ${limit} ${what}; try again shortly`, { retryAfter: 5 });
      running += 1;
      try {
        return await task();
      } finally {
        running -= 1;
      }
    },
    get running() {
      return running;
    },
  };
}
