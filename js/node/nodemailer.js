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
