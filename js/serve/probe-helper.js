// `/api/probe?domain=D&host=H`: the MX probe as raw facts. H must be one of D's MX hosts (or D
// itself when D has no MX record, RFC 5321 §5.1); its addresses are resolved here and must all be
// public (unless --allow-private). The session is the core's Delivery machine in probe mode, driven
// by the Node host exactly as `mtasts check` drives it (js/node/delivery-driver.js): EHLO,
// STARTTLS, the handshake, QUIT — never MAIL. What the machine asked for and what the host
// answered is returned as a transcript (js/check/probe-transcript.js); the page replays it into
// its own machine, which makes the verdicts.

import tls from 'node:tls';
import { probeDelivery } from '../core.js';
import { trustStoreFor } from '../certificate.js';
import { driveDelivery } from '../node/delivery-driver.js';
import { PROBE_TIMEOUTS } from '../node/probe-mx.js';
import { encodeAnswer, toBase64 } from '../check/probe-transcript.js';
import { ServeError } from './errors.js';
import { checkTargets } from './target-guard.js';

/** Spec: one probe of one host, all its addresses, is bounded by this (the page is waiting). */
export const PROBE_DEADLINE_MS = 60_000;

/** The Delivery `d`, with every poll and answer appended to `events`. */
function recording(d, events, port) {
  return new Proxy(d, {
    get(target, prop) {
      if (prop === 'poll') {
        return (now) => {
          const step = target.poll(now);
          // Spec (test infrastructure): the port is the one configured, never one a caller names.
          if (step.step === 'connect' && step.port !== port) throw new ServeError('serve-probe-failed', 'the probe asked for another port');
          events.push({ now, step: step.step, ...(step.step === 'send' ? { data: toBase64(step.data) } : {}) });
          return step;
        };
      }
      const value = target[prop];
      if (typeof prop === 'string' && prop.startsWith('on') && typeof value === 'function') {
        return (...args) => {
          events[events.length - 1].answer = encodeAnswer(prop, args);
          return value.apply(target, args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * @param {object} options
 * @param {object} options.dns the Node DNS host
 * @param {string} options.heloName
 * @param {number} options.port 25, or --smtp-port
 * @param {Array<string>} options.roots the trust anchors of the server's own machine (its verdict
 *   is not returned; the page judges with the anchors /api/roots gives it)
 * @param {boolean} options.allowPrivate
 * @param {object} [options.timeouts] { connect, reply, tls } ms
 */
export function createProbeHelper({ dns, heloName, port, roots = [...tls.rootCertificates], allowPrivate, timeouts = PROBE_TIMEOUTS }) {
  const store = trustStoreFor(roots);
  return async function probe(domain, host) {
    const mx = await dns.resolveMx(domain);
    if (mx.ok) {
      const names = mx.records.map((r) => String(r.exchange).toLowerCase().replace(/\.$/, ''));
      if (!names.includes(host)) throw new ServeError('serve-not-mx-host', `${host} is not an MX host of ${domain} (its MX hosts: ${names.join(', ') || 'none'})`);
    } else if (mx.kind === 'none') {
      if (host !== domain) throw new ServeError('serve-not-mx-host', `${domain} has no MX record, so only ${domain} itself may be probed (RFC 5321 §5.1)`);
    } else {
      throw new ServeError('serve-mx-lookup-failed', `the MX lookup of ${domain} failed: ${mx.detail}`);
    }
    const addresses = await dns.resolveAddresses(host);
    if (addresses.ok) checkTargets(host, addresses.addresses.map((a) => a.address), allowPrivate);
    const events = [];
    const d = probeDelivery(domain, null, null, host, heloName, port, PROBE_DEADLINE_MS, timeouts.connect, timeouts.reply, timeouts.tls);
    try {
      // The machine resolves the host again: it gets the answer checked above, nothing else.
      const pinned = { resolveMx: () => Promise.resolve(mx), resolveAddresses: () => Promise.resolve(addresses) };
      await driveDelivery(recording(d, events, port), { dns: pinned, clock: Date.now, store });
    } finally {
      d.free();
    }
    return { host, port, heloName, deadlineMs: PROBE_DEADLINE_MS, timeouts: { ...timeouts }, events };
  };
}
