// connectMx: one verified delivery connection to a domain's MX (RFC 8461 §4, §5), on the Node host.
//
// Every decision is the core's Delivery machine (src/delivery/machine.rs): the MX plan (§4.1, RFC
// 5321 §5.1, RFC 7505), the limits, the SMTP dialogue up to STARTTLS (RFC 3207), the §4.2 verdict
// on the peer chain, the §5 verdict per attempt, the plaintext retry, the final reply. This file
// is its driver: it performs each step — DNS through the one injected resolver, TCP, Node's TLS —
// and keeps the timers the machine asks for.

import tls from 'node:tls';
import { Delivery, MtaStsError } from '../core.js';
import { trustStoreFor } from '../certificate.js';
import { hasSignatureHost } from '../host-crypto.js';
import { createNodeHosts, sharedResolver } from './resolve.js';
import { discard, peerChain, upgradeToTls } from './starttls.js';
import { connectTcp } from './tcp-connect.js';

/** RFC 5321 §4.5.4.2: SMTP is port 25. `smtpPort` replaces it for test infrastructure only. */
export const SMTP_PORT = 25;

/**
 * Default time limits in ms. RFC 5321 §4.5.3.2 allows a server 5 minutes for its greeting; a
 * sender that holds a message (the relay answers its MTA only after delivery) waits less.
 */
export const DEFAULT_TIMEOUTS = Object.freeze({
  connect: 30_000, // TCP connect, per address
  reply: 60_000, // each SMTP reply before TLS: greeting, EHLO, STARTTLS
  tls: 30_000, // the TLS handshake
});

/**
 * Default bounds on one connectMx call (the core's defaults, Postfix's smtp_mx_address_limit and
 * smtp_mx_session_limit; the deadline stays below a sending MTA's 300 s RCPT timeout).
 */
export const DEFAULT_LIMITS = Object.freeze({ maxAddresses: 5, maxSessions: 2, deadline: 240_000 });

const rootsByCa = new Map();
const SHARED_MAX = 16;

const caKey = (list) => list.map((c) => (typeof c === 'string' ? c : Buffer.from(c).toString('base64'))).join('\n');

/** tls.rootCertificates plus the extra CAs (PEM strings or Buffers, DER bytes), built once per ca. */
function trustAnchors(ca) {
  if (ca === undefined || ca === null) return rootsWithout;
  const list = Array.isArray(ca) ? ca : [ca];
  const key = caKey(list);
  let roots = rootsByCa.get(key);
  if (!roots) {
    const extra = list.map((c) => {
      if (typeof c === 'string') return c;
      const text = Buffer.from(c).toString('latin1');
      return text.includes('-----BEGIN') ? text : new Uint8Array(c);
    });
    roots = [...tls.rootCertificates, ...extra];
    if (rootsByCa.size >= SHARED_MAX) rootsByCa.delete(rootsByCa.keys().next().value);
    rootsByCa.set(key, roots);
  }
  return roots;
}
const rootsWithout = [...tls.rootCertificates];

function timeoutsOf(given = {}) {
  const timeouts = { ...DEFAULT_TIMEOUTS };
  for (const [step, ms] of Object.entries(given)) {
    if (!(step in DEFAULT_TIMEOUTS)) throw new MtaStsError('invalid-argument', `timeouts.${step} is not a step (connect, reply, tls)`);
    if (ms === undefined) continue;
    if (!Number.isFinite(ms) || ms <= 0) throw new MtaStsError('invalid-argument', `timeouts.${step} must be a positive number of ms`);
    timeouts[step] = ms;
  }
  return timeouts;
}

function clockOf(now) {
  if (now === undefined || now === null) return Date.now;
  if (typeof now === 'function') return now;
  if (now instanceof Date) return () => now.getTime();
  throw new MtaStsError('invalid-argument', 'now must be a function returning milliseconds, or a Date');
}

/**
 * Opens a connection to an MX host of `domain` that the domain's MTA-STS policy allows, secured
 * by STARTTLS with a certificate the core verified (RFC 8461 §4, §5), or as the mode permits.
 * See pkg-template/index.d.ts (ConnectMxOptions, MxConnection) for every option and field.
 *
 * The returned `socket` is paused and carries SMTP after the dialogue: after STARTTLS it is the
 * TLSSocket, and the caller says EHLO again (RFC 3207 §4.2); after a plaintext dialogue
 * ('deliver-plaintext') the server has already answered EHLO, and the caller may go on with
 * MAIL FROM or send EHLO again (RFC 5321 §4.1.4 allows a repeated EHLO; it resets the session).
 *
 * @param {string} domain the recipient domain
 * @param {object} options
 */
