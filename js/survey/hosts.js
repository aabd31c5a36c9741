// The survey's Node hosts: one DNS host per resolver (each --dns-server, or the system's), each
// behind its own query rate limit, with the HTTPS host resolving the policy host through it. The
// domains are spread over the resolvers in turn; each resolver still falls back on the others.

import { createDnsHost } from '../node/dns.js';
import { createHttpsHost } from '../node/https.js';
import { rateLimit } from './rate-limit.js';

/**
 * @param {object} options
 * @param {string[]} [options.dnsServers] name servers (default: the system's, as one resolver)
 * @param {number} [options.rate] DNS queries per second per resolver (0 or undefined: no limit)
 * @param {number} [options.dnsTimeout] ms per try; options.ca, policyPort, timeout as createNodeHosts
 * @returns {Array<{ dns, https }>} one pair per resolver
 */
export function surveyHosts({ dnsServers, rate, dnsTimeout, ca, policyPort, timeout }) {
  const lists = dnsServers?.length ? dnsServers.map((_, i) => [...dnsServers.slice(i), ...dnsServers.slice(0, i)]) : [undefined];
  return lists.map((servers) => {
    const dns = limited(createDnsHost({ servers, timeout: dnsTimeout }), rateLimit(rate));
    return { dns, https: createHttpsHost({ lookup: dns.lookup, ca, policyPort, timeout }) };
  });
}

// Every query waits for its turn: TXT and MX are one query, an address look-up two (A and AAAA).
function limited(dns, turn) {
  const twice = async () => {
    await turn();
    await turn();
  };
  return {
    ...dns,
    resolveTxt: async (name) => (await turn(), dns.resolveTxt(name)),
    resolveMx: async (name) => (await turn(), dns.resolveMx(name)),
    resolveAddresses: async (name, family) => (await (family === 4 || family === 6 ? turn() : twice()), dns.resolveAddresses(name, family)),
    lookup: (hostname, options, callback) => {
      (typeof options === 'function' || options?.family === undefined || options?.family === 0 ? twice() : turn()).then(() => dns.lookup(hostname, options, callback));
      return {};
    },
  };
}
