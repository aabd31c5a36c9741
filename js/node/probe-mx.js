// probeMx: what one MX host shows a sender, for `mtasts check` — STARTTLS offered (RFC 3207), the
// TLS version and cipher, the core's RFC 8461 §4.2 verdict on the certificate chain for the host
// name dialled, and the §5 verdict the policy implies on each address. The session on each address
// is the core's Delivery machine in probe mode (src/delivery/machine.rs, Delivery::probe), run by
// the same driver as connectMx (delivery-driver.js): EHLO, STARTTLS, the handshake, then QUIT;
// never MAIL FROM. Node's own view of the leaf (X509Certificate: names, notAfter) is read for
// display only.

import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { probeResult } from '../check/probe-result.js';
import { MtaStsError, probeDelivery } from '../core.js';
import { trustStoreFor } from '../certificate.js';
import { driveDelivery } from './delivery-driver.js';
import { setAddressRules } from './connect-mx.js';

/** Time limits in ms for a probe: a person is waiting, so shorter than connectMx's. */
export const PROBE_TIMEOUTS = Object.freeze({ connect: 10_000, reply: 10_000, tls: 10_000 });

// Spec: a probe of one host with many addresses that all stall is still bounded.
const PROBE_DEADLINE_MS = 10 * 60_000;
const DAY_MS = 86_400_000;

const defaultRoots = [...tls.rootCertificates];

/**
 * @param {string} host the MX host name (dialled, sent as SNI, checked against the certificate)
 * @param {object} options
 * @param {{ resolveAddresses(name: string): Promise<object> }} options.dns the DNS host (A/AAAA)
 * @param {string} options.heloName the name given in EHLO
 * @param {string} [options.domain] the policy domain (default: the host itself)
 * @param {object} [options.policy] the policy that applies (as the resolver returns it), or none
 * @param {string} [options.policyId] its TXT id
 * @param {number} [options.port] the port dialled (default 25; another port is test infrastructure)
 * @param {{ connect?: number, reply?: number, tls?: number }} [options.timeouts] ms (default 10 s each)
 * @param {Array<string|Uint8Array>} [options.roots] trust anchors (default: Node's root certificates)
 * @param {Date | (() => number)} [options.now] the time certificates are judged at
 * @param {boolean} [options.allowPrivate] dial addresses in special-purpose ranges (loopback,
 *   private, link-local: RFC 6890); by default they are refused (`mx-address-refused`), as a
 *   sender on the internet refuses them
 * @returns {Promise<object>} { host, port, addresses: [AddressProbe], verdict, and the fields of
 *   the address shown for the host: starttls, tlsVersion, cipher, certificate, error } where
 *   AddressProbe is { address, starttls: true|false|null, tlsVersion, cipher,
 *   certificate: { ok, code, message, subjectAltNames, notAfter, daysLeft } | null,
 *   error: { code, message } | null, verdict: { verdict, failure, address } } (the core's), and the
 *   host's verdict is its worst address's. The address shown is the first that fails, else the first.
 */
export async function probeMx(host, { dns, heloName, domain, policy = null, policyId = null, port = 25, timeouts, roots = defaultRoots, now, allowPrivate = false } = {}) {
  if (typeof host !== 'string' || host === '') throw new MtaStsError('invalid-argument', 'host must be a host name');
  if (typeof dns?.resolveAddresses !== 'function') throw new MtaStsError('invalid-argument', 'dns (with resolveAddresses) is required');
  if (typeof heloName !== 'string') throw new MtaStsError('invalid-argument', 'heloName (the name this host gives in EHLO) is required');
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new MtaStsError('invalid-argument', `port must be a port number, found ${JSON.stringify(port)}`);
  }
  const clock = clockOf(now);
  const t = { ...PROBE_TIMEOUTS, ...defined(timeouts) };
  // The core checks the EHLO name and the host before any I/O (smtp-helo-invalid, mx-host-invalid).
  const d = probeDelivery(domain ?? host, policy, policyId, host, heloName, port, PROBE_DEADLINE_MS, t.connect, t.reply, t.tls);
  const leaves = new Map(); // address → the leaf the server presented (display only)
  try {
    setAddressRules(d, { allowPrivate });
    await driveDelivery(d, {
      dns,
      clock,
      store: trustStoreFor(roots),
      onTls: (address, chain) => leaves.set(address, chain[0]),
    });
    const at = new Date(clock());
    // The shape shown is shared with the checker page's replay (js/check/probe-result.js).
    return probeResult(host, port, d.attempts(), (address) => leafForDisplay(leaves.get(address), at));
  } finally {
    d.free();
  }
}

/** The leaf's dNSNames and notAfter as Node reads them: for a person to see, not for the verdict. */
function leafForDisplay(der, at) {
  if (!der) return { subjectAltNames: [], notAfter: null, daysLeft: null };
  let x509;
  try {
    x509 = new X509Certificate(der);
  } catch {
    return { subjectAltNames: [], notAfter: null, daysLeft: null };
  }
  const subjectAltNames = (x509.subjectAltName ?? '')
    .split(', ')
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice('DNS:'.length));
  const notAfterMs = Date.parse(x509.validTo);
  if (Number.isNaN(notAfterMs)) return { subjectAltNames, notAfter: null, daysLeft: null };
  return { subjectAltNames, notAfter: new Date(notAfterMs).toISOString(), daysLeft: Math.floor((notAfterMs - at.getTime()) / DAY_MS) };
}

function clockOf(now) {
  if (now === undefined || now === null) return Date.now;
  if (typeof now === 'function') return now;
  if (now instanceof Date) return () => now.getTime();
  throw new MtaStsError('invalid-argument', 'now must be a function returning milliseconds, or a Date');
}

function defined(timeouts = {}) {
  const out = {};
  for (const [step, ms] of Object.entries(timeouts)) {
    if (!(step in PROBE_TIMEOUTS)) throw new MtaStsError('invalid-argument', `timeouts.${step} is not a step (connect, reply, tls)`);
    if (ms === undefined) continue;
    if (!Number.isFinite(ms) || ms <= 0) throw new MtaStsError('invalid-argument', `timeouts.${step} must be a positive number of ms`);
    out[step] = ms;
  }
  return out;
}
