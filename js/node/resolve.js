// The Node host for policy discovery: DNS through one `dns.promises.Resolver` (system servers by
// default), HTTPS through `node:https` with that resolver as `lookup`, and a store.

import { createDnsHost } from './dns.js';
import { createHttpsHost } from './https.js';
import { PolicyResolver } from '../policy-resolver.js';

/**
 * Host options, all off by default. `dnsServers`, `ca` and `policyPort` point the library at test
 * infrastructure (a lab DNS server, a lab CA, a policy server on another port than 443).
 * @param {object} [options]
 * @param {string[]} [options.dnsServers] 'host:port' name servers instead of the system's
 * @param {string|Buffer|Array} [options.ca] extra trusted CAs (PEM), added to the system roots
 * @param {number} [options.policyPort] port of the policy host instead of 443
 * @param {number} [options.timeout] policy fetch timeout in ms (default 60000)
 * @param {number} [options.dnsTimeout] DNS query timeout in ms (default 5000)
 */
export function createNodeHosts({ dnsServers, ca, policyPort, timeout, dnsTimeout } = {}) {
  const dns = createDnsHost({ servers: dnsServers, timeout: dnsTimeout });
  const https = createHttpsHost({ lookup: dns.lookup, ca, policyPort, timeout });
  return { dns, https };
}

/** A PolicyResolver on the Node host. Options: host options above, plus store, recheckAfter, now. */
export function createPolicyResolver(options = {}) {
  const { dns, https } = createNodeHosts(options);
  return new PolicyResolver({ ...options, dns, https });
}

let defaultResolver;

/**
 * Resolves the MTA-STS policy of `domain` (RFC 8461 §3.3). Without options it uses the system's
 * DNS, the system roots and one process-wide memory store; with options, a resolver made for them.
 */
export function resolvePolicy(domain, options) {
  if (options === undefined) {
    defaultResolver ??= createPolicyResolver();
    return defaultResolver.resolve(domain);
  }
  const resolver = options.resolver ?? createPolicyResolver(options);
  return resolver.resolve(domain);
}
