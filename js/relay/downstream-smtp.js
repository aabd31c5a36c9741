// The relay's SMTP client towards the recipient's MX (RFC 5321), over the stream connectMx hands
// out: plaintext SMTP after a verified STARTTLS (or a plain socket when the verdict allowed it).
//
// Every reply is read by the core's SmtpClient (src/smtp/client.rs): one command at a time, each
// reply paired with the command it answers, one set of limits on lines and replies, and the
// meaning of each code for its command (only 354 opens DATA; only a 2xx to the end of data is
// delivery). Bytes the MX sends while no command waits end the session (smtp-out-of-step). This
// file moves bytes, keeps the time limits, and streams the body dot-stuffed with backpressure.
// Nothing here decides what to tell the local MTA; session.js does, with the core's replies.
//
// Every failure is an MtaStsError: `mx-timeout` (no reply in time), `smtp-closed` (the MX closed
// or reset the connection), `smtp-protocol-error` / `smtp-out-of-step` / `smtp-unexpected-reply`
// (the core's), `mx-data-aborted` (the relay cut the transfer). All temporary.

import { MtaStsError } from '../error.js';
import { SmtpClient } from '../core.js';
import { dotStuffer } from './transparency.js';

/** The reply as one line for logs and messages: `550 5.1.1 no such user`. */
export function replyText(reply) {
  return `${reply.code} ${reply.lines.join(' / ')}`.trim();
}

export class DownstreamSmtp {
  /**
   * @param {import('node:stream').Duplex} socket
   * @param {object} options
   * @param {string} options.heloName our EHLO name
   * @param {{ command: number, dataEnd: number }} options.timeouts milliseconds
   * @param {string} [options.mx] the MX host name (for messages)
   */
  constructor(socket, { heloName, timeouts, mx = 'the mx' }) {
    this.socket = socket;
    this.heloName = heloName;
    this.timeouts = timeouts;
    this.mx = mx;
    this.capabilities = new Map();
    this.closed = null; // the MtaStsError once the connection is gone
    this.dataEnded = false; // the end-of-data line was sent
    this.client = new SmtpClient();
    this.waiter = null; // the one command waiting for its reply
    this.drainWaiters = new Set();
    this.onData = (chunk) => this.#receive(chunk);
    this.onGone = (err) => {
      if (this.closed) return;
      const e = this.client.onClose();
      if (err && err.message) e.message += ` (${err.message})`;
      this.#fail(e);
    };
    socket.on('data', this.onData);
    socket.on('error', this.onGone);
    socket.on('close', () => this.onGone());
    socket.on('end', () => this.onGone());
    // connectMx hands the socket out paused.
    socket.resume();
  }

  #receive(chunk) {
    if (this.closed) return;
    let answer;
    try {
      answer = this.client.onData(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
    } catch (err) {
      // Out of step, not SMTP, too long, an unexpected code: the session is over.
      err.message = `${this.mx}: ${err.message}`;
      this.#fail(err);
      return;
    }
    if (answer === null) return;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.resolve(answer);
  }

