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
    // The lookup answers only with the addresses checked above, never with a second resolution
    // (which could point elsewhere): a failed resolution is failed again, as the Node DNS host's
    // lookup reports it, so the HTTPS host classifies it as the CLI's would be.
    const lookup = (hostname, options, callback) => {
      if (typeof options === 'function') callback = options;
      if (hostname !== host || !addresses.ok) return process.nextTick(callback, lookupError(hostname, addresses));
      const all = addresses.addresses.slice().sort((a, b) => a.family - b.family);
      if (typeof options === 'object' && options?.all) return process.nextTick(callback, null, all);
      return process.nextTick(callback, null, all[0].address, all[0].family);
    };
    const https = createHttpsHost({ ...httpsOptions, lookup });
    const answer = await https.get(`https://${host}/.well-known/mta-sts.txt`);
    // The policy host's chain as DER (base64), for the page to show; the verdict on it is the
    // HTTPS host's (`trusted`), as for `mtasts check`.
    const certificate = answer.certificate ? { ...answer.certificate, chain: answer.certificate.chain.map(toBase64) } : undefined;
    const { localAddress: _local, ...shown } = answer;
    return { ...shown, ...(answer.ok ? { body: toBase64(answer.body) } : {}), ...(certificate ? { certificate } : {}) };
  };
}

/** The error js/node/dns.js's lookup gives for a failed resolution (or another name: none). */
function lookupError(hostname, r) {
  const failed = r.ok ? { kind: 'none', detail: 'ENOTFOUND' } : r;
  const err = new Error(`${failed.kind === 'none' ? 'no address' : 'temporary dns failure'} for ${hostname}: ${failed.detail}`);
  return Object.assign(err, { code: failed.detail, errno: failed.detail, hostname, syscall: 'queryA', dnsKind: failed.kind });
}
