// The TLS-RPT records (js/tlsrpt/records.js) and metrics of one connectMx call the relay made: the
// records go into the relay's TLS-RPT log (tlsrpt-log.js), each attempt into the metrics and the
// debug log, and the policy lookup into the cache hit/miss counter.

import { tlsrptRecords } from '../tlsrpt/records.js';

/**
 * @param {object} relay the relay's shared parts (server.js): metrics, log, tlsrpt, clock, seenPolicies
 * @param {string} domain the policy domain
 * @param {object} source connectMx's result or its error (both carry policy, policyType, attempts)
 */
export async function recordAttempts(relay, domain, source) {
  const policy = source?.policy ?? null;
  // A hit: the policy came from the store, or is a result the resolver handed out before (it
  // reuses the same frozen object until the core's freshUntil); a miss: fetched for this one.
  let lookup = 'none';
  if (policy?.status === 'found' || policy?.status === 'cached') {
    lookup = policy.source === 'cache' || relay.seenPolicies.has(policy) ? 'hit' : 'miss';
    relay.seenPolicies.add(policy);
  }
  relay.metrics.policyLookups.inc({ result: lookup });
  for (const a of source?.attempts ?? []) {
    relay.metrics.mxAttempts.inc({ result: a.result });
    if (a.tlsrpt) relay.metrics.tlsFailures.inc({ result_type: a.tlsrpt });
    relay.log.debug({ event: 'mx-attempt', domain, mx: a.host, address: a.address, result: a.result, tlsrpt: a.tlsrpt, message: a.message, fallback: a.fallback });
  }
  for (const r of tlsrptRecords(source, new Date(relay.clock()))) {
    try {
      await relay.tlsrpt.record(domain, r);
    } catch (err) {
      relay.log.error({ event: 'tlsrpt-record-failed', domain, err: err.message });
    }
  }
}
