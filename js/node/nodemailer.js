// nodemailerSocket: plugs connectMx into nodemailer's `getSocket` hook, so a nodemailer transport
// delivers straight to the recipient domain's MX under its MTA-STS policy (RFC 8461 §5).
//
//   const transport = nodemailer.createTransport({
//     host: 'example.com',                       // the RECIPIENT DOMAIN (see below), not a server
//     name: 'relay.example.org',                 // EHLO name (or heloName below)
//     getSocket: nodemailerSocket({ heloName: 'relay.example.org' }),
//   });
//
// nodemailer calls getSocket(transportOptions, callback) without the message, so the recipient
// domain comes from `options.domain`, else from the transport's `host`: one transport (or one
// `domain`) per recipient domain, and every recipient of a message sent through it in that domain.
//
// A recipient of another domain is refused, never sent to this domain's MX: the connection watches
// the RCPT TO commands nodemailer writes on it, asks the core whether each recipient is in the
// domain (RFC 5321 §5.1: the MX is the recipient domain's; RFC 8461 §5: so is the policy), and on
// the first that is not, closes the connection with `recipient-other-domain` before that RCPT
// and before DATA: nothing of the message reaches any server, and sendMail rejects. Routing each
// domain correctly is not possible inside getSocket: nodemailer asks for one socket per message
// (or per pooled connection) without the envelope, and one SMTP connection reaches one MX.

import { checkRecipientDomain } from '../core.js';
import { connectMx } from './connect-mx.js';
import { MtaStsError } from '../error.js';

/**
 * @param {object} [options] connectMx options, plus:
 * @param {string} [options.domain] the recipient domain (default: the transport's `host`)
 * @param {(connection: object) => void} [options.onConnect] sees each connectMx result (verdict,
 *   mx, tls, attempts) before nodemailer uses the socket — e.g. to record TLS-RPT results
 * @returns {(transportOptions: object, callback: Function) => void} for nodemailer's getSocket
 */
export function nodemailerSocket(options = {}) {
  const { domain: fixedDomain, onConnect, ...connectOptions } = options;
  return function getSocket(transportOptions = {}, callback) {
    const domain = fixedDomain ?? transportOptions.host;
    const heloName = connectOptions.heloName ?? transportOptions.name;
    if (typeof domain !== 'string' || domain === '') {
      const err = new MtaStsError('invalid-argument', 'nodemailerSocket needs the recipient domain: options.domain or the transport host');
      setImmediate(callback, err);
      return;
    }
    connectMx(domain, { ...connectOptions, heloName }).then(
      (connection) => {
        try {
          onConnect?.(connection);
        } catch (err) {
          connection.socket.destroy();
          callback(err);
          return;
        }
        guardRecipients(connection.socket, domain);
        const secured = connection.verdict === 'deliver';
        // nodemailer's SMTPConnection waits for a 220 greeting on a socket it is handed. The
        // server's real greeting was read before STARTTLS (or before the plaintext EHLO), so it is
        // replayed locally into the socket's read side; nothing is sent to the server, and
        // nodemailer answers it with the EHLO that RFC 3207 §4.2 requires after TLS.
        connection.socket.unshift(Buffer.from(`220 ${connection.mx.host} ESMTP (greeting replayed by mtasts)\r\n`));
        callback(null, {
          connection: connection.socket,
          // secured: the socket is already TLS (no STARTTLS again); secure: nodemailer treats the
          // session as encrypted (no STARTTLS attempt on the new EHLO answer).
          secured,
          secure: secured,
          name: heloName,
          mtasts: connection,
        });
      },
      (err) => callback(err),
    );
  };
}

const END_OF_DATA = '\r\n.\r\n';

/**
 * Watches the SMTP commands written on `socket` (nodemailer writes each command on its own) and
 * refuses a RCPT TO for a recipient outside `domain` (the core's checkRecipientDomain). The
 * message text between DATA and its final "." (RFC 5321 §4.1.1.4; dot-stuffed, so the
 * terminator cannot occur inside) is not read as commands.
 */
function guardRecipients(socket, domain) {
  const write = socket.write;
  let inData = false;
  let tail = '';
  socket.write = function guardedWrite(chunk, encoding, callback) {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk.buffer ?? chunk, chunk.byteOffset ?? 0, chunk.byteLength ?? chunk.length).toString('latin1');
    if (inData) {
      tail = (tail + text).slice(-END_OF_DATA.length);
      if (tail === END_OF_DATA) inData = false;
      return write.apply(this, arguments);
    }
    for (const line of text.split('\r\n')) {
      const rcpt = /^RCPT TO:<([^>]*)>/i.exec(line);
      if (rcpt) {
        try {
          checkRecipientDomain(Buffer.from(rcpt[1], 'latin1').toString('utf8'), domain);
        } catch (err) {
          refuse(socket, err);
          return false;
        }
      }
      if (/^DATA$/i.test(line)) {
        inData = true;
        tail = '\r\n'; // an empty message ends with ".\r\n" right after the command
      }
    }
    return write.apply(this, arguments);
  };
}

/** Closes the connection with the core's error; nothing more reaches the server. */
function refuse(socket, err) {
  // nodemailer relabels a socket error's `code` as ESOCKET (keeping the old one as originalCode);
  // the core's code stays the error's code, as everywhere else in mtasts.
  const code = err.code;
  Object.defineProperty(err, 'code', { get: () => code, set: () => {}, enumerable: true, configurable: true });
  // nodemailer may write more commands in the same turn (a PIPELINING batch: DATA after the
  // RCPTs); they are swallowed, and the connection is closed with the error once the batch is done
  // (destroyed inside the batch, nodemailer would close it without ever calling back).
  socket.write = (chunk, encoding, callback) => {
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') process.nextTick(done);
    return true;
  };
  setImmediate(() => socket.destroy(err));
}
