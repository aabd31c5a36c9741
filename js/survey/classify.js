// The survey's categories: what one `mtasts check --json` object says about a domain, in the words
// of the question a survey asks (does it publish MTA-STS, does it work, in which mode, what is
// wrong). A pure function of the check object: the verdicts themselves are the core's.

/**
 * Every category, in the order reports list them. `group` gathers them for the charts:
 * none (no MTA-STS), valid, record, policy (no policy available), mx (MX problems), temporary,
 * failed (no check).
 */
export const CATEGORIES = Object.freeze({
  'no-record': { group: 'none', label: 'no record' },
  'record-not-mta-sts': { group: 'none', label: 'TXT at _mta-sts is not an MTA-STS record' },
  'record-invalid': { group: 'record', label: 'invalid record' },
  'record-multiple': { group: 'record', label: 'several records' },
  'policy-http-status': { group: 'policy', label: 'no policy: HTTP status not 200' },
  'policy-redirect': { group: 'policy', label: 'no policy: redirect' },
  'policy-content-type': { group: 'policy', label: 'no policy: content type not text/plain' },
  'policy-webpki-invalid': { group: 'policy', label: 'no policy: TLS certificate of mta-sts host' },
  'policy-fetch-timeout': { group: 'policy', label: 'no policy: timeout' },
  'policy-fetch-error': { group: 'policy', label: 'no policy: host unreachable' },
  'policy-too-large': { group: 'policy', label: 'no policy: body too large' },
  'policy-truncated': { group: 'policy', label: 'no policy: body cut short' },
  'policy-invalid': { group: 'policy', label: 'invalid policy' },
  valid: { group: 'valid', label: 'valid policy' },
  'mx-outside-policy': { group: 'mx', label: 'MX outside the policy' },
  'mx-null': { group: 'mx', label: 'null MX' },
  'mx-certificate': { group: 'mx', label: 'MX certificate fails' },
  'mx-starttls': { group: 'mx', label: 'MX offers no STARTTLS' },
  'mx-unreachable': { group: 'mx', label: 'MX unreachable or TLS fails' },
  'dns-temporary': { group: 'temporary', label: 'temporary DNS failure' },
  // Lines of the survey output that hold no check (run.js): the input was not a domain name, or
  // the check itself failed.
  'input-invalid': { group: 'failed', label: 'not a domain name' },
  'check-failed': { group: 'failed', label: 'check failed' },
});

/** Groups that count as "has an MTA-STS record but something is wrong". */
export const MISCONFIGURED_GROUPS = Object.freeze(['record', 'policy', 'mx']);

/**
 * @param {object} check the `check --json` object (README: "mtasts check")
 * @returns {{ category: string, mode: string|null, maxAge: number|null, hasRecord: boolean,
 *   tlsrpt: 'valid'|'invalid'|'missing'|'temperror', temporary: boolean }}
 *   `temporary` is true when any DNS answer was a temporary failure (the survey retries those;
 *   RFC 8461 §10: a temporary failure never means "no record").
 */
export function classify(check) {
  const policyValid = check.policy.status === 'found' || check.policy.status === 'cached';
  const temporary = [check.record.status, check.policy.status, check.tlsrpt?.status, check.mxLookup?.status].includes('temperror') || mxAddressTemporary(check);
  return {
    category: categoryOf(check, policyValid),
    mode: policyValid ? check.policy.mode : null,
    maxAge: policyValid ? check.policy.maxAge : null,
    // The original study's "TXT record" column: a record that looks like MTA-STS (v=STSv1) is there.
    hasRecord: ['found', 'invalid', 'multiple'].includes(check.record.status),
    tlsrpt: tlsrptOf(check.tlsrpt),
    temporary,
  };
}

function categoryOf(check, policyValid) {
  const { record, policy } = check;
  if (record.status === 'temperror' || policy.status === 'temperror') return 'dns-temporary';
  // RFC 8461 §3.1: TXT records not starting with v=STSv1 are ignored; with none left there is no record.
  if (record.status === 'none') return record.raw.length > 0 ? 'record-not-mta-sts' : 'no-record';
  if (record.status === 'invalid') return 'record-invalid';
  if (record.status === 'multiple') return 'record-multiple';
  if (!policyValid) {
    // RFC 8461 §3.3: why the policy could not be had, as the resolver's error code says.
    const code = check.errors.map((e) => e.code).find((c) => Object.hasOwn(CATEGORIES, c) && CATEGORIES[c].group === 'policy');
    return code ?? 'policy-fetch-error';
  }
  if (check.mxLookup?.status === 'temperror') return 'dns-temporary';
  if (check.mxLookup?.status === 'null') return 'mx-null';
  // RFC 8461 §5: in mode none nothing is enforced, so MX problems have no consequence.
  if (policy.mode === 'none') return 'valid';
  if (check.mx.some((h) => h.matchesPolicy === false)) return 'mx-outside-policy';
  if (mxAddressTemporary(check)) return 'dns-temporary';
  const probeCodes = check.errors.filter((e) => e.mx).map((e) => e.code);
  if (probeCodes.some((c) => c.startsWith('certificate-'))) return 'mx-certificate';
  if (probeCodes.some((c) => c === 'starttls-not-supported' || c === 'starttls-refused')) return 'mx-starttls';
  if (probeCodes.length > 0) return 'mx-unreachable';
  return 'valid';
}

// The probe's A/AAAA look-up of an MX host failed temporarily: the survey tries again, as for the
// TXT and MX look-ups, and never takes it for an unreachable MX.
function mxAddressTemporary(check) {
  return check.mx.some((h) => h.probe?.error?.code === 'mx-address-lookup-failed');
}

// RFC 8460 §3: one valid v=TLSRPTv1 record, or senders send no report.
function tlsrptOf(t) {
  if (!t) return 'missing';
  return { found: 'valid', invalid: 'invalid', multiple: 'invalid', none: 'missing', temperror: 'temperror' }[t.status] ?? 'missing';
}
