// The page's MX probe: the core's Delivery machine in probe mode (as js/node/probe-mx.js runs it),
// fed the transcript of the server's probe helper instead of a socket. The machine polls at the
// clock the server recorded, so its timers see what the server's saw; every answer the server got
// is given back in order; the machine judges the chain (RFC 8461 §4.2) and the policy's verdict
// (§5) itself. A machine that asks for another step than the transcript holds is
// `probe-transcript-mismatch`: the transcript was not made for this probe.

import { MtaStsError, probeDelivery } from '../core.js';
import { trustStoreFor } from '../certificate.js';
import { hasSignatureHost } from '../host-crypto.js';
import { ANSWERS, decodeAnswer, fromBase64 } from './probe-transcript.js';
import { probeResult } from './probe-result.js';
import { leafForDisplay } from './x509-display.js';

function mismatch(why) {
  return new MtaStsError('probe-transcript-mismatch', `the probe transcript does not fit this probe: ${why}`);
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * probeMx's result for `host` from `transcript` (the probe helper's answer).
 * @param {string} host
 * @param {object} transcript { host, port, heloName, deadlineMs, timeouts, events }
 * @param {object} options
 * @param {string} [options.domain] the policy domain
 * @param {object} [options.policy] the policy that applies, or null
 * @param {string} [options.policyId]
 * @param {() => Promise<Array<string|Uint8Array>>} options.roots trust anchors, asked for only when
 *   a chain is judged
 * @param {Date | (() => number)} [options.now] the time daysLeft is counted from
 * @param {() => Promise<{ probeDelivery: Function, trustStoreFor: Function }>} [options.core] the
 *   module to run the machine in (default: the loaded core; a page on the first module passes
 *   the full module's, js/browser/verifier.js)
 */
export async function replayProbe(host, transcript, { domain, policy = null, policyId = null, roots, now, core }) {
  const t = transcript;
  if (t?.host !== host || !Array.isArray(t.events)) throw mismatch(`it is for ${JSON.stringify(t?.host)}, not ${host}`);
  const events = t.events;
  // The trust anchors are fetched before the machine runs, and only when a chain is to be judged.
  const judgesChain = events.some((e) => e.answer?.call === 'onTls');
  const anchors = judgesChain ? await roots() : null;
  const { probeDelivery: machine, trustStoreFor: storeFor } = core ? await core() : { probeDelivery, trustStoreFor };
  const d = machine(domain ?? host, policy, policyId, host, t.heloName, t.port, t.deadlineMs, t.timeouts.connect, t.timeouts.reply, t.timeouts.tls);
  const leaves = new Map();
  try {
    let address = null;
    let last = null;
    for (const e of events) {
      const step = d.poll(e.now);
      last = step.step;
      if (step.step !== e.step) throw mismatch(`the machine asked for ${step.step}, the server recorded ${e.step}`);
      if (step.step === 'connect') address = step.address;
      if (step.step === 'send' && !sameBytes(step.data, fromBase64(e.data ?? ''))) throw mismatch('the machine would send other bytes');
      if (e.answer) {
        if (!ANSWERS.has(e.answer.call)) throw mismatch(`unknown answer ${JSON.stringify(e.answer.call)}`);
        const args = decodeAnswer(e.answer, { store: () => storeFor(anchors), hostCrypto: hasSignatureHost() });
        if (e.answer.call === 'onTls') leaves.set(address, args[0][0]);
        d[e.answer.call](...args);
      }
      if (step.step === 'probed' || step.step === 'done') break;
    }
    if (last !== 'probed' && last !== 'done') throw mismatch('it ends before the probe does');
    const at = now instanceof Date ? now : new Date(typeof now === 'function' ? now() : Date.now());
    return probeResult(host, t.port, d.attempts(), (a) => leafForDisplay(leaves.get(a), at));
  } finally {
    d.free();
  }
}
