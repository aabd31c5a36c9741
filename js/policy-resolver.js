// PolicyResolver: drives the core's discovery state machine (RFC 8461 §3.3, §5.1, §10.2) with the
// host's DNS and HTTPS functions and a store. Every decision — fetch or not, keep the cache or not,
// which error — is the core's; this file only performs the steps and applies the store action.
//
// Hosts: `dns.resolveTxt(name)` → { ok: true, records } | { ok: false, kind: 'none'|'temporary', detail }
//        `https.get(url)` → { ok: true, status, contentType, location, body } | { ok: false, kind, detail }

import { Discovery, MtaStsError, normalizeDomain, plainBytes, refreshDue } from './core.js';
import { memoryStore } from './stores/memory.js';

/** Default seconds a TXT check stays good before the record is asked again. */
export const DEFAULT_RECHECK_AFTER = 300;

const toDate = (seconds) => (seconds == null ? null : new Date(seconds * 1000));

/** Results kept for reuse, at most this many domains (oldest dropped first). */
const MAX_REUSED = 10_000;

function deepFreeze(value) {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The public result: the core's outcome without its store instruction, with Date times. Frozen,
 * because the same object is handed to every caller while it may be reused.
 */
function publicResult(outcome) {
  const { store, fetchedAt, expiresAt, freshUntil, ...rest } = outcome;
  return deepFreeze({ ...rest, fetchedAt: toDate(fetchedAt), expiresAt: toDate(expiresAt) });
}

/**
 * RFC 8460 §4.3.2.2: a policy fetch failure is reported with the `sending-mta-ip` that fetched
 * (§4.4); the error of a failed fetch carries it as `sendingIp` for the TLS-RPT records.
 */
const FETCH_RESULT_TYPES = new Set(['sts-policy-fetch-error', 'sts-policy-invalid', 'sts-webpki-invalid']);
function withSendingIp(error, address) {
  return FETCH_RESULT_TYPES.has(error?.tlsrpt) ? { ...error, sendingIp: address } : error;
}

const encoder = new TextEncoder();

/**
 * What a host function answered. A host that throws or rejects (a bug, a DoH fetch that failed)
 * has not said that a record is absent: it is a failure like a timeout, so that the core keeps a
 * cached policy (RFC 8461 §5.1, §10.2) instead of the whole look-up failing.
 */
async function hostAnswer(call) {
  try {
    return await call();
  } catch (err) {
    let why = 'the host function failed';
    try {
      why = `the host function failed: ${err instanceof Error ? err.message : String(err)}`;
    } catch {
      // an error that cannot be shown
    }
    return { ok: false, kind: 'protocol', detail: why };
  }
}

/**
 * The answer's records when they are what the core takes (arrays of strings), else null. Checked
 * here, before the module: a value the bindings cannot read (a Proxy whose traps throw) would
 * unwind through the core and leave its machine borrowed.
 */
function recordsOf(txt) {
  try {
    const r = txt.records;
    return Array.isArray(r) && r.every((x) => Array.isArray(x) && x.every((v) => typeof v === 'string')) ? r.map((x) => [...x]) : null;
  } catch {
    return null;
  }
}

/** A host's string field, or `fallback` when it is anything else. */
const text = (v, fallback) => (typeof v === 'string' ? v : fallback);
const optionalText = (v) => (typeof v === 'string' ? v : null);

/** The host's body as bytes (a Uint8Array or Buffer as is, a string as UTF-8). */
function toBytes(body) {
  if (body instanceof Uint8Array) return plainBytes(body, () => new MtaStsError('invalid-argument', 'the https host answered a body that is no Uint8Array'));
  if (typeof body === 'string') return encoder.encode(body);
  return new Uint8Array(0);
}

const invalid = (message) => new MtaStsError('invalid-argument', `PolicyResolver: ${message}`);
const isFunction = (v) => typeof v === 'function';

/** The constructor's options, by type (a configuration error is named at once, not at the first look-up). */
function checkResolverOptions(o) {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw invalid('options must be an object { dns, https, ... }');
  if (!isFunction(o.dns?.resolveTxt)) throw invalid('options.dns must have a resolveTxt(name) function');
  if (!isFunction(o.https?.get)) throw invalid('options.https must have a get(url) function');
  const { store, recheckAfter, now, random, onStoreError } = o;
  if (store !== undefined && !['get', 'put', 'delete', 'list'].every((k) => isFunction(store?.[k]))) throw invalid('options.store must have get, put, delete and list functions');
  if (recheckAfter !== undefined && !(typeof recheckAfter === 'number' && recheckAfter >= 0 && recheckAfter <= 2 ** 32)) throw invalid('options.recheckAfter must be a number of seconds');
  for (const [name, v] of [['now', now], ['random', random], ['onStoreError', onStoreError]]) {
    if (v !== undefined && !isFunction(v)) throw invalid(`options.${name} must be a function`);
  }
}

export class PolicyResolver {
  /**
   * @param {object} options
   * @param {{ resolveTxt(name: string): Promise<object> }} options.dns
   * @param {{ get(url: string): Promise<object> }} options.https
   * @param {object} [options.store] get/put/delete/list store (default: memoryStore())
   * @param {number} [options.recheckAfter] seconds a TXT check stays good (default 300; 0 = always ask)
   * @param {() => number} [options.now] clock in milliseconds (default Date.now)
   * @param {() => number} [options.random] [0, 1) source for refresh jitter (default Math.random)
   * @param {(err: MtaStsError, domain: string) => void} [options.onStoreError] told when the store
   *   cannot save or remove an entry (code `store-io-error`, `temporary: true`); the result then
   *   still carries the fetched policy, with the same failure in its `errors`
   */
  constructor(options) {
    checkResolverOptions(options);
    const { dns, https, store = memoryStore(), recheckAfter = DEFAULT_RECHECK_AFTER, now = Date.now, random = Math.random, onStoreError } = options;
    this.dns = dns;
    this.https = https;
    this.store = store;
    this.recheckAfter = recheckAfter;
    this.now = now;
    this.random = random;
    this.onStoreError = onStoreError;
    /** How many store writes failed (see onStoreError). */
    this.storeErrors = 0;
    this.inflight = new Map();
    // Results the core marked reusable (`freshUntil`): within that time the core would answer
    // from the cache without any I/O, so the answer is served without asking it again.
    this.reuse = new Map();
  }

  /**
   * Resolves the policy of `domain`. Concurrent calls for one domain share one discovery.
   * @returns {Promise<{ domain, status, policy, id, fetchedAt, expiresAt, source, errors }>}
   */
  resolve(domain, { refresh = false } = {}) {
    if (typeof domain !== 'string') {
      const found = domain === null ? 'null' : Array.isArray(domain) ? 'an array' : typeof domain;
      return Promise.reject(new MtaStsError('invalid-argument', `a policy domain must be a string, found ${found}`));
    }
    const reused = refresh ? undefined : this.reuse.get(domain);
    if (reused !== undefined && this.now() / 1000 < reused.freshUntil) return Promise.resolve(reused.result);
    const key = normalizeDomain(domain);
    const running = this.inflight.get(key);
    if (running && !refresh) return running;
    const job = this.#discover(key, refresh, domain).finally(() => {
      if (this.inflight.get(key) === job) this.inflight.delete(key);
    });
    this.inflight.set(key, job);
    return job;
  }

  async #discover(key, refresh, asked) {
    const cached = await this.store.get(key);
    const d = new Discovery(key, cached, this.now() / 1000, this.recheckAfter);
    let fetchedFrom = null; // the local address of this discovery's policy fetch, when it made one
    try {
      if (refresh) d.forceFetch();
      for (;;) {
        const step = d.poll();
        if (step.step === 'resolve-txt') {
          // Typed across the boundary, like the body below: the host's own classification of its
          // answer (records, none, or a temporary failure), never a JSON string.
          const txt = await hostAnswer(() => this.dns.resolveTxt(step.name));
          const records = txt?.ok === true ? recordsOf(txt) : null;
          if (records !== null) d.onTxtRecords(records);
          else if (txt?.ok === true) d.onTxtFailed('malformed TXT answer from the host');
          else if (txt?.kind === 'none') d.onTxtNone();
          else d.onTxtFailed(text(txt?.detail, 'unknown DNS failure'));
        } else if (step.step === 'fetch-policy') {
          const answer = await hostAnswer(() => this.https.get(step.url));
          if (typeof answer?.localAddress === 'string') fetchedFrom = answer.localAddress;
          // Typed across the boundary: the body as bytes, never inside a JSON string.
          if (answer?.ok === true && Number.isInteger(answer.status) && answer.status >= 0 && answer.status <= 0xffff) {
            d.onResponse(answer.status, optionalText(answer.contentType), optionalText(answer.location), toBytes(answer.body));
          } else {
            const count = (n) => (typeof n === 'number' && n >= 0 ? n : -1);
            d.onFetchFailed(text(answer?.ok === true ? 'protocol' : answer?.kind, 'protocol'), text(answer?.detail, answer?.ok === true ? 'malformed answer from the https host' : ''), Math.max(0, count(answer?.received)), count(answer?.expected));
          }
        } else {
          const storeError = await this.#applyStore(key, step.outcome.store);
          let outcome = storeError ? { ...step.outcome, errors: [...step.outcome.errors, storeError] } : step.outcome;
          if (fetchedFrom !== null) outcome = { ...outcome, errors: outcome.errors.map((e) => withSendingIp(e, fetchedFrom)) };
          const result = publicResult(outcome);
          this.#remember(asked, step.outcome.freshUntil, result);
          return result;
        }
      }
    } finally {
      d.free();
    }
  }

  #remember(asked, freshUntil, result) {
    this.reuse.delete(asked);
    if (freshUntil == null) return;
    if (this.reuse.size >= MAX_REUSED) this.reuse.delete(this.reuse.keys().next().value);
    this.reuse.set(asked, { freshUntil, result });
  }

  /**
   * Performs the core's store instruction. A store that fails does not undo what the network
   * answered: the policy fetched (or the removal decided) still applies to this result; only the
   * cache missed it, so the next discovery may fetch again. Returns the failure as a result error
   * entry (no TLS-RPT type: it is the sender's own fault, not the policy domain's), or null.
   */
  async #applyStore(key, action) {
    try {
      if (action.action === 'put') await this.store.put(key, action.entry);
      else if (action.action === 'delete') await this.store.delete(key);
      return null;
    } catch (cause) {
      this.storeErrors++;
      const why = cause?.message ?? String(cause);
      const err = new MtaStsError('store-io-error', `cannot ${action.action} the cached policy of ${key}: ${why}`, { cause });
      err.temporary = true;
      if (typeof this.onStoreError === 'function') {
        try {
          this.onStoreError(err, key);
        } catch {
          // a failing observer must not turn a fetched policy into a failed look-up
        }
      }
      // RFC 8461 §3.3: senders cache the policy; failing to is the sender's problem to log.
      return { code: 'store-io-error', message: err.message, tlsrpt: null, rfc: 'RFC 8461 §3.3', temporary: true };
    }
  }

  /** Stored domains due for proactive refresh now (RFC 8461 §3.3, §10.2), with jitter. */
  async dueForRefresh() {
    const now = this.now() / 1000;
    const entries = await this.store.list();
    return entries.filter(({ entry }) => refreshDue(entry, now, this.random())).map(({ domain }) => domain);
  }

  /** Refreshes every due entry; failures keep the cached policy. Returns the results. */
  async refreshDue() {
    const results = [];
    for (const domain of await this.dueForRefresh()) {
      results.push(await this.resolve(domain, { refresh: true }));
    }
    return results;
  }
}
