// connectMx: one verified delivery connection to a domain's MX (RFC 8461 §4, §5), on the Node host.
//
// Every decision is the core's: planDelivery orders and filters the MX hosts (§4.1, RFC 5321 §5.1,
// RFC 7505), SmtpStartTls reads the SMTP dialogue (RFC 3207), verifyCertificate judges the peer
// chain (§4.2) and judgeAttempt applies the mode (§5). This file performs the I/O — DNS through the
// one injected resolver, TCP, Node's TLS — keeps the time limits, and applies the verdicts.

import tls from 'node:tls';
import { deliveryFailedTemporary, judgeAttempt, planDelivery, SmtpStartTls, MtaStsError } from '../core.js';
import { verifyCertificateWith } from '../certificate.js';
import { createNodeHosts, createPolicyResolver } from './resolve.js';
import { startTlsDialogue } from './smtp-dialogue.js';
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

const rootsByCa = new Map();
const sharedResolvers = new Map();
const SHARED_MAX = 16;

const caKey = (list) => list.map((c) => (typeof c === 'string' ? c : Buffer.from(c).toString('base64'))).join('\n');

/**
 * The PolicyResolver for these options. RFC 8461 §5.1 and §10.2: the cache is what defends a
 * domain against a downgrade, so callers that bring neither a resolver nor a store share one
 * process-wide resolver (and memory store) per host configuration instead of starting empty on
 * every call. A caller-supplied store or clock gets a resolver of its own.
 */
function resolverFor(options, clock) {
  if (options.resolver) return options.resolver;
  if (options.store || options.now) return createPolicyResolver({ ...options, now: clock });
  const { dnsServers, ca, policyPort, timeout, dnsTimeout, recheckAfter } = options;
  const key = JSON.stringify([dnsServers ?? null, ca == null ? null : caKey(Array.isArray(ca) ? ca : [ca]), policyPort ?? null, timeout ?? null, dnsTimeout ?? null, recheckAfter ?? null]);
  let resolver = sharedResolvers.get(key);
  if (!resolver) {
    resolver = createPolicyResolver({ dnsServers, ca, policyPort, timeout, dnsTimeout, recheckAfter });
    if (sharedResolvers.size >= SHARED_MAX) sharedResolvers.delete(sharedResolvers.keys().next().value);
    sharedResolvers.set(key, resolver);
  }
  return resolver;
}

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
 * One connection to one address of one candidate, up to the core's verdict.
 * Returns { report, socket, tls } where socket is the usable stream (or null) and report the
 * TLS report judgeAttempt reads.
 */
async function dial(ctx, candidate, address) {
  const connected = await connectTcp(address, ctx.port, ctx.timeouts.connect);
  if (connected.error) return { report: { kind: 'unreachable', error: connected.error }, socket: null };
  const plain = connected.socket;
  const dialogue = await startTlsDialogue(plain, ctx.heloName, { replyTimeout: ctx.timeouts.reply });
  if (dialogue.step === 'failed') {
    discard(plain);
    return { report: { kind: 'unreachable', error: dialogue.error }, socket: null };
  }
  if (dialogue.step === 'plain') return { report: { kind: 'no-starttls' }, socket: plain, raw: plain, tls: null };
  const upgraded = await upgradeToTls(plain, candidate.host, ctx.timeouts.tls);
  if (!upgraded.ok) return { report: { kind: 'handshake-failed', detail: upgraded.detail }, socket: null };
  const secure = upgraded.socket;
  const chain = peerChain(secure);
  let certificate;
  try {
    // RFC 8461 §4.2: the core judges the chain for the MX host actually dialled, before any mail
    // command is sent or the stream is handed out.
    certificate = verifyCertificateWith(chain, candidate.host, { now: new Date(ctx.clock()), roots: ctx.roots });
  } catch (err) {
    discard(secure);
    discard(plain);
    throw err;
  }
  secure.pause();
  const tlsInfo = {
    version: secure.getProtocol(),
    cipher: secure.getCipher()?.name ?? null,
    peerCertificates: chain,
    certificate,
  };
  return { report: { kind: 'secured', certificate }, socket: secure, raw: plain, tls: tlsInfo };
}

/** The attempt as recorded for TLS-RPT (RFC 8460 §4.3) and the caller. */
function attemptRecord(ctx, candidate, address, judgement, report, tlsInfo) {
  const f = judgement.failure;
  const record = {
    host: candidate.host,
    address,
    port: ctx.port,
    result: f ? f.code : 'success',
    tlsrpt: f ? f.tlsrpt : null,
    message: f ? f.message : null,
    temporary: f ? f.temporary : false,
    mode: ctx.mode,
    verdict: judgement.verdict,
    secured: report.kind === 'secured',
  };
  const detail = report.error?.detail ?? report.detail;
  if (detail !== undefined) record.detail = detail;
  if (tlsInfo) record.tlsVersion = tlsInfo.version;
  return record;
}

