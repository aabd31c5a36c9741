// A hostile MX for the hostile-peer matrix (hostile-mx.test.mjs): a working SMTP server with
// STARTTLS on loopback (127.0.0.1 and ::1, one port) that misbehaves at one chosen step of the
// dialogue. Not a test file itself.
//
//   const mx = await startHostileMx({ cert, fault: { at: 'rcpt', act: 'close' } });
//   mx.port, mx.messages [{ from, to, data }], mx.sessions, await mx.close()
//
// fault.at — the step where it misbehaves instead of answering:
//   connect (before the greeting), greeting, ehlo, starttls (the STARTTLS command), handshake
//   (after its 220: instead of TLS), ehlo2 (EHLO over TLS), mail, rcpt, data (the DATA command),
//   body (the first line of the message), dot (the final ".")
// fault.act — what it does there:
//   close      closes the connection
//   stall      says nothing, keeps the connection open
//   endless    streams "250-" lines forever (a multi-line reply that never ends)
//   garbage    writes bytes that are neither SMTP nor TLS
//   reply      writes fault.text (e.g. '451 4.3.0 try later', '550 5.7.1 no', '250 ok' to DATA)
//   reply-close  writes fault.text, then closes
// cert: { keyPem, chainPem } after STARTTLS; extraChain: PEM certificates appended to the chain.

import tls from 'node:tls';
import { listenDualStack } from './loopback-listen.mjs';

const CRLF = '\r\n';

export async function startHostileMx({ cert, extraChain = [], fault = null }) {
  const state = { messages: [], sessions: 0 };
  const sockets = new Set();
  const context = tls.createSecureContext({ key: cert.keyPem, cert: cert.chainPem + extraChain.join('') });
  const endless = new Set();

  function session(raw) {
    state.sessions += 1;
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    raw.on('error', () => {});
    let socket = raw;
    let secure = false;
    let buffer = '';
    let data = null;
    let envelope = { from: null, to: [] };
    let deaf = false;
    const reply = (text) => socket.write(text + CRLF);

    // True when the fault is at `step`: it has been acted out and the normal reply is skipped.
    const faulted = (step) => {
      if (!fault || fault.at !== step) return false;
      switch (fault.act) {
        case 'close':
          socket.destroy();
          break;
        case 'stall':
          break;
        case 'endless': {
          const timer = setInterval(() => {
            if (socket.destroyed) return clearInterval(timer);
            if (socket.writableLength < 1 << 20) socket.write(`250-${'x'.repeat(70)}${CRLF}`.repeat(200));
          }, 5);
          endless.add(timer);
          break;
        }
        case 'garbage':
          socket.write(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0, 1, 2, 3, 0x0d, 0x0a, 0xfe]));
          break;
        case 'reply':
          reply(fault.text);
          break;
        case 'reply-close':
          socket.end(fault.text + CRLF);
          break;
        default:
          throw new Error(`unknown fault act ${fault.act}`);
      }
      return true;
    };

    const onLine = (line) => {
      if (deaf) return;
      if (data !== null) {
        if (line === '.') {
          if (faulted('dot')) return;
          state.messages.push({ ...envelope, data: data.join('\n') });
          data = null;
          envelope = { from: null, to: [] };
          reply('250 2.0.0 queued');
        } else {
          if (data.length === 0 && faulted('body')) {
            deaf = true; // whatever comes next is not read at all
            return;
          }
          data.push(line.startsWith('..') ? line.slice(1) : line);
        }
        return;
      }
      const verb = line.split(' ')[0].toUpperCase();
      if (verb === 'EHLO' || verb === 'HELO') {
        if (faulted(secure ? 'ehlo2' : 'ehlo')) return;
        const lines = ['mx.hostile.test', 'PIPELINING', ...(secure ? [] : ['STARTTLS'])];
        socket.write(lines.map((l, i) => `250${i === lines.length - 1 ? ' ' : '-'}${l}`).join(CRLF) + CRLF);
      } else if (verb === 'STARTTLS' && !secure) {
        if (faulted('starttls')) return;
        reply('220 2.0.0 ready to start TLS');
        if (faulted('handshake')) {
          raw.off('data', onData);
          return;
        }
        upgrade();
      } else if (verb === 'MAIL') {
        if (faulted('mail')) return;
        envelope.from = line.slice(line.indexOf(':') + 1).trim();
        reply('250 2.1.0 ok');
      } else if (verb === 'RCPT') {
        if (faulted('rcpt')) return;
        envelope.to.push(line.slice(line.indexOf(':') + 1).trim());
        reply('250 2.1.5 ok');
      } else if (verb === 'DATA') {
        if (faulted('data')) return;
        data = [];
        reply('354 go ahead');
      } else if (verb === 'QUIT') {
        reply('221 2.0.0 bye');
        socket.end();
      } else if (verb === 'RSET' || verb === 'NOOP') {
        reply('250 2.0.0 ok');
      } else {
        reply('502 5.5.2 not implemented');
      }
    };

    const onData = (chunk) => {
      buffer += chunk.toString('latin1');
      let i;
      while ((i = buffer.indexOf(CRLF)) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        onLine(line);
      }
    };

    function upgrade() {
      raw.off('data', onData);
      buffer = '';
      const secured = new tls.TLSSocket(raw, { isServer: true, secureContext: context });
      secured.on('error', () => raw.destroy());
      secured.on('secure', () => {
        secure = true;
        socket = secured;
        secured.on('data', onData);
      });
    }

    raw.on('data', onData);
    if (faulted('connect')) return;
    if (fault?.at === 'greeting') {
      faulted('greeting');
      return;
    }
    reply('220 mx.hostile.test ESMTP');
  }

  const { port, servers, dualStack } = await listenDualStack(session);
  return {
    port,
    dualStack,
    messages: state.messages,
    get sessions() {
      return state.sessions;
    },
    async close() {
      for (const t of endless) clearInterval(t);
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((srv) => new Promise((r) => srv.close(r))));
    },
  };
}