function limitsOf(given = {}) {
  const limits = { ...DEFAULT_LIMITS };
  for (const [name, n] of Object.entries(given)) {
    if (!(name in DEFAULT_LIMITS)) throw new MtaStsError('invalid-argument', `limits.${name} is not a limit (maxAddresses, maxSessions, deadline)`);
    if (n === undefined) continue;
    if (!Number.isInteger(n) || n <= 0) throw new MtaStsError('invalid-argument', `limits.${name} must be a positive integer`);
    limits[name] = n;
  }
  return limits;
}

function abortedError(signal) {
  const err = new MtaStsError('aborted', `connectMx was aborted${signal.reason?.message ? `: ${signal.reason.message}` : ''}`);
  err.temporary = true;
  return err;
}

/** The DNS host's "no record" split into the core's answers: NXDOMAIN is not NODATA. */
const noneKind = (answer) => (answer.kind !== 'none' ? 'temporary' : answer.detail === 'ENOTFOUND' ? 'nxdomain' : 'nodata');

/**
 * Reads the socket for one Read step: resolves with { data } | { closed } | { timeout } | { aborted }
 * and leaves no listener or timer behind; the socket is paused again.
 */
function readOnce(socket, ms, signal) {
  return new Promise((resolve) => {
    const done = (result) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onClosed);
      socket.off('close', onClosed);
      socket.off('error', onClosed);
      signal?.removeEventListener('abort', onAbort);
      socket.pause();
      resolve(result);
    };
    const onData = (data) => done({ data });
    const onClosed = () => done({ closed: true });
    const onAbort = () => done({ aborted: true });
    const timer = setTimeout(() => done({ timeout: true }), ms);
    if (socket.destroyed || socket.readableEnded) return done({ closed: true });
    socket.on('data', onData);
    socket.on('end', onClosed);
    socket.on('close', onClosed);
    socket.on('error', onClosed);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.resume();
  });
}