function deliveryFailed(domain, attempts, mode) {
  const summary = attempts.map((a) => `${a.host}${a.address ? ` (${a.address})` : ''}: ${a.result}`).join('; ');
  const err = new MtaStsError(
    'delivery-failed',
    `no MX host of ${domain} could be used (${attempts.length} attempt${attempts.length === 1 ? '' : 's'}): ${summary}`,
    { rfc: 'RFC 8461 §5' },
  );
  err.attempts = attempts;
  // The core decides (RFC 8461 §5: never final under enforce).
  err.temporary = deliveryFailedTemporary(mode ?? null, attempts);
  return err;
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
export async function connectMx(domain, options = {}) {
  const { heloName, requireTls = false, smtpPort = SMTP_PORT } = options;
  if (typeof domain !== 'string') throw new MtaStsError('invalid-argument', 'domain must be a string');
  if (typeof heloName !== 'string') {
    throw new MtaStsError('invalid-argument', 'heloName (the name this host gives in EHLO) is required');
  }
  // The core checks the EHLO name before any I/O (smtp-helo-invalid).
  new SmtpStartTls(heloName).free();
  if (!Number.isInteger(smtpPort) || smtpPort < 1 || smtpPort > 65535) {
    throw new MtaStsError('invalid-argument', `smtpPort must be a port number, found ${JSON.stringify(smtpPort)}`);
  }
  const clock = clockOf(options.now);
  const timeouts = timeoutsOf(options.timeouts);
  const resolver = resolverFor(options, clock);
  // MX and A/AAAA go through the resolver's own DNS host, so one DNS view serves the whole delivery.
  const dns = options.dns ?? (typeof resolver.dns?.resolveMx === 'function' ? resolver.dns : createNodeHosts(options).dns);

  const policy = await resolver.resolve(domain);
  const name = policy.domain ?? domain;
  const mx = await dns.resolveMx(name);
  if (!mx.ok && mx.kind !== 'none') {
    const err = new MtaStsError('mx-lookup-failed', `the MX records of ${name} could not be looked up: ${mx.detail}`);
    err.temporary = true;
    err.detail = mx.detail;
    throw err;
  }
  let plan;
  try {
    // RFC 5321 §5.1 (no MX: the domain itself), RFC 7505 (null MX), RFC 8461 §4.1 and §5.
    plan = planDelivery(name, mx.ok ? mx.records : [], policy.policy);
  } catch (err) {
    err.policy = policy; // the core's error says whether it is temporary (mx-null is final)
    throw err;
  }

  const ctx = {
    heloName,
    port: smtpPort,
    mode: plan.mode ?? null,
    clock,
    roots: options.roots ?? trustAnchors(options.ca),
    timeouts,
  };
  const attempts = [];
  for (const candidate of plan.candidates) {
    const addresses = await dns.resolveAddresses(candidate.host);
    if (!addresses.ok) {
      const report = {
        kind: 'unreachable',
        error: {
          code: addresses.kind === 'none' ? 'mx-address-not-found' : 'mx-address-lookup-failed',
          message: `no address for ${candidate.host}: ${addresses.detail}`,
          detail: addresses.detail,
          temporary: addresses.kind !== 'none',
        },
      };
      const judgement = judgeAttempt(ctx.mode, candidate, report, requireTls);
      attempts.push(attemptRecord(ctx, candidate, null, judgement, report, null));
      continue;
    }
    for (const { address } of addresses.addresses) {
      const { report, socket, raw, tls: tlsInfo } = await dial(ctx, candidate, address);
      let judgement;
      try {
        judgement = judgeAttempt(ctx.mode, candidate, report, requireTls);
      } catch (err) {
        discard(socket);
        discard(raw);
        throw err;
      }
      attempts.push(attemptRecord(ctx, candidate, address, judgement, report, tlsInfo));
      if (judgement.verdict === 'try-next') {
        discard(socket);
        discard(raw);
        continue;
      }
      return {
        socket,
        mx: { host: candidate.host, priority: candidate.priority, address, port: ctx.port, matched: candidate.matched ?? null, implicit: candidate.implicit },
        policy,
        tls: judgement.verdict === 'deliver' ? tlsInfo : null,
        verdict: judgement.verdict,
        attempts,
      };
    }
  }
  throw deliveryFailed(name, attempts, ctx.mode);
}
