// The TLS-RPT records (RFC 8460 §4) of one delivery — one per policy-discovery failure and one per
// TLS session attempt — from what connectMx (or its error) reports: the policy type, id and mode the
// core applied (a cached policy is a policy), the MX, the addresses, the result type. The relay
// (js/relay/attempt-records.js) and connectMx's `tlsrpt` option write them into a TLS-RPT log
// (js/relay/tlsrpt-log.js), whose `sessionResultsFor` turns a day of them into the core's session
// results. A plaintext retry is no TLS session: its TLS failure has a record.

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
 * @param {object} source connectMx's result or its error (both carry policy, policyType, attempts)
 * @param {Date} at when (the record's UTC day is the report's)
 * @returns {object[]} the records, in order: discovery failures, then one per TLS session
 */
export function tlsrptRecords(source, at) {
  const policy = source?.policy ?? null;
  const applies = policy?.status === 'found' || policy?.status === 'cached';
  const policyType = source?.policyType ?? 'no-policy-found';
  const base = {
    at,
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
  return records;
}
