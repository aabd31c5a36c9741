// The TLS-RPT records (tlsrpt-log.js) and metrics of one connectMx call (RFC 8460 §4): one record
// per discovery failure and per attempt, under the policy type, id and mode the core applied (a
// cached policy is a policy). A plaintext retry is no TLS session: its TLS failure has a record.
// Each record carries what the core's `SessionResult` needs (tlsrpt-log.js sessionResultsFor).

import { formatPolicy } from '../core.js';

/**
 * RFC 8460 §4.4 `policy-string` and `mx-host` of the policy applied. Spec: §4.4 asks for "an
 * encoding of the applied policy"; the policy file's bytes are not kept (the resolver hands the
 * body to the core, and the store holds only the canonical text, `formatPolicy`), so the strings
 * are the lines of the canonical form — the same for a fetched and a cached policy, and for a
 * file written as our formatter writes it (the lab's, with LF or CRLF) its very lines. One
 * policy gives one `policies[]` entry whatever its whitespace. `no-policy-found` has neither.
 */
function policyStrings(policyType, applied) {
  if (policyType !== 'sts' || !applied) return { policyStrings: [], mxPatterns: [] };
  // The resolver hands out the same frozen policy object until it changes: format it once.
  let strings = formatted.get(applied);
  if (!strings) {
    strings = { policyStrings: formatPolicy(applied).split('\n').filter((line) => line !== ''), mxPatterns: [...(applied.mx ?? [])] };
    if (typeof applied === 'object') formatted.set(applied, strings);
  }
  return strings;
}
const formatted = new WeakMap();

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
  const applies = policy?.status === 'found' || policy?.status === 'cached';
  const policyType = source?.policyType ?? 'no-policy-found';
  const base = {
    at: new Date(relay.clock()),
    policyType,
    policyId: source?.trace?.policyId ?? (applies ? (policy.id ?? null) : null),
    mode: source?.trace?.mode ?? source?.mode ?? (applies ? (policy.policy?.mode ?? null) : null) ?? 'none',
    ...policyStrings(policyType, applies ? policy.policy : null),
    // One record is one session (tlsrpt-log.js: records of several relays add up).
    count: 1,
  };
  const records = [];
  // RFC 8460 §4.3.2.2: sts-policy-fetch-error, sts-policy-invalid, sts-webpki-invalid are met
  // before any MX, so the record has none (the core's SessionResult doc: no receiving fields).
  // Spec: it stands under the policy the core then applied (`no-policy-found`, or a cached policy
  // that a failed refresh kept), as every session of that delivery does.
  for (const e of policy?.errors ?? []) {
    // RFC 8460 §4.4 sending-mta-ip: the local address of the policy fetch (policy-resolver.js).
    if (e && e.tlsrpt) records.push({ ...base, kind: 'discovery', sendingIp: e.sendingIp ?? null, result: e.tlsrpt, code: e.code ?? null, message: e.message ?? null });
  }
  for (const a of source?.attempts ?? []) {
    relay.metrics.mxAttempts.inc({ result: a.result });
    if (a.tlsrpt) relay.metrics.tlsFailures.inc({ result_type: a.tlsrpt });
    relay.log.debug({ event: 'mx-attempt', domain, mx: a.host, address: a.address, result: a.result, tlsrpt: a.tlsrpt, message: a.message, fallback: a.fallback });
    // A plaintext retry is no TLS session (RFC 8460 §4.3): its TLS failure is the record before.
    if (a.fallback) continue;
    records.push({
      ...base,
      kind: 'session',
      mx: a.host,
      address: a.address ?? null,
      // RFC 8460 §4.4 sending-mta-ip: the local address of the connection (delivery-driver.js).
      sendingIp: a.sendingIp ?? null,
      result: a.result === 'success' ? 'success' : (a.tlsrpt || a.result),
      code: a.result,
      message: a.message ?? null,
    });
  }
  for (const r of records) {
    try {
      await relay.tlsrpt.record(domain, r);
    } catch (err) {
      relay.log.error({ event: 'tlsrpt-record-failed', domain, err: err.message });
    }
  }
}
