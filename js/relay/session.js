// One SMTP transaction of the relay (DESIGN.md, "Relay (no loss)"): the local MTA's MAIL, RCPTs and
// DATA, answered only with what really happened at the recipient's MX.
//
// - MAIL FROM is accepted locally and sent downstream at the first RCPT, which opens connectMx for
//   that recipient's domain. A refused MAIL at the MX becomes the reply to that RCPT.
// - Each RCPT gets the MX's own reply. Recipients of a second domain get the core's 452 4.5.3
//   (one downstream connection per transaction); the local MTA sends them in another transaction.
// - DATA is streamed to the MX as it arrives, behind the trace header, and the MX's reply to the
//   end of DATA is the relay's reply. A message is therefore delivered or still queued upstream.
// - When no MX could be used (policy, TLS, DNS, connect, timeout) the reply is the core's
//   relayFailureReply: 4xx with an enhanced code naming the policy domain, the MX and the reason.
// - The local MTA going away mid-DATA resets the MX connection before the end of data is sent, so
//   the MX never accepts a partial message.
// - The final "." is held until the local MTA's end of data and goes through the delivery journal
//   (delivery-journal.js): a message the journal has as delivered (the relay died after the MX's
//   250, before its own 250 reached the local MTA, which sends it again) is not ended at the MX —
//   the MX connection is closed instead — and the local MTA hears 250 "already delivered". Else
//   `pending` is journaled before the ".", `delivered` after the MX's 2xx and before the 250.
//
// Replies handed to smtp-server are `{ responseCode, message }` where message starts with the
// enhanced status code (server.js passes such replies through unchanged) or is an array of lines.

import { PassThrough } from 'node:stream';
import { performance } from 'node:perf_hooks';
import {
  deliveryTraceHeader,
  recipientDomain,
  recipientFailureReply,
  relayFailureReply,
  relayMirrorReply,
  relayNotice,
  relayOtherDomainReply,
  MtaStsError,
} from '../core.js';
import { DownstreamSmtp, replyText } from './downstream-smtp.js';
import { deliveryHasher } from './delivery-journal.js';

/** A core reply (`{ code, enhanced, text }`) as smtp-server's error. */
function coreReply(reply) {
  return { responseCode: reply.code, message: `${reply.enhanced} ${reply.text}` };
}

/**
 * The MX's reply, mirrored for the local MTA by the core (src/relay.rs mirror_reply): the MX's
 * code, enhanced code and words, with the MX named at the end.
 */
export function mirrorReply(reply, mx) {
  return coreReply(relayMirrorReply(reply.code, reply.lines, mx));
}

function domainOf(address) {
  const at = address.lastIndexOf('@');
  return at === -1 ? '' : address.slice(at + 1);
}

/** The core's reply for a connectMx failure (`err.reply`), or for an error it did not make. */
function connectFailureReply(err, domain) {
  if (err?.reply && typeof err.reply.code === 'number') return err.reply;
  return relayFailureReply(domain, err?.mode ?? null, err?.mx ?? null, {
    code: typeof err?.code === 'string' ? err.code : 'internal-error',
    message: err?.message ?? String(err),
    // Spec: an error that does not say it is permanent keeps the message queued upstream.
    temporary: err?.temporary !== false,
    tlsrpt: err?.tlsrpt ?? '',
  });
}

/** Passes `source`'s chunks on, feeding each to `hasher` (the delivery journal's key). */
async function* hashing(source, hasher) {
  for await (const chunk of source) {
    hasher.update(chunk);
    yield chunk;
  }
}

const outcomeOf = (code) => (code < 300 ? 'delivered' : code < 500 ? 'deferred' : 'rejected');

