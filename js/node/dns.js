// The Node host's DNS: TXT, MX and A/AAAA look-ups through one `dns.promises.Resolver`, with every
// failure classified as "no such record" or "temporary", and a `lookup` function with the shape of
// `dns.lookup` so that `net`, `tls` and `https` resolve names through the same resolver instead of the
// operating system's getaddrinfo.
//
// Options that point at test infrastructure (`servers`) are off by default: without them the resolver
// uses the system's configured name servers (as `dns.getServers()` reports them).

import { promises as dnsPromises } from 'node:dns';
import { isIP } from 'node:net';

// RFC 8461 §3.3, §5 and §10: only an authoritative "this name has no such record" may be read as
// "no record". NXDOMAIN (ENOTFOUND) and an empty answer (ENODATA) are that. Anything else — a timeout,
// SERVFAIL, REFUSED, an unreachable server, a malformed answer — says nothing about the record, and
// taking it for "no record" would let an attacker who blocks DNS downgrade a domain to no policy (the
// §10 downgrade attack). Those are 'temporary': the caller keeps its cached policy and may retry.
const NO_RECORD_CODES = new Set(['ENOTFOUND', 'ENODATA']);

/**
 * Classify a resolver error.
 * @param {any} err an error from `dns.promises.Resolver`
 * @returns {{ ok: false, kind: 'none' | 'temporary', detail: string, message: string }}
 */
export function classifyDnsError(err) {
  const detail = typeof err?.code === 'string' ? err.code : 'EUNKNOWN';
  const kind = NO_RECORD_CODES.has(detail) ? 'none' : 'temporary';
  const name = err?.hostname ? ` for ${err.hostname}` : '';
  const what = kind === 'none' ? 'no such record' : 'temporary dns failure';
  return { ok: false, kind, detail, message: `${what}${name}: ${detail}` };
}

/**
 * @param {object} [options]
 * @param {string[]} [options.servers] name servers as 'host:port' or '[v6]:port' strings (test
 *   infrastructure; default: the system's servers)
 * @param {number} [options.timeout] per-try query timeout in milliseconds (default 5000)
 * @param {number} [options.tries] tries per server (default 2)
 */
export function createDnsHost({ servers, timeout = 5000, tries = 2 } = {}) {
  const resolver = new dnsPromises.Resolver({ timeout, tries });
  if (servers !== undefined && servers !== null) {
    // setServers validates the strings and throws ERR_INVALID_IP_ADDRESS on a bad one: a
    // configuration error, reported at creation rather than on the first query.
    resolver.setServers(Array.isArray(servers) ? servers : [servers]);
  }

  async function resolveTxt(name) {
    try {
      // Each record is an array of its character-strings, kept apart: RFC 8461 §3.1's
      // concatenation is the core's job.
      return { ok: true, records: await resolver.resolveTxt(name) };
    } catch (err) {
      return classifyDnsError(err);
    }
  }

  async function resolveMx(name) {
    try {
      const records = (await resolver.resolveMx(name)).map((r) => ({
        exchange: r.exchange,
        priority: r.priority,
      }));
      return { ok: true, records };
    } catch (err) {
      return classifyDnsError(err);
    }
  }

  /**
   * A and AAAA queried in parallel. ok when either has data; 'none' only when both say there is no
   * record; otherwise 'temporary' (a temporary failure on one family is not proof of absence).
   * @param {string} name
   * @param {0 | 4 | 6} [family] 0 (default) for both
   */
  async function resolveAddresses(name, family = 0) {
    const queries = [];
    if (family !== 6) queries.push(resolver.resolve4(name).then((a) => a.map((address) => ({ address, family: 4 }))));
    if (family !== 4) queries.push(resolver.resolve6(name).then((a) => a.map((address) => ({ address, family: 6 }))));
    const settled = await Promise.allSettled(queries);
    const addresses = [];
    for (const s of settled) if (s.status === 'fulfilled') addresses.push(...s.value);
    if (addresses.length > 0) return { ok: true, addresses };
    const failures = settled
      .filter((s) => s.status === 'rejected')
      .map((s) => classifyDnsError(s.reason));
    // A fulfilled query with no addresses is treated as no data (c-ares normally says ENODATA).
    if (failures.length === 0) {
      return { ok: false, kind: 'none', detail: 'ENODATA', message: `no such record for ${name}: ENODATA` };
    }
    return failures.find((f) => f.kind === 'temporary') ?? failures[0];
  }

  /**
   * Same signature and callback shapes as Node 20's `dns.lookup(hostname[, options], callback)`, for
   * the `lookup` option of `net.connect`, `tls.connect` and `https.request`. Names are resolved by
   * this host's resolver, never by getaddrinfo, so a policy host is found through the DNS the caller
   * chose. Numeric addresses are returned as they are.
   *
   * Errors carry `code` (the resolver's, e.g. ENOTFOUND, ETIMEOUT), `hostname`, `syscall` ('queryA'
   * or 'queryAaaa'), and `dnsKind` ('none' | 'temporary').
   */
  function lookup(hostname, options, callback) {
    if (typeof options === 'function') {
      callback = options;
      options = {};
    } else if (typeof options === 'number') {
      options = { family: options };
    } else if (options === undefined || options === null) {
      options = {};
    }
    if (typeof callback !== 'function') {
      throw new TypeError('lookup: the "callback" argument must be a function');
    }
    let family = options.family ?? 0;
    if (family === 'IPv4') family = 4;
    else if (family === 'IPv6') family = 6;
    const all = options.all === true;
    // Spec: the two answers have no common order; IPv4 first unless the caller asks otherwise.
    const v6first = options.order === 'ipv6first';

    const answer = (err, addresses) => {
      if (err) return callback(err);
      if (all) return callback(null, addresses);
      return callback(null, addresses[0].address, addresses[0].family);
    };

    // As dns.lookup: an empty host name gives no address (net then connects to localhost itself).
    if (!hostname) {
      process.nextTick(() => (all ? callback(null, []) : callback(null, null, family === 6 ? 6 : 4)));
      return {};
    }
    const literal = isIP(hostname);
    if (literal !== 0) {
      process.nextTick(answer, null, [{ address: hostname, family: literal }]);
      return {};
    }

    resolveAddresses(hostname, family === 4 || family === 6 ? family : 0).then((r) => {
      if (r.ok) {
        const list = r.addresses.slice().sort((a, b) => (v6first ? b.family - a.family : a.family - b.family));
        answer(null, list);
      } else {
        const err = new Error(`${r.kind === 'none' ? 'no address' : 'temporary dns failure'} for ${hostname}: ${r.detail}`);
        err.code = r.detail;
        err.errno = r.detail;
        err.hostname = hostname;
        err.syscall = family === 6 ? 'queryAaaa' : 'queryA';
        err.dnsKind = r.kind;
        answer(err);
      }
    });
    return {};
  }

  return { resolver, resolveTxt, resolveMx, resolveAddresses, lookup };
}
