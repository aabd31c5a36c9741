// A query rate limit: at most `perSecond` starts per second, spaced evenly (no bursts), shared by
// every caller of one limiter. Survey manners: a resolver is not flooded however high the
// concurrency.

/** @returns {() => Promise<void>} resolves when the caller may send its next query */
export function rateLimit(perSecond, { now = () => performance.now(), sleep = defaultSleep } = {}) {
  if (!perSecond) return () => Promise.resolve();
  const gap = 1000 / perSecond;
  let next = 0;
  return () => {
    const t = now();
    const slot = Math.max(t, next);
    next = slot + gap;
    return slot > t ? sleep(slot - t) : Promise.resolve();
  };
}

const defaultSleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
