// One SMTP transaction of the relay (DESIGN.md, "Relay (no loss)"): the local MTA's MAIL, RCPTs and
// DATA, answered only with what really happened at the recipient's MX.
//
// - MAIL FROM is accepted locally and sent downstream at the first RCPT, which opens connectMx for
//   that recipient's domain. A refused MAIL at the MX becomes the reply to that RCPT.
// - Each RCPT gets the MX's own reply. Recipients of a second domain get the core's 452 4.5.3
//   (one downstream connection per transaction); the local MTA sends them in another transaction.
// - DATA goes to the MX through message-transfer.js (the journal, the held "."), and the MX's reply
//   to the end of DATA is the relay's reply. A message is therefore delivered or still queued.
// - When no MX could be used the reply is the core's (connectMx's `err.reply`, from the delivery
//   machine): 4xx naming the policy domain, the MX and the reason, 5xx only for what no retry fixes.
// - A transaction aborted while it waits downstream (the local MTA left, RSET, shutdown) aborts
//   connectMx and closes the MX connection.
// - TLS-RPT records and metrics of each connectMx call: attempt-records.js.
//
// Replies handed to smtp-server are `{ responseCode, message }` where message starts with the
// enhanced status code (replies.js; server.js passes them through unchanged).

import { performance } from 'node:perf_hooks';
import { deliveryTraceHeader, recipientDomain, recipientFailureReply, relayFailureReply, relayNotice, relayOtherDomainReply, MtaStsError } from '../core.js';
import { DownstreamSmtp, replyText } from './downstream-smtp.js';
import { recordAttempts } from './attempt-records.js';
import { connectFailureReply, coreReply, domainOf, mirrorReply, outcomeOf } from './replies.js';
import { dropMessage, transferMessage } from './message-transfer.js';

export { mirrorReply };

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
    return coreReply(relayNotice('aborted'));
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
      await recordAttempts(this.relay, domain, err);
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
    await recordAttempts(this.relay, domain, conn);
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
   * DATA: streams `stream` (smtp-server's message stream) to the MX (message-transfer.js). Resolves
   * `{ error }` or `{ message }` for smtp-server's callback; `stream` is always read to its end.
   */
  async data(stream) {
    const { relay } = this;
    this.inData = true;
    const alive = !this.lost && this.downstream && !this.downstream.closed;
    const t = alive
      ? await transferMessage({
          relay,
          ds: this.downstream,
          mx: this.conn.mx.host,
          stream,
          from: this.from.address,
          accepted: this.accepted,
          header: this.#traceHeader(),
          failure: (err) => this.#failure(err),
        })
      : await dropMessage({ relay, stream, from: this.from.address, accepted: this.accepted }, this.lost ?? this.#failure(new MtaStsError('mx-connection-lost', 'the connection to the mx is gone')));
    this.inData = false;
    this.finished = true;
    const mode = this.mode;
    this.#count(t.outcome, mode);
    relay.metrics.deliverySeconds.observe({ outcome: t.outcome }, (performance.now() - (this.startedAt ?? performance.now())) / 1000);
    const trace = this.conn?.trace;
    relay.log[t.outcome === 'delivered' || t.outcome === 'already-delivered' ? 'info' : 'warn']({
      event: 'delivery',
      outcome: t.outcome,
      domain: this.domain,
      mode: mode ?? 'none',
      policyId: trace?.policyId ?? null,
      mx: this.conn?.mx?.host ?? null,
      address: this.conn?.mx?.address ?? null,
      tls: trace?.tlsVersion ?? null,
      verified: trace?.result === 'verified',
      result: trace?.result ?? null,
      reply: t.logReply,
      from: this.from.address,
      recipients: this.accepted.length,
      bytes: t.bytes,
      ms: Math.round(performance.now() - (this.startedAt ?? performance.now())),
      client: this.session.remoteAddress,
      journal: t.key,
      ...t.extra,
    });
    if (alive) {
      // After the MX's reply to the end of DATA the session is ready for the next message.
      if (t.reusable && !this.downstream.closed) relay.pool.release(this.domain, this.entry);
      else this.downstream.quit();
    }
    return t.result;
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
