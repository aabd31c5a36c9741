// What the relay says to the local MTA, as smtp-server wants it (`{ responseCode, message }` with
// the enhanced code first): every reply comes from the core (src/relay.rs, the delivery machine);
// this file only puts them in that shape.

import { relayFailureReply, relayMirrorReply } from '../core.js';

/** A core reply (`{ code, enhanced, text }`) as smtp-server's error. */
export function coreReply(reply) {
  return { responseCode: reply.code, message: `${reply.enhanced} ${reply.text}` };
}

/**
 * The MX's reply, mirrored for the local MTA by the core (src/relay.rs mirror_reply): the MX's
 * code, enhanced code and words, with the MX named at the end.
 */
export function mirrorReply(reply, mx) {
  return coreReply(relayMirrorReply(reply.code, reply.lines, mx));
}

export function domainOf(address) {
  const at = address.lastIndexOf('@');
  return at === -1 ? '' : address.slice(at + 1);
}

/** The core's reply for a connectMx failure (`err.reply`), or for an error it did not make. */
export function connectFailureReply(err, domain) {
  if (err?.reply && typeof err.reply.code === 'number') return err.reply;
  return relayFailureReply(domain, err?.mode ?? null, err?.mx ?? null, {
    code: typeof err?.code === 'string' ? err.code : 'internal-error',
    message: err?.message ?? String(err),
    // Spec: an error that does not say it is permanent keeps the message queued upstream.
    temporary: err?.temporary !== false,
    tlsrpt: err?.tlsrpt ?? '',
  });
}

/** The outcome a reply code means for logs and metrics. */
export const outcomeOf = (code) => (code < 300 ? 'delivered' : code < 500 ? 'deferred' : 'rejected');
