// The Node host for policy discovery: DNS through one `dns.promises.Resolver` (system servers by
// default), HTTPS through `node:https` with that resolver as `lookup`, and a store.

import { createDnsHost } from './dns.js';
import { createHttpsHost } from './https.js';
import { PolicyResolver } from '../policy-resolver.js';
import { MtaStsError } from '../error.js';

/**
 * Host options, all off by default. `dnsServers`, `ca` and `policyPort` point the library at test
 * infrastructure (a lab DNS server, a lab CA, a policy server on another port than 443).
 * @param {object} [options]
 * @param {string[]} [options.dnsServers] 'host:port' name servers instead of the system's
 * @param {string|Buffer|Array} [options.ca] extra trusted CAs (PEM), added to the system roots
 * @param {number} [options.policyPort] port of the policy host instead of 443
 * @param {number} [options.timeout] policy fetch timeout in ms (default 60000)
 * @param {number} [options.dnsTimeout] DNS query timeout in ms (default 5000)
 * @param {number} [options.dnsTries] tries per DNS server (default 2)
 */
export function createNodeHosts(options = {}) {
  const { dnsServers, ca, policyPort, timeout, dnsTimeout, dnsTries } = checkHostOptions(options);
  // Node checks the server strings (ERR_INVALID_IP_ADDRESS, which the CLIs turn into a usage
  // error) and the CAs' contents.
  const dns = createDnsHost({ servers: dnsServers, timeout: dnsTimeout, tries: dnsTries });
  const https = createHttpsHost({ lookup: dns.lookup, ca, policyPort, timeout });
  return { dns, https };
}

const isText = (v) => typeof v === 'string' || v instanceof Uint8Array;
const positiveMs = (v) => typeof v === 'number' && v > 0 && v <= 2 ** 31 - 1;

/** The host options by type (`invalid-argument` names the first wrong one); returns them. */
export function checkHostOptions(options) {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new MtaStsError('invalid-argument', `options must be an object, found ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  }
  const { dnsServers, ca, policyPort, timeout, dnsTimeout, dnsTries } = options;
  const bad = (what) => new MtaStsError('invalid-argument', `options.${what}`);
  if (dnsServers != null && !(typeof dnsServers === 'string' || (Array.isArray(dnsServers) && dnsServers.every((s) => typeof s === 'string')))) {
    throw bad('dnsServers must be a "host:port" string or an array of them');
  }
  if (ca != null && !(isText(ca) || (Array.isArray(ca) && ca.every(isText)))) throw bad('ca must be PEM text (a string or bytes) or an array of them');
  if (policyPort != null && !(Number.isInteger(policyPort) && policyPort >= 1 && policyPort <= 65535)) throw bad('policyPort must be a port number (1-65535)');
  if (timeout != null && !positiveMs(timeout)) throw bad('timeout must be a positive number of milliseconds');
  if (dnsTimeout != null && !positiveMs(dnsTimeout)) throw bad('dnsTimeout must be a positive number of milliseconds');
  if (dnsTries != null && !(Number.isInteger(dnsTries) && dnsTries >= 1 && dnsTries <= 100)) throw bad('dnsTries must be a whole number of tries (1-100)');
  return { dnsServers: dnsServers ?? undefined, ca: ca ?? undefined, policyPort: policyPort ?? undefined, timeout: timeout ?? undefined, dnsTimeout: dnsTimeout ?? undefined, dnsTries: dnsTries ?? undefined };
}

/** A PolicyResolver on the Node host. Options: host options above, plus store, recheckAfter, now. */
export function createPolicyResolver(options = {}) {
  let hosts;
  try {
    hosts = createNodeHosts(options);
  } catch (cause) {
    // Node's own check of the options' contents (a server that is no IP address, a CA it cannot
    // read) is the caller's configuration error, named as such.
    if (cause instanceof MtaStsError) throw cause;
    throw new MtaStsError('invalid-argument', `host options: ${cause?.message ?? String(cause)}`, { cause });
  }
  return new PolicyResolver({ ...options, dns: hosts.dns, https: hosts.https });
}

// RFC 8461 §5.1 and §10.2: the cache is what defends a domain against a downgrade (a TXT record or
// policy host an attacker suppresses), so resolvers are shared per host configuration rather than
// made, empty, per call.
const sharedResolvers = new Map();
/** At most this many host configurations keep a shared resolver (the oldest is dropped first). */
const SHARED_MAX = 16;

const caKey = (list) => list.map((c) => (typeof c === 'string' ? c : Buffer.from(c).toString('base64'))).join('\n');

/**
 * The PolicyResolver for these options. Callers that bring neither a resolver nor a store share
 * one process-wide resolver (and memory store) per host configuration — `dnsServers`, `ca`,
 * `policyPort`, `timeout`, `dnsTimeout`, `recheckAfter` — instead of starting with an empty cache
 * on every call (RFC 8461 §5.1, §10.2). `options.resolver` is returned as it is; a caller-supplied
 * `store`, `now` or `random` gets a resolver of its own (its cache and clock are the caller's).
 * @param {object} [options] host options of createNodeHosts, plus store, recheckAfter, now, random, resolver
 */
export function sharedResolver(options = {}) {
  if (options === null || typeof options !== 'object') {
    throw new MtaStsError('invalid-argument', `options must be an object, found ${options === null ? 'null' : typeof options}`);
  }
  if (options.resolver) {
    if (typeof options.resolver.resolve !== 'function') throw new MtaStsError('invalid-argument', 'options.resolver must be a PolicyResolver (a resolve(domain) function)');
    return options.resolver;
  }
  checkHostOptions(options);
  if (options.store || options.now || options.random) return createPolicyResolver(options);
  const { dnsServers, ca, policyPort, timeout, dnsTimeout, recheckAfter } = options;
  const key = JSON.stringify([
    dnsServers ?? null,
    ca == null ? null : caKey(Array.isArray(ca) ? ca : [ca]),
    policyPort ?? null,
    timeout ?? null,
    dnsTimeout ?? null,
    recheckAfter ?? null,
  ]);
  let resolver = sharedResolvers.get(key);
  if (!resolver) {
    resolver = createPolicyResolver({ dnsServers, ca, policyPort, timeout, dnsTimeout, recheckAfter });
    if (sharedResolvers.size >= SHARED_MAX) sharedResolvers.delete(sharedResolvers.keys().next().value);
    sharedResolvers.set(key, resolver);
  }
  return resolver;
}

/**
 * Resolves the MTA-STS policy of `domain` (RFC 8461 §3.3). Calls with equal host options (or none)
 * share one resolver and its memory store (see sharedResolver); a caller's store or clock is used
 * as given.
 * @throws {MtaStsError} `invalid-argument` (as a rejection) when `domain` is not a string or
 *   `options` not an object
 */
export async function resolvePolicy(domain, options = {}) {
  if (typeof domain !== 'string') {
    throw new MtaStsError('invalid-argument', `resolvePolicy needs a domain name string, found ${domain === null ? 'null' : typeof domain}`);
  }
  return sharedResolver(options).resolve(domain);
}
