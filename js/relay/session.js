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
import { normalizeDomain, relayFailureReply, relayOtherDomainReply, traceHeader, MtaStsError } from '../core.js';
import { DownstreamSmtp, replyText } from './downstream-smtp.js';
import { deliveryHasher } from './delivery-journal.js';

const ENHANCED_PREFIX = /^[245]\.\d{1,3}\.\d{1,3}\s*/;

/** A core reply (`{ code, enhanced, text }`) as smtp-server's error. */
function coreReply(reply) {
  return { responseCode: reply.code, message: `${reply.enhanced} ${reply.text}` };
}

/**
 * The MX's reply, mirrored for the local MTA: the MX's code, enhanced code and words, with the MX
 * named at the end. Every line carries the enhanced code (RFC 2034 §4).
 */
export function mirrorReply(reply, mx) {
  // Spec: 421 closes the MX's channel, not the relay's: the local MTA gets 451 and the MX's words.
  const code = reply.code === 421 ? 451 : reply.code;
  const cls = String(code)[0];
  const enhanced = reply.enhanced && reply.enhanced[0] === cls ? reply.enhanced : `${cls}.0.0`;
  const lines = reply.lines.map((l) => `${enhanced} ${l.replace(ENHANCED_PREFIX, '')}`.trimEnd());
  lines[lines.length - 1] += ` [${mx}]`;
  return { responseCode: code, message: lines.length === 1 ? lines[0] : lines };
}

function domainOf(address) {
  const at = address.lastIndexOf('@');
  return at === -1 ? '' : address.slice(at + 1);
}

