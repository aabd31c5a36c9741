// The answer to one socketmap request: the request read by the core (zone + policy domain, or an
// answer at once), the domain's policy from the PolicyResolver (same discovery and store as the
// relay), the domain's MX records when the core needs them (wildcard patterns), and the core's
// reply. Answers are kept for `answerTtl` seconds (never past the policy's expiry), so a busy
// Postfix is answered from memory; nothing here decides what the reply says.

import { Discovery, encodeSocketmapReply, socketmapAnswer, socketmapNeedsMx, socketmapRequest } from '../core.js';

/** Answers kept at most (the oldest made is dropped first). */
export const DEFAULT_ANSWER_CACHE_SIZE = 200_000;

const statusLookup = { cached: 'hit', found: 'miss', none: 'none', temperror: 'none' };

/**
 * @param {object} o
 * @param {object} o.resolver        a PolicyResolver (its store is the policy cache)
 * @param {object} o.dns             the DNS host (js/node/dns.js): resolveMx(name)
 * @param {object} o.zones           { mapName: { strictTesting, stsAttributes, timeout (ms) } }
 * @param {object} o.defaultZone     the zone of map names not in `zones`
 * @param {number} [o.answerTtl]     seconds an answer is reused (default 30; 0 = never)
 * @param {number} [o.cacheSize]
 * @param {() => number} [o.now]     ms clock
 * @param {object} [o.metrics]       createSocketmapMetrics()
 * @param {object} [o.log]           pino logger
 */
export function createAnswers({ resolver, dns, zones = {}, defaultZone, answerTtl = 30, cacheSize = DEFAULT_ANSWER_CACHE_SIZE, now = Date.now, metrics, log }) {
  const cache = new Map(); // the request's bytes (latin1) → { frame (UTF-8 text), until, answerClass }

  const zoneOf = (map) => (map !== null && Object.hasOwn(zones, map) ? { name: map, ...zones[map] } : { name: null, ...defaultZone });

  function remember(key, frame, until, answerClass) {
    if (cache.size >= cacheSize) cache.delete(cache.keys().next().value);
    cache.set(key, { frame, until, answerClass });
  }

  /** The policy, or — when discovery takes longer than the zone allows — what the cache says. */
  async function policyOf(domain, zone) {
    let timer;
    const late = new Promise((resolve) => {
      timer = setTimeout(resolve, zone.timeout, null);
      timer.unref?.();
    });
    const running = resolver.resolve(domain);
    running.catch(() => {});
    const result = await Promise.race([running, late]).finally(() => clearTimeout(timer));
    if (result) return { result, timedOut: false };
    // The discovery goes on in the background (and fills the store). Meanwhile the core decides
    // from the cached entry alone, as if the TXT lookup had failed: RFC 8461 §10.2, a cached
    // unexpired policy keeps applying; with nothing cached there is no policy yet (§5).
    return { result: await cacheOnly(domain), timedOut: true };
  }

  async function cacheOnly(domain) {
    const entry = await resolver.store.get(domain).catch(() => null);
    const d = new Discovery(domain, entry, now() / 1000, resolver.recheckAfter);
    try {
      for (let step = d.poll(); ; step = d.poll()) {
        if (step.step === 'resolve-txt') d.onTxtFailed(`no answer within the zone timeout`);
        else if (step.step === 'fetch-policy') d.onFetchFailed('timeout', 'no answer within the zone timeout', 0, -1);
        else return { ...step.outcome, expiresAt: step.outcome.expiresAt == null ? null : new Date(step.outcome.expiresAt * 1000) };
      }
    } finally {
      d.free();
    }
  }

  async function mxOf(domain) {
    const r = await dns.resolveMx(domain);
    if (r.ok) return { kind: 'records', exchanges: r.records.map((x) => x.exchange), priorities: r.records.map((x) => x.priority) };
    if (r.kind === 'none') return { kind: 'none', detail: r.detail };
    return { kind: r.detail === 'ETIMEOUT' ? 'timeout' : 'temporary', detail: r.detail };
  }

  /**
   * Everything about one request: { map, key, domain, zone, policy (the resolver's result or
   * null), timedOut, mx, answer: { reply, class, reason, match, mode }, frame, cacheable }.
   */
  async function explain(data) {
    const request = socketmapRequest(data);
    if (request.answer) {
      return { map: request.map, key: request.key, domain: null, zone: null, policy: null, timedOut: false, mx: null, answer: request.answer, frame: encodeSocketmapReply(request.answer.reply), cacheable: true };
    }
    const { domain } = request;
    const zone = zoneOf(request.map);
    const { result, timedOut } = await policyOf(domain, zone);
    metrics?.policyLookups.inc({ result: statusLookup[result.status] ?? 'none' });
    const policy = result.policy ?? null;
    const mx = socketmapNeedsMx(policy, zone.strictTesting) ? await mxOf(domain) : null;
    const ttl = result.expiresAt ? Math.max(0, Math.floor((result.expiresAt.getTime() - now()) / 1000)) : 0;
    const answer = socketmapAnswer(domain, policy, ttl, zone, mx);
    const cacheable = !timedOut && result.status !== 'temperror' && !(mx && (mx.kind === 'temporary' || mx.kind === 'timeout'));
    return { map: request.map, key: request.key, domain, zone, policy: result, timedOut, mx, answer, frame: encodeSocketmapReply(answer.reply), cacheable };
  }

  return {
    zoneOf,
    explain,

    /** The reply kept for these request bytes ({ frame, until, answerClass }), or undefined. */
    cached(key) {
      const hit = cache.get(key);
      if (hit === undefined) return undefined;
      if (now() >= hit.until) {
        cache.delete(key);
        return undefined;
      }
      return hit;
    },

    /** Makes (and keeps) the answer to a request; resolves { frame, detail }. */
    async answer(key, data) {
      const detail = await explain(data);
      if (detail.cacheable && answerTtl > 0) {
        const expires = detail.policy?.expiresAt ? detail.policy.expiresAt.getTime() : Infinity;
        // Kept as a string (the frame's UTF-8 text) rather than a small typed array each: measured
        // with 100,000 answers, 141 instead of 181 MiB more RSS (tests/bench/socketmap.mjs).
        remember(key, Buffer.from(detail.frame.buffer, detail.frame.byteOffset, detail.frame.byteLength).toString('utf8'), Math.min(now() + answerTtl * 1000, expires), detail.answer.class);
      }
      log?.info({ event: 'socketmap-answer', map: detail.map, key: detail.key, domain: detail.domain, reply: detail.answer.reply, reason: detail.answer.reason, status: detail.policy?.status ?? null, timedOut: detail.timedOut });
      return { frame: detail.frame, detail };
    },

    /** How many answers are kept. */
    get size() {
      return cache.size;
    },
  };
}
