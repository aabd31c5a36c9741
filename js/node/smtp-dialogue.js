// The SMTP dialogue up to STARTTLS over a connected `net.Socket`, driven by the core's SmtpStartTls
// (RFC 5321 §3.1, §4.1.1.1; RFC 3207). This file only moves bytes and keeps time: every reading of a
// reply, and every failure code of the dialogue, is the core's.

import { SmtpStartTls } from '../core.js';

/**
 * Runs the dialogue on `socket` (connected, nothing read from it yet).
 *
 * Every chunk received is handed to the core whole, and reading stops in the same 'data' event
 * that completes the server's 220 to STARTTLS: RFC 3207 §4.2 / §6: bytes after that 220 and
 * before TLS must not be read as SMTP. If they came in that chunk the core fails the dialogue
 * (`smtp-data-before-tls`); if they come later they stay in the socket for TLS, which rejects them.
 *
 * Resolves (never rejects) with one of
 *   { step: 'starttls', extensions }   the socket is paused, ready for tls.connect({ socket })
 *   { step: 'plain', extensions }      no STARTTLS; EHLO (or HELO) was answered; socket paused
 *   { step: 'failed', error: { code, message, tlsrpt, temporary, detail? } }
 * and leaves no listener or timer of its own on the socket. On 'failed' the caller destroys it.
 *
 * Backpressure: each command is a few bytes and the next one is written only after the server has
 * answered the previous one, so the write queue never holds more than one command.
 *
 * @param {import('node:net').Socket} socket
 * @param {string} heloName the EHLO/HELO name (checked by the core)
 * @param {{ replyTimeout: number }} options ms allowed for each reply (greeting, EHLO, STARTTLS)
 */
export function startTlsDialogue(socket, heloName, { replyTimeout }) {
  return new Promise((resolve) => {
    const dialogue = new SmtpStartTls(heloName);
    let timer = null;
    let waitingFor = 'the greeting';
    let socketError = null;
    let settled = false;

    const finish = (outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.pause();
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      dialogue.free();
      if (outcome.step === 'failed' && socketError) {
        outcome.error = { ...outcome.error, detail: socketError.code ?? socketError.message };
      }
      resolve(outcome);
    };

    // Each reply has its own deadline, so a server that trickles bytes cannot hold the dialogue.
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        finish({
          step: 'failed',
          error: {
            code: 'mx-timeout',
            message: `no complete reply within ${replyTimeout} ms while waiting for ${waitingFor}`,
            temporary: true,
          },
        });
      }, replyTimeout);
    };

    const advance = () => {
      while (!settled) {
        const step = dialogue.poll();
        if (step.step === 'send') {
          waitingFor = `the reply to ${step.data.trim().split(' ')[0]}`;
          arm();
          socket.write(step.data);
        } else if (step.step === 'read') {
          return;
        } else {
          finish(step);
        }
      }
    };

    function onData(chunk) {
      dialogue.onData(chunk);
      advance();
    }
    function onEnd() {
      dialogue.onClose();
      advance();
    }
    function onError(err) {
      // A reset or other socket error ends the stream: the core says in which phase (smtp-closed).
      socketError = err;
      onEnd();
    }

    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    arm();
    advance();
  });
}
