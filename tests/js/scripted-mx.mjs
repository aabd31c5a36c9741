// A scripted MX for the connectMx tests: an SMTP server on loopback (127.0.0.1 and, when the
// machine has it, ::1 on the same port) that speaks STARTTLS with a given certificate, or
// misbehaves on purpose. Not a test file itself (node --test runs only *.test.mjs).
//
//   const mx = await startScriptedMx({ cert: lab.certFor('mx1.enforce-valid.test') });
//   mx.port, mx.connections, mx.peers (each client's address), mx.messages [{ from, to, data, secure }],
//   await mx.close()
//
// Behaviour options (all optional):
//   cert           { keyPem, chainPem } served after STARTTLS (required when STARTTLS is offered)
//   starttls       offer STARTTLS in EHLO (default true)
//   greet          send the 220 greeting (default true; false: a server that never speaks)
//   closeAfterEhlo close the connection right after answering EHLO
//   after220       bytes written in the same write as the 220 to STARTTLS (an injection)
//   tls            extra options for the server's TLS (e.g. { maxVersion: 'TLSv1' })

import tls from 'node:tls';
import { listenDualStack } from './loopback-listen.mjs';

const CRLF = '\r\n';

export async function startScriptedMx(options = {}) {
  const { cert, starttls = true, greet = true, closeAfterEhlo = false, after220 = '', tls: tlsOptions = {} } = options;
  const state = { connections: 0, messages: [], tlsSessions: 0, peers: [] };
  const sockets = new Set();
  const context = cert ? tls.createSecureContext({ key: cert.keyPem, cert: cert.chainPem, ...tlsOptions }) : null;

  function session(raw) {
    state.connections += 1;
    state.peers.push(raw.remoteAddress);
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    raw.on('error', () => {});
    let socket = raw;
    let secure = false;
    let buffer = '';
    let data = null;
    let envelope = { from: null, to: [] };
    const reply = (text) => socket.write(text + CRLF);

    const onLine = (line) => {
      if (data !== null) {
        if (line === '.') {
          state.messages.push({ ...envelope, data: data.join('\n'), secure });
          data = null;
          envelope = { from: null, to: [] };
          reply('250 2.0.0 queued');
        } else {
          data.push(line.startsWith('..') ? line.slice(1) : line);
        }
        return;
      }
      const verb = line.split(' ')[0].toUpperCase();
      if (verb === 'EHLO') {
        const keywords = ['PIPELINING', '8BITMIME', ...(starttls && !secure ? ['STARTTLS'] : [])];
        const lines = ['mx.scripted.test', ...keywords];
        socket.write(lines.map((l, i) => `250${i === lines.length - 1 ? ' ' : '-'}${l}`).join(CRLF) + CRLF);
        if (closeAfterEhlo) socket.end();
      } else if (verb === 'HELO') {
        reply('250 mx.scripted.test');
      } else if (verb === 'STARTTLS' && starttls && !secure) {
        socket.write('220 2.0.0 ready to start TLS' + CRLF + after220);
        upgrade();
      } else if (verb === 'MAIL') {
        envelope.from = line.slice(line.indexOf(':') + 1).trim();
        reply('250 2.1.0 ok');
      } else if (verb === 'RCPT') {
        envelope.to.push(line.slice(line.indexOf(':') + 1).trim());
        reply('250 2.1.5 ok');
      } else if (verb === 'DATA') {
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
        state.tlsSessions += 1;
        secure = true;
        socket = secured;
        secured.on('data', onData);
      });
    }

    raw.on('data', onData);
    if (greet) reply('220 mx.scripted.test ESMTP scripted');
  }

  const { port, servers, dualStack } = await listenDualStack(session);

  return {
    port,
    dualStack,
    get connections() {
      return state.connections;
    },
    get tlsSessions() {
      return state.tlsSessions;
    },
    messages: state.messages,
    peers: state.peers,
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((srv) => new Promise((r) => srv.close(r))));
    },
  };
}