  #fail(err) {
    if (this.closed) return;
    this.closed = err;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.reject(err);
    for (const w of this.drainWaiters) w.reject(err);
    this.drainWaiters.clear();
    this.socket.destroy();
  }

  /** The reply to the command just written, within `ms` milliseconds. */
  #nextReply(ms, what) {
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(new MtaStsError('mx-timeout', `${this.mx} did not answer ${what} within ${Math.round(ms / 1000)} s`, { temporary: true }));
      }, ms);
      const done = (fn) => (v) => {
        clearTimeout(timer);
        fn(v);
      };
      this.waiter = { resolve: done(resolve), reject: done(reject) };
    });
  }

  /**
   * Sends one command (`kind`: ehlo, helo, mail, rcpt, data, end-of-data, rset, noop, quit) and
   * waits for its reply: `{ command, code, lines, enhanced, meaning, keywords }`. The core builds
   * the line and refuses a command out of turn or an argument with a line break (no injection).
   */
  async command(kind, arg = '', { timeout = this.timeouts.command, what = kind.toUpperCase(), raw = null } = {}) {
    if (this.closed) throw this.closed;
    const bytes = this.client.command(kind, arg);
    const reply = this.#nextReply(timeout, what);
    if (raw) this.socket.write(raw);
    else if (bytes.length) this.socket.write(bytes);
    return reply;
  }

  /**
   * EHLO (the connection is fresh after STARTTLS, RFC 3207 §4.2, so capabilities are asked again).
   * Falls back to HELO when EHLO is refused with 5xx (RFC 5321 §4.1.4).
   */
  async ehlo() {
    const reply = await this.command('ehlo', this.heloName);
    this.capabilities = new Map();
    if (reply.meaning === 'accepted') {
      for (const [keyword, params] of reply.keywords ?? []) this.capabilities.set(keyword, params);
      return reply;
    }
    if (reply.meaning === 'permanent') return this.command('helo', this.heloName);
    return reply;
  }

  /** Whether the MX advertised `keyword` (e.g. SIZE, 8BITMIME, SMTPUTF8) in its EHLO reply. */
  has(keyword) {
    return this.capabilities.has(keyword);
  }

  /** The MX's SIZE limit in octets, or 0 when it names none (RFC 1870 §4). */
  sizeLimit() {
    const n = Number(this.capabilities.get('SIZE')?.[0] ?? 0);
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  }

  mail(reversePath, params = []) {
    return this.command('mail', [`<${reversePath}>`, ...params].join(' '), { what: 'MAIL FROM' });
  }

  rcpt(forwardPath) {
    return this.command('rcpt', `<${forwardPath}>`, { what: 'RCPT TO' });
  }

  /**
   * DATA: sends the command and, on 354, `header` (a trace header, may be empty) followed by every
   * chunk of `body` dot-stuffed, then the end-of-data line. Returns the MX's final reply, or the
   * 4xx/5xx reply to DATA (`phase` says which: 'end' or 'data'). Any other answer to DATA (a 2xx
   * instead of 354) throws the core's smtp-unexpected-reply: nothing was sent, nothing delivered.
   *
   * `body` is an async iterable of Buffers. When it throws (the local MTA went away) the connection
   * is destroyed before the end-of-data line is sent, so the MX never accepts a partial message.
   * `check(bytesSoFar)` may throw to abort the same way (e.g. the message grew past the SIZE limit).
   * `beforeEnd()` is awaited once the body is complete, before the end-of-data line: false withholds
   * it (the connection is closed, so the MX drops the message; `phase: 'withheld'`), and a throw
   * aborts as above (the delivery journal, delivery-journal.js).
   */
  async data(body, { header = '', check, beforeEnd } = {}) {
    const start = await this.command('data');
    if (start.meaning !== 'send-data') return { ...start, phase: 'data' };
    const stuffer = dotStuffer();
    let bytes = 0;
    try {
      if (header) await this.#write(stuffer.push(Buffer.from(header, 'latin1')));
      for await (const chunk of body) {
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
        bytes += buf.length;
        if (check) check(bytes);
        const out = stuffer.push(buf);
        if (out.length) await this.#write(out);
      }
      if (beforeEnd && !(await beforeEnd())) {
        this.#fail(new MtaStsError('mx-data-aborted', `message transfer to ${this.mx} withheld before the end of data`));
        return { code: 0, lines: [], enhanced: null, phase: 'withheld' };
      }
    } catch (err) {
      // RFC 5321 §4.1.1.4: only <CRLF>.<CRLF> ends the message; a connection closed before it
      // makes the MX discard what it got. Never end DATA for an incomplete message.
      this.#fail(this.closed ?? new MtaStsError('mx-data-aborted', `message transfer to ${this.mx} aborted: ${err.message}`));
      throw err;
    }
    // From here the MX may accept the message whatever happens upstream.
    if (this.closed) throw this.closed;
    this.dataEnded = true;
    const end = this.command('end-of-data', '', { timeout: this.timeouts.dataEnd, what: 'the end of DATA' });
    await this.#write(stuffer.end());
    return { ...(await end), phase: 'end' };
  }

  /** Writes with backpressure: waits for 'drain' when the socket's buffer is full. */
  #write(buf) {
    if (this.closed) return Promise.reject(this.closed);
    if (this.socket.write(buf)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      this.drainWaiters.add(waiter);
      this.socket.once('drain', () => {
        this.drainWaiters.delete(waiter);
        resolve();
      });
    });
  }

  /** RSET then QUIT, politely and briefly; the connection is closed in any case. */
  async quit({ rset = false } = {}) {
    if (this.closed) return;
    try {
      if (rset) await this.command('rset', '', { timeout: 10_000 });
      await this.command('quit', '', { timeout: 10_000 });
    } catch {
      // the MX going away during QUIT changes nothing
    }
    this.close();
  }

  /** Closes at once (no QUIT). */
  close() {
    this.#fail(new MtaStsError('mx-connection-lost', `connection to ${this.mx} closed by the relay`, { temporary: true }));
  }

  /** Aborts at once: the MX sees the connection reset (used mid-DATA: nothing ends the message). */
  destroy(reason = 'aborted by the relay') {
    this.#fail(new MtaStsError('mx-data-aborted', `connection to ${this.mx} ${reason}`));
  }
}
