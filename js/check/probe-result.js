// The shape `mtasts check` shows for one probed MX host, from the core's attempts (Delivery in probe
// mode): the Node probe (js/node/probe-mx.js) and the page's replay (probe-replay.js) give the same
// object, field for field. The verdicts are the core's; this file only picks what is shown.

/**
 * @param {string} host
 * @param {number} port
 * @param {Array<object>} attempts the core's `d.attempts()`
 * @param {(address: string | null) => object} leafOf the display fields of the leaf seen on an
 *   address ({ subjectAltNames, notAfter, daysLeft })
 * @returns {object} { host, port, addresses, verdict, starttls, tlsVersion, cipher, certificate, error }
 */
export function probeResult(host, port, attempts, leafOf) {
  const seen = attempts.map((a) => addressProbe(a, leafOf(a.address)));
  const addresses = seen.filter((a) => a.address !== null);
  const verdict = seen.reduce((worst, a) => (rank(a.verdict) > rank(worst.verdict) ? a : worst), seen[0]).verdict;
  const { address: _shownAddress, verdict: _v, ...shown } = seen.find(fails) ?? seen[0];
  return { host, port, addresses, verdict, ...shown };
}

const fails = (a) => a.error !== null || a.starttls === false || a.certificate?.ok === false;

// Verdict strength: a host is shown with its worst address.
const rank = (j) => (j.verdict === 'try-next' ? 4 : 0) + (j.failure ? 2 : 0) + (j.verdict === 'deliver-plaintext' ? 1 : 0);

/** One attempt of the core as the check shows it. */
function addressProbe(a, leaf) {
  const failed = a.result !== 'success';
  const certificate = a.certificate ? { ok: a.certificate.ok, code: a.certificate.code ?? null, message: a.certificate.message ?? null, ...leaf } : null;
  // A failure of the session itself: not the certificate's or the missing STARTTLS, shown in
  // their own fields.
  const sessionFailed = failed && !a.secured && a.starttls !== false;
  const failure = a.verdict === 'excluded' || !failed ? null : { code: a.result, message: a.message, tlsrpt: a.tlsrpt ?? null, temporary: a.temporary, rfc: a.rfc ?? null };
  return {
    address: a.address,
    starttls: a.starttls ?? null,
    tlsVersion: a.tlsVersion ?? null,
    cipher: a.cipher ?? null,
    certificate,
    error: sessionFailed ? { code: a.result, message: a.message } : null,
    verdict: { verdict: a.verdict, failure, address: a.verdict === 'excluded' ? null : a.address },
  };
}
