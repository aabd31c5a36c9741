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
import { abortedError, driveDelivery } from './delivery-driver.js';
import { createNodeHosts, sharedResolver } from './resolve.js';
import { peerChain } from './starttls.js';
import { tlsrptRecords } from '../tlsrpt/records.js';

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

/** The IP family rules the core knows (src/delivery/address.rs Family). */
const FAMILIES = ['any', 'prefer-ipv4', 'prefer-ipv6', 'ipv4-only', 'ipv6-only'];

/** `port`, or `smtpPort` (its older name), as one port number. */
function portOf(options) {
  const { port, smtpPort } = options;
  if (port !== undefined && smtpPort !== undefined && port !== smtpPort) {
    throw new MtaStsError('invalid-argument', `port and smtpPort name the same thing; found both (${port}, ${smtpPort})`);
  }
  const p = port ?? smtpPort ?? SMTP_PORT;
  if (!Number.isInteger(p) || p < 1 || p > 65535) {
    throw new MtaStsError('invalid-argument', `port must be a port number (1-65535), found ${typeof p === 'number' ? p : Array.isArray(p) ? 'an array' : typeof p}`);
  }
  return p;
}

/**
 * `mx`: MX records the caller already has, `[{ exchange, priority, addresses? }]`, as the core's
 * giveMx arguments. The core plans with them (RFC 8461 §4.1) as with a DNS answer.
 */
function givenMxOf(mx) {
  if (mx === undefined || mx === null) return null;
  if (!Array.isArray(mx) || mx.length === 0) throw new MtaStsError('invalid-argument', 'mx must be a non-empty array of { exchange, priority, addresses? }');
  const exchanges = [];
  const priorities = [];
  const addresses = [];
  for (const [i, entry] of mx.entries()) {
    const { exchange, priority = 0, addresses: list } = entry ?? {};
    if (typeof exchange !== 'string') throw new MtaStsError('invalid-argument', `mx[${i}].exchange must be a host name`);
    if (!Number.isInteger(priority) || priority < 0 || priority > 65535) throw new MtaStsError('invalid-argument', `mx[${i}].priority must be 0-65535`);
    if (list !== undefined && list !== null && !(Array.isArray(list) && list.every((a) => typeof a === 'string'))) {
      throw new MtaStsError('invalid-argument', `mx[${i}].addresses must be an array of IP address strings`);
    }
    exchanges.push(exchange);
    priorities.push(priority);
    addresses.push(list ?? null);
  }
  return { exchanges, priorities, addresses };
}

/**
 * Hands the core the address rules (src/delivery/address.rs): special-purpose ranges (RFC 6890)
 * refused unless `allowPrivate`, the IP family order, the local addresses. The core validates.
 */
export function setAddressRules(d, { allowPrivate = false, ipFamily = 'any', localAddress } = {}) {
  if (typeof allowPrivate !== 'boolean') throw new MtaStsError('invalid-argument', 'allowPrivate must be true or false');
  if (!FAMILIES.includes(ipFamily)) throw new MtaStsError('invalid-argument', `ipFamily must be one of ${FAMILIES.join(', ')}, found ${JSON.stringify(ipFamily)}`);
  const local = localAddress === undefined || localAddress === null ? [] : Array.isArray(localAddress) ? localAddress : [localAddress];
  if (!local.every((a) => typeof a === 'string')) {
    throw new MtaStsError('invalid-argument', `localAddress must be a numeric IP address or an array of one IPv4 and one IPv6, found ${JSON.stringify(localAddress)}`);
  }
  d.setAddressRules(allowPrivate, ipFamily, local);
}

