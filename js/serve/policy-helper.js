// `/api/policy?domain=D`: the one URL RFC 8461 §3.3 fixes, https://mta-sts.D/.well-known/mta-sts.txt,
// fetched by the Node HTTPS host exactly as `mtasts check` fetches it (its trust anchors, no
// redirect followed, 64 KiB body limit, time limit), and its answer returned as raw facts: status,
// content type, Location, body bytes (base64), or the classified failure. The page's core judges.
//
// No SSRF: the policy host's addresses are resolved here, every one must be public (unless
// --allow-private), and the connection goes to those addresses only (the lookup is pinned to them,
// so a second resolution cannot point it elsewhere).

import { createHttpsHost } from '../node/https.js';
import { toBase64 } from '../check/probe-transcript.js';
import { checkTargets } from './target-guard.js';

/**
 * @param {object} options
 * @param {object} options.dns the Node DNS host
 * @param {object} options.httpsOptions createHttpsHost options (ca, policyPort, timeout)
 * @param {boolean} options.allowPrivate
 */
export function createPolicyHelper({ dns, httpsOptions, allowPrivate }) {
  /** The answer for domain (already a checked domain name). */
  return async function fetchPolicy(domain) {
    const host = `mta-sts.${domain}`;
    const addresses = await dns.resolveAddresses(host);
    if (addresses.ok) checkTargets(host, addresses.addresses.map((a) => a.address), allowPrivate);
    // The lookup answers only with the addresses checked above; a failed resolution is the HTTPS
    // host's to report, as the CLI's would be.
    const lookup = (hostname, options, callback) => {
      if (typeof options === 'function') callback = options;
      if (hostname !== host || !addresses.ok) return dns.lookup(hostname, options, callback);
      const all = addresses.addresses.slice().sort((a, b) => a.family - b.family);
      if (typeof options === 'object' && options?.all) return process.nextTick(callback, null, all);
      return process.nextTick(callback, null, all[0].address, all[0].family);
    };
    const https = createHttpsHost({ ...httpsOptions, lookup });
    const answer = await https.get(`https://${host}/.well-known/mta-sts.txt`);
    return answer.ok ? { ...answer, body: toBase64(answer.body) } : answer;
  };
}
