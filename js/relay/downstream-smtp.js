// The relay's SMTP client towards the recipient's MX (RFC 5321), over the stream connectMx hands
// out: plaintext SMTP after a verified STARTTLS (or a plain socket when the verdict allowed it).
//
// Small on purpose: one command at a time, replies parsed line by line (multi-line replies, RFC 5321
// §4.2.1), a time limit on every reply, DATA written with dot-stuffing (§4.5.2) and backpressure.
// Nothing here decides what to tell the local MTA; session.js does, with the core's replies.
//
// Every failure is an MtaStsError: `mx-timeout` (no reply in time), `mx-connection-lost` (the MX
// closed or reset the connection), `mx-protocol-error` (a reply that is not SMTP). All temporary.

import { MtaStsError } from '../error.js';
import { dotStuffer } from './transparency.js';

// RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets; a peer sending far longer lines without a
// line break is not speaking SMTP.
const MAX_LINE = 16 * 1024;
const REPLY_LINE = /^([2-5]\d\d)(?:([ -])(.*))?$/s;
const ENHANCED = /^([245]\.\d{1,3}\.\d{1,3})(?: |$)/;


/** One SMTP reply: `{ code, lines: [text...], enhanced }` (texts without the code). */
export function parseReplyLines(lines) {
  const code = Number(lines[0].slice(0, 3));
  const texts = lines.map((l) => l.slice(4));
  const enhanced = ENHANCED.exec(texts[0])?.[1] ?? null;
  return { code, lines: texts, enhanced };
}

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
    this.buffer = '';
    this.partial = [];
    this.replies = [];
    this.waiters = [];
    this.drainWaiters = new Set();
    this.onData = (chunk) => this.#receive(chunk);
    this.onGone = (err) =>
      this.#fail(new MtaStsError('mx-connection-lost', `${this.mx} closed the connection${err && err.message ? ` (${err.message})` : ''}`));
    socket.setEncoding?.('latin1');
    socket.on('data', this.onData);
    socket.on('error', this.onGone);
    socket.on('close', () => this.onGone());
    socket.on('end', () => this.onGone());
    // connectMx hands the socket out paused.
    socket.resume();
  }

  #receive(chunk) {
    this.buffer += typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    for (;;) {
      const nl = this.buffer.indexOf('\n');
      if (nl === -1) break;
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      const m = REPLY_LINE.exec(line);
      if (!m) {
        this.#fail(new MtaStsError('mx-protocol-error', `${this.mx} sent a line that is not an smtp reply: ${JSON.stringify(line.slice(0, 80))}`));
        return;
      }
      this.partial.push(line);
      if (m[2] === '-') continue;
      const reply = parseReplyLines(this.partial);
      this.partial = [];
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve(reply);
      else this.replies.push(reply);
    }
    if (this.buffer.length > MAX_LINE) {
      this.#fail(new MtaStsError('mx-protocol-error', `${this.mx} sent a reply line longer than ${MAX_LINE} octets`));
    }
  }

  #fail(err) {
    if (this.closed) return;
    this.closed = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
    for (const w of this.drainWaiters) w.reject(err);
    this.drainWaiters.clear();
    this.socket.destroy();
  }

  /** The next reply, within `ms` milliseconds. */
  #nextReply(ms, what) {
    if (this.replies.length) return Promise.resolve(this.replies.shift());
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(new MtaStsError('mx-timeout', `${this.mx} did not answer ${what} within ${Math.round(ms / 1000)} s`));
      }, ms);
      const done = (fn) => (v) => {
        clearTimeout(timer);
        fn(v);
      };
      this.waiters.push({ resolve: done(resolve), reject: done(reject) });
    });
  }

  /** Sends one command line and waits for its reply. */
  async command(line, { timeout = this.timeouts.command, what = line.split(' ')[0] } = {}) {
    if (this.closed) throw this.closed;
    // RFC 5321 §2.3.8: a command line ends with CRLF and holds no other line break (no injection).
    if (/[\r\n]/.test(line)) throw new MtaStsError('invalid-argument', 'an smtp command must not contain a line break');
    this.socket.write(`${line}\r\n`);
    return this.#nextReply(timeout, what);
  }

  /**
   * EHLO (the connection is fresh after STARTTLS, RFC 3207 §4.2, so capabilities are asked again).
   * Falls back to HELO when EHLO is refused with 5xx (RFC 5321 §4.1.4).
   */
  async ehlo() {
    const reply = await this.command(`EHLO ${this.heloName}`, { what: 'EHLO' });
    this.capabilities = new Map();
    if (reply.code === 250) {
      for (const line of reply.lines.slice(1)) {
        const [keyword, ...params] = line.trim().split(/\s+/);
        if (keyword) this.capabilities.set(keyword.toUpperCase(), params);
      }
      return reply;
    }
    if (reply.code >= 500) return this.command(`HELO ${this.heloName}`, { what: 'HELO' });
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
    return this.command(['MAIL FROM:<' + reversePath + '>', ...params].join(' '), { what: 'MAIL FROM' });
  }

  rcpt(forwardPath) {
    return this.command(`RCPT TO:<${forwardPath}>`, { what: 'RCPT TO' });
  }

  /**
   * DATA: sends the command and, on 354, `header` (a trace header, may be empty) followed by every
   * chunk of `body` dot-stuffed, then the end-of-data line. Returns the MX's final reply, or the
   * reply to DATA when it was not 354 (`phase` says which: 'end' or 'data').
   *
   * `body` is an async iterable of Buffers. When it throws (the local MTA went away) the connection
   * is destroyed before the end-of-data line is sent, so the MX never accepts a partial message.
   * `check(bytesSoFar)` may throw to abort the same way (e.g. the message grew past the SIZE limit).
   * `beforeEnd()` is awaited once the body is complete, before the end-of-data line: false withholds
   * it (the connection is closed, so the MX drops the message; `phase: 'withheld'`), and a throw
   * aborts as above (the delivery journal, delivery-journal.js).
   */
  async data(body, { header = '', check, beforeEnd } = {}) {
    const start = await this.command('DATA');
    if (start.code !== 354) return { ...start, phase: 'data' };
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
    await this.#write(stuffer.end());
    return { ...(await this.#nextReply(this.timeouts.dataEnd, 'the end of DATA')), phase: 'end' };
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
      if (rset) await this.command('RSET', { timeout: 10_000 });
      await this.command('QUIT', { timeout: 10_000 });
    } catch {
      // the MX going away during QUIT changes nothing
    }
    this.close();
  }

  /** Closes at once (no QUIT). */
  close() {
    this.#fail(new MtaStsError('mx-connection-lost', `connection to ${this.mx} closed by the relay`));
  }

  /** Aborts at once: the MX sees the connection reset (used mid-DATA: nothing ends the message). */
  destroy(reason = 'aborted by the relay') {
    this.#fail(new MtaStsError('mx-data-aborted', `connection to ${this.mx} ${reason}`));
  }
}