/** Races `promise` against the signal; on abort resolves { aborted: true }. */
function unlessAborted(promise, signal) {
  if (!signal) return promise;
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve({ aborted: true });
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * Opens a connection to an MX host of `domain` that the domain's MTA-STS policy allows, secured
 * by STARTTLS with a certificate the core verified (RFC 8461 §4, §5), or as the mode permits.
 * See pkg-template/index.d.ts (ConnectMxOptions, MxConnection) for every option and field.
 *
 * The returned `socket` is paused and carries SMTP after the dialogue: after STARTTLS it is the
 * TLSSocket, and the caller says EHLO again (RFC 3207 §4.2); after a plaintext dialogue
 * ('deliver-plaintext') the server has already answered EHLO, and the caller may go on with
 * MAIL FROM or send EHLO again (RFC 5321 §4.1.4 allows a repeated EHLO; it resets the session).
 *
 * A failure is an MtaStsError whose `code`, `temporary`, `reply` (what a relay answers its
 * client: `{ code, enhanced, text }`), `attempts`, `policy`, `mode` and `mx` are the core's.
 * `options.signal` (an AbortSignal) stops the delivery at the next step and closes its socket.
 *
 * @param {string} domain the recipient domain
 * @param {object} options
 */
export async function connectMx(domain, options = {}) {
  const { heloName, requireTls = false, smtpPort = SMTP_PORT, signal } = options;
  if (typeof domain !== 'string') throw new MtaStsError('invalid-argument', 'domain must be a string');
  if (typeof heloName !== 'string') {
    throw new MtaStsError('invalid-argument', 'heloName (the name this host gives in EHLO) is required');
  }
  if (!Number.isInteger(smtpPort) || smtpPort < 1 || smtpPort > 65535) {
    throw new MtaStsError('invalid-argument', `smtpPort must be a port number, found ${JSON.stringify(smtpPort)}`);
  }
  const clock = clockOf(options.now);
  const timeouts = timeoutsOf(options.timeouts);
  const limits = limitsOf(options.limits);
  // RFC 8461 §5.1, §10.2: the cache is what defends a domain against a downgrade, so calls with
  // the same host configuration share one resolver (resolve.js sharedResolver).
  const resolver = sharedResolver(options.now == null ? options : { ...options, now: clock });
  // MX and A/AAAA go through the resolver's own DNS host, so one DNS view serves the whole delivery.
  const dns = options.dns ?? (typeof resolver.dns?.resolveMx === 'function' ? resolver.dns : createNodeHosts(options).dns);
  const store = trustStoreFor(options.roots ?? trustAnchors(options.ca));
  if (signal?.aborted) throw abortedError(signal);

  const policy = await resolver.resolve(domain);
  if (signal?.aborted) throw abortedError(signal);
  const applies = policy.status === 'found' || policy.status === 'cached';
  // The core checks the domain and the EHLO name before any I/O (domain-invalid, smtp-helo-invalid).
  const d = new Delivery(
    policy.domain ?? domain,
    applies ? policy.policy : null,
    applies ? (policy.id ?? null) : null,
    heloName,
    smtpPort,
    requireTls,
    limits.maxAddresses,
    limits.maxSessions,
    limits.deadline,
    timeouts.connect,
    timeouts.reply,
    timeouts.tls,
  );
  let plain = null; // the TCP socket of the current attempt
  let secure = null; // its TLS socket after STARTTLS
  const close = () => {
    discard(secure);
    discard(plain);
    secure = null;
    plain = null;
  };
  try {
    for (;;) {
      if (signal?.aborted) throw abortedError(signal);
      const step = d.poll(clock());
      switch (step.step) {
        case 'resolve-mx': {
          const mx = await unlessAborted(dns.resolveMx(step.name), signal);
          if (mx.aborted) throw abortedError(signal);
          if (mx.ok) d.onMx(mx.records.map((r) => String(r.exchange)), mx.records.map((r) => r.priority));
          else d.onMxFailed(noneKind(mx), mx.detail ?? '');
          break;
        }
        case 'resolve-addresses': {
          const a = await unlessAborted(dns.resolveAddresses(step.host), signal);
          if (a.aborted) throw abortedError(signal);
          if (a.ok) d.onAddresses(a.addresses.map((x) => x.address));
          else d.onAddressesFailed(noneKind(a), a.detail ?? '');
          break;
        }
        case 'connect': {
          const connected = await unlessAborted(connectTcp(step.address, step.port, step.timeoutMs), signal);
          if (connected.aborted) throw abortedError(signal);
          if (connected.socket) {
            plain = connected.socket;
            plain.pause();
            d.onConnected();
          } else if (connected.error.code === 'mx-timeout') d.onTimeout();
          else d.onConnectFailed(connected.error.detail ?? connected.error.message);
          break;
        }
        case 'send':
          plain.write(step.data);
          break;
        case 'read': {
          const r = await readOnce(plain, step.timeoutMs, signal);
          if (r.aborted) throw abortedError(signal);
          if (r.data) d.onData(r.data);
          else if (r.closed) d.onClose();
          else d.onTimeout();
          break;
        }
        case 'starttls': {
          const upgraded = await unlessAborted(upgradeToTls(plain, step.serverName, step.timeoutMs), signal);
          if (upgraded.aborted) throw abortedError(signal);
          if (!upgraded.ok) {
            plain = null; // upgradeToTls destroyed both sockets
            d.onTlsFailed(upgraded.detail);
            break;
          }
          secure = upgraded.socket;
          secure.pause();
          // RFC 8461 §4.2: the core judges the chain for the MX host actually dialled, before any
          // mail command is sent or the stream is handed out.
          d.onTls(peerChain(secure), store, hasSignatureHost(), secure.getProtocol() ?? '', secure.getCipher()?.name ?? null);
          break;
        }
        case 'close':
          close();
          break;
        case 'ready': {
          const r = step.ready;
          const attempts = d.attempts();
          const socket = secure ?? plain;
          const peerCertificates = secure ? peerChain(secure) : null;
          return {
            socket,
            mx: { host: r.mx.host, priority: r.mx.priority, address: r.address, port: r.port, matched: r.mx.matched ?? null, implicit: r.mx.implicit },
            policy,
            tls: secure ? { version: r.tlsVersion, cipher: r.cipher, peerCertificates, certificate: r.certificate } : null,
            verdict: r.verdict,
            trace: r.trace,
            policyType: d.policyType,
            attempts,
          };
        }
        case 'done': {
          close();
          const f = step.failure;
          const attempts = d.attempts();
          const err = new MtaStsError(f.error.code, failureMessage(f, attempts), { rfc: f.error.rfc });
          err.temporary = f.error.temporary;
          err.tlsrpt = f.error.tlsrpt;
          err.reply = f.reply;
          err.mx = f.mx ?? null;
          err.mode = d.mode ?? null;
          err.policyType = d.policyType;
          err.policy = policy;
          err.attempts = attempts;
          throw err;
        }
        default:
          throw new MtaStsError('internal-error', `unknown delivery step ${step.step}`);
      }
    }
  } catch (err) {
    close();
    if (err instanceof MtaStsError && err.policy === undefined) {
      err.policy = policy;
      err.attempts ??= d.attempts();
    }
    throw err;
  } finally {
    d.free();
  }
}

/** "no MX host of example.com could be used (2 attempts): mx1 (192.0.2.1): smtp-closed; ..." */
function failureMessage(f, attempts) {
  if (f.error.code !== 'delivery-failed' && f.error.code !== 'delivery-deadline') return f.error.message;
  const summary = attempts.map((a) => `${a.host}${a.address ? ` (${a.address})` : ''}: ${a.result}`).join('; ');
  return `${f.error.message}: ${summary}`;
}
