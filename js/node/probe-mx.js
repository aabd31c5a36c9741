// probeMx: what one MX host shows a sender, for `mtasts check` — STARTTLS offered (RFC 3207), the
// TLS version and cipher, and the core's RFC 8461 §4.2 verdict on the certificate chain for the
// host name dialled. Never sends mail: on each address the session is the core's dialogue up to
// STARTTLS (SmtpStartTls), the TLS handshake, then QUIT; no MAIL FROM is ever written.
//
// The verdict on the certificate is the core's (verifyCertificateWith); Node's own view of the
// leaf (X509Certificate: names, notAfter) is read for display only.

import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { MtaStsError, SmtpStartTls } from '../core.js';
import { verifyCertificateWith } from '../certificate.js';
import { startTlsDialogue } from './smtp-dialogue.js';
import { discard, peerChain, upgradeToTls } from './starttls.js';
import { connectTcp } from './tcp-connect.js';

/** Time limits in ms for a probe: a person is waiting, so shorter than connectMx's. */
export const PROBE_TIMEOUTS = Object.freeze({ connect: 10_000, reply: 10_000, tls: 10_000 });

// Spec: after QUIT the 221 is waited for at most this long (never more than the reply limit);
// the sockets are destroyed either way.
const QUIT_WAIT_MS = 2000;
const DAY_MS = 86_400_000;

const defaultRoots = [...tls.rootCertificates];

/**
 * @param {string} host the MX host name (dialled, sent as SNI, checked against the certificate)
 * @param {object} options
 * @param {{ resolveAddresses(name: string): Promise<object> }} options.dns the DNS host (A/AAAA)
 * @param {string} options.heloName the name given in EHLO
 * @param {number} [options.port] the port dialled (default 25; another port is test infrastructure)
 * @param {{ connect?: number, reply?: number, tls?: number }} [options.timeouts] ms (default 10 s each)
 * @param {Array<string|Uint8Array>} [options.roots] trust anchors (default: Node's root certificates)
 * @param {Date | (() => number)} [options.now] the time certificates are judged at
 * @returns {Promise<object>} { host, port, addresses: [AddressProbe], and the fields of the address
 *   shown for the host: starttls, tlsVersion, cipher, certificate, error, tlsReport } where
 *   AddressProbe is { address, starttls: true|false|null, tlsVersion, cipher,
 *   certificate: { ok, code, message, subjectAltNames, notAfter, daysLeft } | null,
 *   error: { code, message } | null, tlsReport } and tlsReport is what judgeAttempt reads.
 *   The address shown for the host is the first that fails, else the first.
 */
export async function probeMx(host, { dns, heloName, port = 25, timeouts, roots = defaultRoots, now } = {}) {
  if (typeof host !== 'string' || host === '') throw new MtaStsError('invalid-argument', 'host must be a host name');
  if (typeof dns?.resolveAddresses !== 'function') throw new MtaStsError('invalid-argument', 'dns (with resolveAddresses) is required');
  if (typeof heloName !== 'string') throw new MtaStsError('invalid-argument', 'heloName (the name this host gives in EHLO) is required');
  // The core checks the EHLO name before any I/O (smtp-helo-invalid).
  new SmtpStartTls(heloName).free();
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new MtaStsError('invalid-argument', `port must be a port number, found ${JSON.stringify(port)}`);
  }
  const ctx = { host, port, heloName, roots, clock: clockOf(now), timeouts: { ...PROBE_TIMEOUTS, ...defined(timeouts) } };

  const found = await dns.resolveAddresses(host);
  if (!found.ok) {
    const error = {
      code: found.kind === 'none' ? 'mx-address-not-found' : 'mx-address-lookup-failed',
      message: `no address for ${host}: ${found.detail}`,
      detail: found.detail,
      temporary: found.kind !== 'none',
    };
    const shown = { starttls: null, tlsVersion: null, cipher: null, certificate: null, error: publicError(error), tlsReport: { kind: 'unreachable', error } };
    return { host, port, addresses: [], ...shown };
  }
  const addresses = [];
  for (const { address } of found.addresses) addresses.push(await probeAddress(ctx, address));
  const { address: _shownAddress, ...shown } = addresses.find(fails) ?? addresses[0];
  return { host, port, addresses, ...shown };
}

const fails = (a) => a.error !== null || a.starttls === false || a.certificate?.ok === false;

/** One session with one address, up to the §4.2 verdict, then QUIT. Never rejects for I/O. */
async function probeAddress(ctx, address) {
  const result = { address, starttls: null, tlsVersion: null, cipher: null, certificate: null, error: null, tlsReport: null };
  const connected = await connectTcp(address, ctx.port, ctx.timeouts.connect);
  if (connected.error) return unreachable(result, connected.error);
  const plain = connected.socket;
  const dialogue = await startTlsDialogue(plain, ctx.heloName, { replyTimeout: ctx.timeouts.reply });
  if (dialogue.step === 'failed') {
    discard(plain);
    return unreachable(result, dialogue.error);
  }
  if (dialogue.step === 'plain') {
    // RFC 3207: STARTTLS not in the EHLO reply. The core names the failure (judgeAttempt).
    result.starttls = false;
    result.tlsReport = { kind: 'no-starttls' };
    await quit(plain, ctx.timeouts.reply);
    return result;
  }
  result.starttls = true;
  const upgraded = await upgradeToTls(plain, ctx.host, ctx.timeouts.tls);
  if (!upgraded.ok) {
    // Both sockets are already destroyed.
    result.error = { code: 'tls-handshake-failed', message: `TLS handshake with ${ctx.host} (${address}) failed: ${upgraded.detail}` };
    result.tlsReport = { kind: 'handshake-failed', detail: upgraded.detail };
    return result;
  }
  const secure = upgraded.socket;
  try {
    result.tlsVersion = secure.getProtocol() ?? null;
    result.cipher = secure.getCipher()?.name ?? null;
    const chain = peerChain(secure);
    const at = new Date(ctx.clock());
    // RFC 8461 §4.2: the core judges the chain for the MX host name actually dialled.
    const verdict = verifyCertificateWith(chain, ctx.host, { now: at, roots: ctx.roots });
    result.certificate = { ok: verdict.ok, code: verdict.ok ? null : verdict.code, message: verdict.ok ? null : verdict.message, ...leafForDisplay(chain[0], at) };
    result.tlsReport = { kind: 'secured', certificate: verdict };
  } catch (err) {
    discard(secure);
    discard(plain);
    throw err;
  }
  await quit(secure, ctx.timeouts.reply);
  discard(plain);
  return result;
}

function unreachable(result, error) {
  result.error = publicError(error);
  result.tlsReport = { kind: 'unreachable', error };
  return result;
}

const publicError = (e) => ({ code: e.code, message: e.message });

/**
 * RFC 5321 §4.1.1.10: QUIT, then wait (briefly) for the 221 or the close; the socket is destroyed
 * in every case. Whatever the server answers is of no interest any more.
 */
function quit(socket, replyTimeout) {
  return new Promise((resolve) => {
    let timer = null;
    const done = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', done);
      discard(socket);
      resolve();
    };
    let text = '';
    function onData(chunk) {
      text += chunk.toString('latin1');
      if (/(^|\r\n)\d{3} [^\r\n]*\r\n$/.test(text)) done(); // a complete final reply line
    }
    socket.on('error', () => {});
    socket.on('data', onData);
    socket.on('close', done);
    timer = setTimeout(done, Math.min(QUIT_WAIT_MS, replyTimeout));
    socket.resume();
    socket.write('QUIT\r\n');
  });
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
