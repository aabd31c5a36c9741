// One message from the local MTA to the MX (DESIGN: relay, no loss): DATA streamed as it arrives
// behind the trace header, the final "." held until the local MTA's end of data and passed through
// the delivery journal (delivery-journal.js), and the outcome. Only a 2xx answering the end of data
// is delivery (the core's SmtpClient pairs each reply with its command: a 2xx to DATA itself is
// smtp-unexpected-reply). Replies come from the core (relayNotice, mirrorReply).
//
//   - the journal has the message as delivered (the relay died after the MX's 250, the local MTA
//     sends it again): the "." is withheld, the MX connection closed, 250 "already delivered";
//   - the same message in another session right now: withheld, 451;
//   - else `pending` is journaled before the ".", `delivered` after the MX's 2xx and before the 250;
//   - the MX failing before the end of data (its DATA reply, a cut, a timeout) or gone before DATA:
//     the rest of the message is read and hashed all the same, and at the local MTA's end of data a
//     message the journal has as delivered is answered 250 "already delivered", not the MX's 4xx
//     (the retry of a message delivered before; otherwise it would be deferred at every MX failure
//     until one MX session lasts to the end of data);
//   - the local MTA going away mid-DATA resets the MX connection before the end of data.

import { PassThrough } from 'node:stream';
import { MtaStsError, relayNotice } from '../core.js';
import { deliveryHasher } from './delivery-journal.js';
import { replyText } from './downstream-smtp.js';
import { coreReply, mirrorReply, outcomeOf } from './replies.js';

/**
 * The local MTA's side of one message: every chunk of `stream` fed to the journal's hasher as it
 * arrives (whoever reads it), and `ended`, which resolves true at the local MTA's end of data, false
 * if the stream broke off first.
 */
function watchUpstream(stream, from, accepted) {
  const hasher = deliveryHasher(from, accepted);
  let key = null;
  stream.on('data', (chunk) => hasher.update(chunk));
  const ended = new Promise((resolve) => {
    if (stream.readableEnded) return resolve(true);
    stream.once('end', () => resolve(true));
    stream.once('error', () => resolve(false));
    stream.once('close', () => resolve(stream.readableEnded));
  });
  return {
    ended,
    /** The journal key (once the end of data is in). */
    key: () => (key ??= hasher.key()),
  };
}

/** The reply to a message the journal has as delivered (the "." was not sent to the MX). */
function alreadyDelivered(relay) {
  relay.metrics.alreadyDelivered.inc();
  const notice = relayNotice('already-delivered');
  const text = `${notice.enhanced} ${notice.text}`;
  return { logReply: `${notice.code} ${text}`, result: { message: text } };
}

/**
 * After a failure before the end of data reached the MX: the rest of the message is read and
 * dropped (smtp-server replies at its end), and if the local MTA's end of data came and the journal
 * has the message as delivered, the reply is "already delivered" instead of `failed`.
 */
async function recognised(relay, upstream, failed) {
  if (!(await upstream.ended) || !relay.journal.isDelivered(upstream.key())) return failed;
  const { logReply, result } = alreadyDelivered(relay);
  return { ...failed, outcome: 'already-delivered', logReply, result, key: upstream.key(), extra: { ...failed.extra, mxFailure: failed.logReply ?? failed.extra?.reason ?? null } };
}

/**
 * Reads and drops a message that cannot go to the MX (the connection is gone); the reply is `error`,
 * or "already delivered" when the journal has the message.
 */
export async function dropMessage({ relay, stream, from, accepted }, error) {
  const upstream = watchUpstream(stream, from, accepted);
  stream.resume();
  const dropped = { outcome: 'deferred', logReply: `${error.responseCode} ${error.message}`, extra: {}, result: { error }, reusable: false, key: null, bytes: 0 };
  return recognised(relay, upstream, dropped);
}

/**
 * @param {object} t
 * @param {object} t.relay the relay's shared parts: journal, inFlight, maxSize, metrics, log, afterDelivered
 * @param {import('./downstream-smtp.js').DownstreamSmtp} t.ds the MX session (MAIL and RCPTs done)
 * @param {string} t.mx the MX host name (for replies)
 * @param {import('node:stream').Readable} t.stream smtp-server's message stream
 * @param {string} t.from MAIL FROM; @param {string[]} t.accepted the recipients the MX accepted
 * @param {string} t.header the trace header line ('' for none)
 * @param {(err: Error) => object} t.failure the core's reply for a failure with the MX
 * @returns {Promise<{ outcome, logReply, extra, result: { error } | { message }, reusable, key, bytes }>}
 */