export class Transaction {
  /**
   * @param {object} relay the relay's shared parts (server.js): connectMx(domain), heloName,
   *   traceHeaderName, timeouts, maxSize, log, metrics, tlsrpt, clock, journal (delivery-journal.js),
   *   inFlight (keys of messages between "." and the MX's reply), afterDelivered (a test hook)
   * @param {object} session smtp-server's session
   * @param {{ address: string, args: object }} mailFrom
   */
  constructor(relay, session, mailFrom) {
    this.relay = relay;
    this.session = session;
    this.from = mailFrom;
    this.domain = null; // the policy domain of the open downstream connection
    this.conn = null; // connectMx's result
    this.downstream = null;
    this.entry = null; // { ds, conn, uses } for the connection pool
    this.lost = null; // the reply for the rest of the transaction once the MX connection broke
    this.refused = new Map(); // policy domain → reply, for the rest of this transaction
    this.accepted = [];
    this.startedAt = null;
    this.inData = false;
    this.finished = false;
    // Aborted when the transaction ends without delivering (the local MTA left, RSET, shutdown):
    // connectMx stops dialling and closes its socket at its next step.
    this.controller = new AbortController();
  }

  get mode() {
    return this.conn?.trace?.mode ?? null;
  }

  /** The reply once the transaction was aborted while it waited downstream (nobody hears it). */
  #abandoned() {
    this.downstream?.close();
    this.#unuse();
    return { responseCode: 451, message: '4.4.2 transaction aborted by the client' };
  }

  /** RCPT TO: resolves null (accepted) or the reply to give. */
  async rcpt(address) {
    this.startedAt ??= performance.now();
    let domain;
    try {
      domain = recipientDomain(address.address);
    } catch {
      // RFC 5321 §4.1.3, §4.5.1: an address literal, no domain, or no domain name: no MTA-STS
      // policy can apply and no retry changes that (5xx from the core, with its enhanced code).
      return coreReply(recipientFailureReply(address.address));
    }
    const given = domainOf(address.address);
    if (this.refused.has(domain)) return this.refused.get(domain);
    if (this.domain !== null && this.domain !== domain) return coreReply(relayOtherDomainReply(this.domain));
    if (this.lost) return this.lost;
    if (this.downstream === null) {
      const refusal = await this.#open(domain, given);
      if (this.finished) return this.#abandoned();
      if (refusal) {
        this.refused.set(domain, refusal);
        return refusal;
      }
    }
    let reply;
    try {
      reply = await this.downstream.rcpt(address.address);
    } catch (err) {
      return this.#lose(err);
    }
    if (this.finished) return this.#abandoned();
    if (reply.code >= 200 && reply.code < 300) {
      this.accepted.push(address.address);
      return null;
    }
    this.relay.log.debug({ event: 'rcpt-refused', domain, mx: this.conn.mx.host, reply: replyText(reply) });
    if (reply.code >= 400) return mirrorReply(reply, this.conn.mx.host);
    return this.#lose(new MtaStsError('smtp-unexpected-reply', `${this.conn.mx.host} answered RCPT with ${replyText(reply)}`));
  }

  /**
   * Opens the downstream connection for `domain` (or reuses an idle one, downstream-pool.js) and
   * sends EHLO and MAIL; null when it worked, else the reply for the RCPT.
   */
  async #open(domain, given) {
    const { relay } = this;
    const pooled = await relay.pool.take(domain);
    if (pooled) {
      this.#use(domain, pooled);
      relay.metrics.policyLookups.inc({ result: 'hit' });
      relay.metrics.reusedConnections.inc();
      try {
        const mail = await this.#mail();
        // Interop: an MX may close an idle connection at any time (a 421 or a reset): such a
        // connection is dropped and a new one opened; any other answer is the MX's word.
        if (mail === null || !mail.closing) return mail;
      } catch {
        // the idle connection was gone: open a new one below
      }
      pooled.ds.close();
      this.#unuse();
    }
    const t0 = performance.now();
    let conn;
    try {
      conn = await relay.connectMx(given, this.controller.signal);
    } catch (err) {
      if (this.finished) return null; // aborted: the client is gone, nothing to record
      const mode = err.mode ?? null;
      const mx = err.mx ?? null;
      relay.metrics.connectSeconds.observe({ outcome: 'failed' }, (performance.now() - t0) / 1000);
      await this.#record(domain, err);
      const reply = connectFailureReply(err, domain);
      this.#count(outcomeOf(reply.code), mode);
      relay.log.warn({
        event: 'delivery',
        outcome: outcomeOf(reply.code),
        domain,
        mode: mode ?? 'none',
        mx,
        reply: `${reply.code} ${reply.enhanced} ${reply.text}`,
        attempts: err.attempts ?? [],
        from: this.from.address,
        client: this.session.remoteAddress,
      });
      return coreReply(reply);
    }
    if (this.finished) {
      // The local MTA left while the MX was dialled: close the verified connection unused.
      conn.socket.destroy();
      return null;
    }
    relay.metrics.connectSeconds.observe({ outcome: 'ok' }, (performance.now() - t0) / 1000);
    await this.#record(domain, conn);
    const ds = new DownstreamSmtp(conn.socket, { heloName: relay.heloName, timeouts: relay.timeouts, mx: conn.mx.host });
    this.#use(domain, { ds, conn, uses: 1 });
    try {
      const ehlo = await ds.ehlo();
      if (ehlo.code !== 250) {
        ds.quit();
        this.#unuse();
        return ehlo.code >= 400 ? mirrorReply(ehlo, conn.mx.host) : this.#failureFor(domain, conn, new MtaStsError('smtp-unexpected-reply', `${conn.mx.host} answered EHLO with ${replyText(ehlo)}`));
      }
      if (this.finished) return null;
      return await this.#mail();
    } catch (err) {
      const reply = this.#failureFor(domain, conn, err);
      ds.close();
      this.#unuse();
      return reply;
    }
  }

  #use(domain, entry) {
    this.entry = entry;
    this.conn = entry.conn;
    this.domain = domain;
    this.downstream = entry.ds;
  }

  #unuse() {
    this.entry = null;
    this.conn = null;
    this.domain = null;
    this.downstream = null;
  }

  /** MAIL FROM on the open connection, with the parameters the MX announced; null when accepted. */
  async #mail() {
    const { relay, conn } = this;
    const ds = this.downstream;
    const domain = this.domain;
    const args = this.from.args || {};
    const refuse = (reply) => {
      ds.quit();
      this.#unuse();
      return reply;
    };
    // RFC 6531 §3.2: a message that needs SMTPUTF8 must not go to a server that lacks it.
    if (args.SMTPUTF8 && !ds.has('SMTPUTF8')) {
      return refuse(coreReply(relayNotice('needs-smtputf8', conn.mx.host)));
    }
    const params = [];
    // RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8: passed on when the MX announced them.
    if (args.SIZE && ds.has('SIZE')) params.push(`SIZE=${args.SIZE}`);
    if (args.BODY && ds.has('8BITMIME')) params.push(`BODY=${String(args.BODY).toUpperCase()}`);
    if (args.SMTPUTF8 && ds.has('SMTPUTF8')) params.push('SMTPUTF8');
    const mail = await ds.mail(this.from.address, params);
    if (mail.code >= 200 && mail.code < 300) return null;
    relay.log.info({ event: 'mail-refused', domain, mx: conn.mx.host, reply: replyText(mail) });
    if (mail.code === 421) return { ...refuse(mirrorReply(mail, conn.mx.host)), closing: true };
    return refuse(mail.code >= 400 ? mirrorReply(mail, conn.mx.host) : this.#failureFor(domain, conn, new MtaStsError('smtp-unexpected-reply', `${conn.mx.host} answered MAIL with ${replyText(mail)}`)));
  }

  #failureFor(domain, conn, err) {
    const reply = relayFailureReply(domain, conn?.trace?.mode ?? null, conn?.mx?.host ?? null, {
      code: typeof err.code === 'string' ? err.code : 'mx-connection-lost',
      message: err.message,
      temporary: true,
      tlsrpt: '',
    });
    return coreReply(reply);
  }

  /** The core's reply for a failure with the MX connection open (timeout, close, protocol). */
  #failure(err) {
    return this.#failureFor(this.domain ?? '(none)', this.conn, err);
  }

  /** The MX connection broke: every later RCPT and the DATA get the same 4xx. */
  #lose(err) {
    this.lost ??= this.#failure(err);
    this.downstream?.close();
    return this.lost;
  }

  /**
   * DATA: streams `stream` (smtp-server's message stream) to the MX. Resolves
   * `{ error }` or `{ message }` for smtp-server's callback; `stream` is always read to its end.
   */
  async data(stream) {
    const { relay } = this;
    this.inData = true;
    let bytes = 0;
    let key = null; // the delivery journal's key, once the local MTA's end of data is in
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
    const finish = (outcome, reply, extra = {}) => {
      this.inData = false;
      this.finished = true;
      const mode = this.mode;
      this.#count(outcome, mode);
      relay.metrics.deliverySeconds.observe({ outcome }, (performance.now() - (this.startedAt ?? performance.now())) / 1000);
      const trace = this.conn?.trace;
      relay.log[outcome === 'delivered' || outcome === 'already-delivered' ? 'info' : 'warn']({
        event: 'delivery',
        outcome,
        domain: this.domain,
        mode: mode ?? 'none',
        policyId: trace?.policyId ?? null,
        mx: this.conn?.mx?.host ?? null,
        address: this.conn?.mx?.address ?? null,
        tls: trace?.tlsVersion ?? null,
        verified: trace?.result === 'verified',
        result: trace?.result ?? null,
        reply,
        from: this.from.address,
        recipients: this.accepted.length,
        bytes,
        ms: Math.round(performance.now() - (this.startedAt ?? performance.now())),
        client: this.session.remoteAddress,
        journal: key,
        ...extra,
      });
    };

    if (this.lost || !this.downstream || this.downstream.closed) {
      drain();
      const error = this.lost ?? this.#failure(new MtaStsError('mx-connection-lost', 'the connection to the mx is gone'));
      finish('deferred', `${error.responseCode} ${error.message}`);
      return { error };
    }
    const ds = this.downstream;
    const mx = this.conn.mx.host;
    let reusable = false;
    const { journal } = relay;
    const hasher = deliveryHasher(this.from.address, this.accepted);
    let withheld = null; // why the "." was not sent: 'already-delivered' | 'in-flight'
    let claimed = false; // this transaction holds `key` in relay.inFlight
    /** At the local MTA's end of data, before the "." goes to the MX: whether it may. */
    const beforeEnd = async () => {
      key = hasher.key();
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
      const reply = await ds.data(hashing(upstream, hasher), {
        header: this.#traceHeader(),
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
          finish('deferred', null, { reason: 'the same message is being delivered in another session' });
          return { error: coreReply(relayNotice('in-flight')) };
        }
        relay.metrics.alreadyDelivered.inc();
        const notice = relayNotice('already-delivered');
        const text = `${notice.enhanced} ${notice.text}`;
        finish('already-delivered', `${notice.code} ${text}`);
        return { message: text };
      }
      reusable = reply.phase === 'end';
      // Only a 2xx answering the end of data is delivery (the core pairs each reply with its
      // command: a 2xx to DATA itself never gets here, it is smtp-unexpected-reply).
      if (reply.phase === 'end' && reply.meaning === 'accepted') {
        // Durable before the 250 goes upstream: a crash from here on finds the message delivered.
        try {
          await journal.recordDelivered(key);
        } catch (err) {
          relay.log.error({ event: 'journal-write-failed', err: err.message, journal: key });
        }
        relay.afterDelivered?.();
        const text = mirrorReply(reply, mx).message;
        finish('delivered', replyText(reply));
        return { message: Array.isArray(text) ? text.join(' ') : text };
      }
      if (reply.code >= 400) {
        const error = mirrorReply(reply, mx);
        finish(outcomeOf(error.responseCode), replyText(reply));
        return { error };
      }
      const error = this.#failure(new MtaStsError('smtp-unexpected-reply', `${mx} answered ${reply.phase === 'data' ? 'DATA' : 'the end of DATA'} with ${replyText(reply)}`));
      finish('deferred', replyText(reply));
      return { error };
    } catch (err) {
      if (upstreamGone) {
        // The MX connection was reset before the end of data (downstream-smtp.js): nothing delivered.
        finish('aborted', null, { reason: upstreamGone.message });
        return { error: coreReply(relayNotice('incomplete')) };
      }
      drain();
      if (err.code === 'journal-write-failed') {
        // Nothing was ended at the MX: the message stays queued upstream.
        finish('deferred', null, { reason: err.message });
        return { error: coreReply(relayNotice('journal-failed', err.message)) };
      }
      if (err.code === 'message-too-big') {
        finish('rejected', null, { reason: err.message });
        return { error: coreReply(relayNotice('too-big', '', relay.maxSize)) };
      }
      const error = this.#failure(err);
      finish('deferred', `${error.responseCode} ${error.message}`, { reason: err.message });
      return { error };
    } finally {
      if (claimed) relay.inFlight.delete(key);
      // After the MX's reply to the end of DATA the session is ready for the next message.
      if (reusable && !ds.closed) this.relay.pool.release(this.domain, this.entry);
      else ds.quit();
    }
  }

  /** The trace header from the core's facts for this connection (src/delivery/machine.rs). */
  #traceHeader() {
    const name = this.relay.traceHeaderName;
    if (!name || !this.conn.trace) return '';
    return deliveryTraceHeader(name, this.conn.trace);
  }

  #count(outcome, mode) {
    this.relay.metrics.deliveries.inc({ outcome, mode: mode ?? 'none' });
  }

  /**
   * TLS-RPT records (tlsrpt-log.js) and metrics of one connectMx call: `source` is its result or
   * its error; the policy type, id and mode are the core's (a cached policy is a policy).
   */
  async #record(domain, source) {
    const { relay } = this;
    const policy = source?.policy ?? null;
    // A hit: the policy came from the store, or is a result the resolver handed out before (it
    // reuses the same frozen object until the core's freshUntil); a miss: fetched for this one.
    let lookup = 'none';
    if (policy?.status === 'found' || policy?.status === 'cached') {
      lookup = policy.source === 'cache' || relay.seenPolicies.has(policy) ? 'hit' : 'miss';
      relay.seenPolicies.add(policy);
    }
    relay.metrics.policyLookups.inc({ result: lookup });
    const applies = policy?.status === 'found' || policy?.status === 'cached';
    const base = {
      at: new Date(relay.clock()),
      policyType: source?.policyType ?? 'no-policy-found',
      policyId: source?.trace?.policyId ?? (applies ? (policy.id ?? null) : null),
      mode: source?.trace?.mode ?? source?.mode ?? (applies ? (policy.policy?.mode ?? null) : null) ?? 'none',
    };
    const records = [];
    for (const e of policy?.errors ?? []) {
      if (e && e.tlsrpt) records.push({ ...base, kind: 'discovery', result: e.tlsrpt, code: e.code ?? null, message: e.message ?? null });
    }
    for (const a of source?.attempts ?? []) {
      relay.metrics.mxAttempts.inc({ result: a.result });
      if (a.tlsrpt) relay.metrics.tlsFailures.inc({ result_type: a.tlsrpt });
      relay.log.debug({ event: 'mx-attempt', domain, mx: a.host, address: a.address, result: a.result, tlsrpt: a.tlsrpt, message: a.message, fallback: a.fallback });
      // A plaintext retry is no TLS session (RFC 8460 §4.3): its TLS failure is the record before.
      if (a.fallback) continue;
      records.push({
        ...base,
        kind: 'session',
        mx: a.host,
        address: a.address ?? null,
        result: a.result === 'success' ? 'success' : (a.tlsrpt || a.result),
        code: a.result,
        message: a.message ?? null,
      });
    }
    for (const r of records) {
      try {
        await relay.tlsrpt.record(domain, r);
      } catch (err) {
        relay.log.error({ event: 'tlsrpt-record-failed', domain, err: err.message });
      }
    }
  }

  /** Ends the transaction without delivering (RSET, a new MAIL, the local MTA went away). */
  abort() {
    if (this.finished) return;
    this.finished = true;
    this.controller.abort(new Error('the local MTA went away'));
    if (!this.inData) this.downstream?.quit();
    // Before the end of data, a reset connection makes the MX drop what it got. After it, the MX
    // decides on a whole message: the reply is awaited (and logged) even though nobody hears it.
    else if (!this.downstream?.dataEnded) this.downstream?.destroy('aborted: the local MTA went away');
  }
}