/** Mode, MX and error (for relayFailureReply) of a connectMx failure. */
function describeConnectFailure(err) {
  const attempts = Array.isArray(err.attempts) ? err.attempts : [];
  const last = attempts[attempts.length - 1];
  if (err.code === 'delivery-failed' && last) {
    return {
      mode: last.mode ?? null,
      mx: last.host,
      error: {
        code: last.result,
        message: last.message ?? last.detail ?? err.message,
        temporary: err.temporary !== false,
        tlsrpt: last.tlsrpt ?? '',
      },
    };
  }
  return {
    mode: err.policy?.policy?.mode ?? null,
    mx: null,
    error: {
      code: typeof err.code === 'string' ? err.code : 'internal-error',
      message: err.message ?? String(err),
      // Spec: an error that does not say it is permanent keeps the message queued upstream.
      temporary: err.temporary !== false,
      tlsrpt: err.tlsrpt ?? '',
    },
  };
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
  }

  get mode() {
    return this.conn?.attempts?.at(-1)?.mode ?? this.conn?.policy?.policy?.mode ?? null;
  }

  /** RCPT TO: resolves null (accepted) or the reply to give. */
  async rcpt(address) {
    this.startedAt ??= performance.now();
    const given = domainOf(address.address);
    let domain;
    try {
      domain = normalizeDomain(given);
    } catch (err) {
      return coreReply(relayFailureReply(given.toLowerCase().slice(0, 255) || '(none)', null, null, describeConnectFailure(err).error));
    }
    if (this.refused.has(domain)) return this.refused.get(domain);
    if (this.domain !== null && this.domain !== domain) return coreReply(relayOtherDomainReply(this.domain));
    if (this.lost) return this.lost;
    if (this.downstream === null) {
      const refusal = await this.#open(domain, given);
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
    if (reply.code >= 200 && reply.code < 300) {
      this.accepted.push(address.address);
      return null;
    }
    this.relay.log.debug({ event: 'rcpt-refused', domain, mx: this.conn.mx.host, reply: replyText(reply) });
    if (reply.code >= 400) return mirrorReply(reply, this.conn.mx.host);
    return this.#lose(new MtaStsError('mx-protocol-error', `${this.conn.mx.host} answered RCPT with ${replyText(reply)}`));
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
      conn = await relay.connectMx(given);
    } catch (err) {
      const { mode, mx, error } = describeConnectFailure(err);
      relay.metrics.connectSeconds.observe({ outcome: 'failed' }, (performance.now() - t0) / 1000);
      await this.#record(domain, err.policy ?? null, err.attempts ?? []);
      const reply = relayFailureReply(domain, mode, mx, error);
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
    relay.metrics.connectSeconds.observe({ outcome: 'ok' }, (performance.now() - t0) / 1000);
    await this.#record(domain, conn.policy, conn.attempts);
    const ds = new DownstreamSmtp(conn.socket, { heloName: relay.heloName, timeouts: relay.timeouts, mx: conn.mx.host });
    this.#use(domain, { ds, conn, uses: 1 });
    try {
      const ehlo = await ds.ehlo();
      if (ehlo.code !== 250) {
        ds.quit();
        this.#unuse();
        return ehlo.code >= 400 ? mirrorReply(ehlo, conn.mx.host) : this.#failureFor(domain, conn, new MtaStsError('mx-protocol-error', `${conn.mx.host} answered EHLO with ${replyText(ehlo)}`));
      }
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
      return refuse({ responseCode: 553, message: `5.6.7 ${conn.mx.host} does not support SMTPUTF8, which this message needs` });
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
    return refuse(mail.code >= 400 ? mirrorReply(mail, conn.mx.host) : this.#failureFor(domain, conn, new MtaStsError('mx-protocol-error', `${conn.mx.host} answered MAIL with ${replyText(mail)}`)));
  }

  #failureFor(domain, conn, err) {
    const reply = relayFailureReply(domain, conn?.attempts?.at(-1)?.mode ?? conn?.policy?.policy?.mode ?? null, conn?.mx?.host ?? null, {
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
      const used = this.conn?.attempts?.at(-1);
      relay.log[outcome === 'delivered' || outcome === 'already-delivered' ? 'info' : 'warn']({
        event: 'delivery',
        outcome,
        domain: this.domain,
        mode: mode ?? 'none',
        policyId: this.conn?.policy?.id ?? null,
        mx: this.conn?.mx?.host ?? null,
        address: this.conn?.mx?.address ?? null,
        tls: used?.tlsVersion ?? null,
        verified: used ? used.result === 'success' && Boolean(used.secured) : false,
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
          return { error: { responseCode: 451, message: '4.4.0 the same message is being delivered in another session now; try again later' } };
        }
        relay.metrics.alreadyDelivered.inc();
        const text = '2.0.0 already delivered: the relay\'s delivery journal has this message as accepted by the MX; not sent again';
        finish('already-delivered', `250 ${text}`);
        return { message: text };
      }
      reusable = reply.phase === 'end';
      if (reply.code >= 200 && reply.code < 300) {
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
      const error = this.#failure(new MtaStsError('mx-protocol-error', `${mx} answered ${reply.phase === 'data' ? 'DATA' : 'the end of DATA'} with ${replyText(reply)}`));
      finish('deferred', replyText(reply));
      return { error };
    } catch (err) {
      if (upstreamGone) {
        // The MX connection was reset before the end of data (downstream-smtp.js): nothing delivered.
        finish('aborted', null, { reason: upstreamGone.message });
        return { error: { responseCode: 451, message: '4.4.2 message incomplete' } };
      }
      drain();
      if (err.code === 'journal-write-failed') {
        // Nothing was ended at the MX: the message stays queued upstream.
        finish('deferred', null, { reason: err.message });
        return { error: { responseCode: 451, message: `4.3.0 ${err.message}` } };
      }
      if (err.code === 'message-too-big') {
        finish('rejected', null, { reason: err.message });
        return { error: { responseCode: 552, message: `5.3.4 ${err.message}` } };
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

  #traceHeader() {
    const name = this.relay.traceHeaderName;
    if (!name) return '';
    const used = this.conn.attempts?.at(-1);
    const result = !used?.secured ? 'plaintext' : used.result === 'success' ? 'verified' : 'unverified';
    return traceHeader(name, {
      result,
      policyDomain: this.domain,
      mode: this.mode,
      policyId: this.conn.policy?.status === 'found' ? (this.conn.policy.id ?? null) : null,
      mx: this.conn.mx.host,
      tlsVersion: used?.secured ? (used.tlsVersion ?? this.conn.tls?.version ?? null) : null,
    });
  }

  #count(outcome, mode) {
    this.relay.metrics.deliveries.inc({ outcome, mode: mode ?? 'none' });
  }

  /** TLS-RPT records (tlsrpt-log.js) and metrics of one connectMx call. */
  async #record(domain, policy, attempts) {
    const { relay } = this;
    // A hit: the policy came from the store, or is a result the resolver handed out before (it
    // reuses the same frozen object until the core's freshUntil); a miss: fetched for this one.
    let lookup = 'none';
    if (policy?.status === 'found') {
      lookup = policy.source === 'cache' || relay.seenPolicies.has(policy) ? 'hit' : 'miss';
      relay.seenPolicies.add(policy);
    }
    relay.metrics.policyLookups.inc({ result: lookup });
    const mode = policy?.status === 'found' ? (policy.policy?.mode ?? null) : null;
    const base = {
      at: new Date(relay.clock()),
      policyType: mode && mode !== 'none' ? 'sts' : 'no-policy-found',
      policyId: policy?.status === 'found' ? (policy.id ?? null) : null,
      mode: mode ?? 'none',
    };
    const records = [];
    for (const e of policy?.errors ?? []) {
      if (e && e.tlsrpt) records.push({ ...base, kind: 'discovery', result: e.tlsrpt, code: e.code ?? null, message: e.message ?? null });
    }
    for (const a of attempts) {
      relay.metrics.mxAttempts.inc({ result: a.result });
      if (a.result !== 'success' && a.tlsrpt) relay.metrics.tlsFailures.inc({ result_type: a.tlsrpt });
      relay.log.debug({ event: 'mx-attempt', domain, mx: a.host, address: a.address, result: a.result, tlsrpt: a.tlsrpt, message: a.message });
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
    if (!this.inData) this.downstream?.quit();
    // Before the end of data, a reset connection makes the MX drop what it got. After it, the MX
    // decides on a whole message: the reply is awaited (and logged) even though nobody hears it.
    else if (!this.downstream?.dataEnded) this.downstream?.destroy('aborted: the local MTA went away');
  }
}