export async function transferMessage({ relay, ds, mx, stream, from, accepted, header, failure }) {
  let bytes = 0;
  let key = null; // the delivery journal's key, once the local MTA's end of data is in
  const done = (outcome, logReply, result, extra = {}, reusable = false) => ({ outcome, logReply, extra, result, reusable, key, bytes });
  const upstream = new PassThrough();
  let upstreamGone = null;
  const gone = (err) => {
    upstreamGone ??= err ?? new Error('the local MTA closed the connection in the middle of the message');
    upstream.destroy(upstreamGone);
  };
  stream.on('error', gone);
  stream.on('close', () => {
    if (!stream.readableEnded) gone();
  });
  stream.pipe(upstream);
  // After a failure the rest of the message is read and dropped, so that smtp-server sees its
  // end and sends the reply.
  const drain = () => {
    stream.unpipe(upstream);
    upstream.destroy();
    stream.resume();
  };
  const { journal } = relay;
  const watched = watchUpstream(stream, from, accepted);
  let withheld = null; // why the "." was not sent: 'already-delivered' | 'in-flight'
  let claimed = false; // this transfer holds `key` in relay.inFlight
  /** At the local MTA's end of data, before the "." goes to the MX: whether it may. */
  const beforeEnd = async () => {
    key = watched.key();
    if (journal.isDelivered(key)) {
      withheld = 'already-delivered';
      return false;
    }
    // Spec: the same message in two sessions at once (the local MTA gave up on the first and
    // sent it again): the second waits in the local MTA's queue until the first is decided.
    if (relay.inFlight.has(key)) {
      withheld = 'in-flight';
      return false;
    }
    relay.inFlight.add(key);
    claimed = true;
    await journal.recordPending(key);
    return true;
  };
  try {
    const reply = await ds.data(upstream, {
      header,
      beforeEnd,
      check: (n) => {
        bytes = n;
        // RFC 1870 §6: the relay announced maxSize; nothing larger is passed on.
        if (n > relay.maxSize) throw new MtaStsError('message-too-big', `message exceeds ${relay.maxSize} octets`);
      },
    });
    if (reply.phase === 'data') drain();
    if (reply.phase === 'withheld') {
      if (withheld === 'in-flight') {
        return done('deferred', null, { error: coreReply(relayNotice('in-flight')) }, { reason: 'the same message is being delivered in another session' });
      }
      const { logReply, result } = alreadyDelivered(relay);
      return done('already-delivered', logReply, result);
    }
    const reusable = reply.phase === 'end';
    if (reply.phase === 'end' && reply.meaning === 'accepted') {
      // Durable before the 250 goes upstream: a crash from here on finds the message delivered.
      try {
        await journal.recordDelivered(key);
      } catch (err) {
        relay.log.error({ event: 'journal-write-failed', err: err.message, journal: key });
      }
      relay.afterDelivered?.();
      return done('delivered', replyText(reply), { message: mirrorReply(reply, mx).message }, {}, reusable);
    }
    if (reply.code >= 400) {
      const error = mirrorReply(reply, mx);
      const failed = done(outcomeOf(error.responseCode), replyText(reply), { error }, {}, reusable);
      // Refused at DATA: the message may still be one the journal has (a retry); refused at its end,
      // the journal was asked before the "." went.
      return reply.phase === 'data' ? await recognised(relay, watched, failed) : failed;
    }
    const error = failure(new MtaStsError('smtp-unexpected-reply', `${mx} answered ${reply.phase === 'data' ? 'DATA' : 'the end of DATA'} with ${replyText(reply)}`));
    const failed = done('deferred', replyText(reply), { error });
    return reply.phase === 'data' ? await recognised(relay, watched, failed) : failed;
  } catch (err) {
    if (upstreamGone) {
      // The MX connection was reset before the end of data (downstream-smtp.js): nothing delivered.
      return done('aborted', null, { error: coreReply(relayNotice('incomplete')) }, { reason: upstreamGone.message });
    }
    drain();
    if (err.code === 'journal-write-failed') {
      // Nothing was ended at the MX: the message stays queued upstream.
      return done('deferred', null, { error: coreReply(relayNotice('journal-failed', err.message)) }, { reason: err.message });
    }
    if (err.code === 'message-too-big') {
      return done('rejected', null, { error: coreReply(relayNotice('too-big', '', relay.maxSize)) }, { reason: err.message });
    }
    const error = failure(err);
    const failed = done('deferred', `${error.responseCode} ${error.message}`, { error }, { reason: err.message });
    // The MX failed before the end of data reached it (after it, the journal was asked already).
    return key === null ? await recognised(relay, watched, failed) : failed;
  } finally {
    if (claimed) relay.inFlight.delete(key);
  }
}