function clockOf(now) {
  if (now === undefined || now === null) return Date.now;
  if (typeof now === 'function') return now;
  if (now instanceof Date) return () => now.getTime();
  throw new MtaStsError('invalid-argument', 'now must be a function returning milliseconds, or a Date');
}

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
  const { heloName, requireTls = false, signal, connectHook, onAttempt } = options;
  if (typeof domain !== 'string') throw new MtaStsError('invalid-argument', 'domain must be a string');
  if (typeof heloName !== 'string') {
    throw new MtaStsError('invalid-argument', 'heloName (the name this host gives in EHLO) is required');
  }
  const smtpPort = portOf(options);
  if (connectHook != null && typeof connectHook !== 'function') throw new MtaStsError('invalid-argument', 'connectHook must be a function ({ host, address, port, localAddress, timeout, signal }) => socket | Promise<socket>');
  if (onAttempt != null && typeof onAttempt !== 'function') throw new MtaStsError('invalid-argument', 'onAttempt must be a function (attempt) => void');
  const givenMx = givenMxOf(options.mx);
  const clock = clockOf(options.now);
  if (options.tlsrpt != null && typeof options.tlsrpt.record !== 'function') {
    throw new MtaStsError('invalid-argument', 'tlsrpt must be a TLS-RPT log with a record(domain, record) method (fileTlsrptLog, memoryTlsrptLog)');
  }
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
  try {
    setAddressRules(d, options);
    if (givenMx) d.giveMx(givenMx.exchanges, givenMx.priorities, givenMx.addresses);
  } catch (err) {
    d.free();
    throw err;
  }
  const policyDomain = policy.domain ?? domain;
  const { step, plain, secure } = await driveDelivery(d, { dns, clock, signal, store, connectHook, onAttempt }).catch(async (err) => {
    if (err instanceof MtaStsError && err.policy === undefined) {
      err.policy = policy;
      err.attempts ??= d.attempts();
    }
    d.free();
    await recordTlsrpt(options, policyDomain, err, clock);
    throw err;
  });
  try {
    const attempts = d.attempts();
    if (step.step === 'ready') {
      const r = step.ready;
      const result = {
        socket: secure ?? plain,
        mx: { host: r.mx.host, priority: r.mx.priority, address: r.address, port: r.port, matched: r.mx.matched ?? null, implicit: r.mx.implicit },
        policy,
        tls: secure ? { version: r.tlsVersion, cipher: r.cipher, peerCertificates: peerChain(secure), certificate: r.certificate } : null,
        verdict: r.verdict,
        trace: r.trace,
        policyType: d.policyType,
        attempts,
        // What the server said before TLS: its 220 greeting and its EHLO answer (RFC 5321
        // §4.1.1.1), as lines. After STARTTLS the caller's own EHLO gets the capabilities that
        // count (RFC 3207 §4.2).
        greeting: r.greeting,
        ehlo: r.ehlo,
      };
      await recordTlsrpt(options, policyDomain, result, clock);
      return result;
    }
    const f = step.failure;
    const err = new MtaStsError(f.error.code, f.message, { rfc: f.error.rfc });
    err.temporary = f.error.temporary;
    err.tlsrpt = f.error.tlsrpt;
    err.reply = f.reply;
    err.mx = f.mx ?? null;
    err.mode = d.mode ?? null;
    err.policyType = d.policyType;
    err.policy = policy;
    err.attempts = attempts;
    await recordTlsrpt(options, policyDomain, err, clock);
    throw err;
  } finally {
    d.free();
  }
}

/**
 * RFC 8460 §4: with `options.tlsrpt` (a TLS-RPT log), the delivery's records — each session and each
 * policy-discovery failure — go into it, as the relay records them. A log that fails to record does
 * not fail the delivery: `options.onTlsrptError(err, domain)` hears of it.
 */
async function recordTlsrpt(options, domain, source, clock) {
  if (options.tlsrpt == null) return;
  for (const r of tlsrptRecords(source, new Date(clock()))) {
    try {
      await options.tlsrpt.record(domain, r);
    } catch (err) {
      options.onTlsrptError?.(err, domain);
    }
  }
}
