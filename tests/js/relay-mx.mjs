// A scripted MX for the relay tests: one SMTP server on loopback (127.0.0.1 and ::1, one port) that
// serves every lab MX name; after STARTTLS it knows from SNI which domain it plays, and behaves as
// that domain's entry in `behave(domain, {...})` says. Not a test file itself.
//
//   const mx = await startRelayMx(lab);
//   mx.behave('enforce-valid.test', { cert: 'untrusted' | 'valid', rcpt: { 'x@d': '550 5.1.1 no' },
//                                     mailReply, dataReply, closeMidData: true, silentAfterData: true,
//                                     hostile: dataCommandReply '250 ok' (instead of 354), mailRaw
//                                     (bytes written as MAIL's reply, e.g. two replies), endlessEhlo,
//                                     cert: 'fail' (the TLS handshake fails), closeAfterRcpt: true
//                                     (accepts a recipient, then closes) })
//   mx.messages [{ domain, from, mailParams, to, data, secure, servername }], mx.aborted (DATA cut off)
//   await mx.waitFor(() => mx.messages.length === 1); await mx.close()

import tls from 'node:tls';
import { listenDualStack } from './loopback-listen.mjs';

const CRLF = '\r\n';

export async function startRelayMx(lab) {
  const behaviours = new Map();
  const contexts = new Map();
  const state = { messages: [], aborted: 0, sessions: 0, quits: 0, dataLines: 0 };
  const sockets = new Set();
  const waiters = new Set();
  const changed = () => {
    for (const w of waiters) w();
  };

  const domainOf = (servername) => (servername ?? '').replace(/^mx\d*\./, '');
  const behaviourOf = (servername) => behaviours.get(domainOf(servername)) ?? {};

  function contextFor(servername) {
    const kind = behaviourOf(servername).cert ?? 'valid';
    if (kind === 'fail') return null;
    const key = `${kind} ${servername}`;
    if (!contexts.has(key)) {
      const cert = kind === 'untrusted' ? lab.issueCert({ names: [servername], ca: 'untrusted' }) : lab.certFor(servername);
      contexts.set(key, tls.createSecureContext({ key: cert.keyPem, cert: cert.chainPem }));
    }
    return contexts.get(key);
  }

  function session(raw) {
    state.sessions += 1;
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    raw.on('error', () => {});
    let socket = raw;
    let secure = false;
    let servername = null;
    let buffer = '';
    let data = null;
    let envelope = { from: null, mailParams: [], to: [] };
    const reply = (text) => socket.write(text + CRLF);

    const onLine = (line) => {
      const b = behaviourOf(servername);
      if (data !== null) {
        if (line === '.') {
          state.messages.push({ ...envelope, domain: domainOf(servername), data: data.join('\r\n') + '\r\n', secure, servername });
          data = null;
          envelope = { from: null, mailParams: [], to: [] };
          if (!b.silentAfterData) reply(b.dataReply ?? '250 2.0.0 Ok: queued as 4ABC');
          changed();
        } else {
          data.push(line.startsWith('.') ? line.slice(1) : line);
          state.dataLines += 1;
          changed();
          if (b.closeMidData && data.length >= 2) {
            state.aborted += 1;
            socket.destroy();
            raw.destroy();
            changed();
          }
        }
        return;
      }
      const verb = line.split(' ')[0].toUpperCase();
      if (verb === 'EHLO' && b.endlessEhlo && secure) {
        // A hostile MX: 250- lines without end (until the client goes away, or 64 MiB).
        let sent = 0;
        const more = () => {
          while (!socket.destroyed && sent < 64 * 1024 * 1024) {
            const chunk = '250-' + 'X'.repeat(200) + CRLF;
            sent += chunk.length;
            state.endlessBytes = sent;
            if (!socket.write(chunk.repeat(64))) return socket.once('drain', more);
          }
        };
        more();
      } else if (verb === 'EHLO') {
        const keywords = ['PIPELINING', 'SIZE 100000000', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', ...(!secure ? ['STARTTLS'] : [])];
        const lines = ['mx.relay-test.test', ...keywords];
        socket.write(lines.map((l, i) => `250${i === lines.length - 1 ? ' ' : '-'}${l}`).join(CRLF) + CRLF);
      } else if (verb === 'STARTTLS' && !secure) {
        reply('220 2.0.0 ready to start TLS');
        upgrade();
      } else if (verb === 'MAIL') {
        const m = /^MAIL FROM:<([^>]*)>(.*)$/i.exec(line);
        envelope.from = m ? m[1] : null;
        envelope.mailParams = m ? m[2].trim().split(/\s+/).filter(Boolean) : [];
        if (b.mailRaw) socket.write(b.mailRaw);
        else reply(b.mailReply ?? '250 2.1.0 Ok');
      } else if (verb === 'RCPT') {
        const to = /<([^>]*)>/.exec(line)?.[1] ?? '';
        const custom = b.rcpt?.[to];
        if (custom) {
          reply(custom);
        } else {
          envelope.to.push(to);
          reply('250 2.1.5 Ok');
          if (b.closeAfterRcpt) socket.end();
        }
      } else if (verb === 'DATA') {
        if (b.dataCommandReply) return reply(b.dataCommandReply);
        data = [];
        reply('354 End data with <CR><LF>.<CR><LF>');
      } else if (verb === 'QUIT') {
        state.quits += 1;
        reply('221 2.0.0 Bye');
        socket.end();
      } else if (verb === 'RSET' || verb === 'NOOP') {
        envelope = { from: null, mailParams: [], to: [] };
        reply('250 2.0.0 Ok');
      } else {
        reply('502 5.5.2 Error: command not recognized');
      }
    };

    const onData = (chunk) => {
      buffer += chunk.toString('latin1');
      let i;
      while ((i = buffer.indexOf(CRLF)) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        onLine(line);
        if (socket.destroyed) return;
      }
    };

    function upgrade() {
      raw.off('data', onData);
      buffer = '';
      const secured = new tls.TLSSocket(raw, {
        isServer: true,
        SNICallback: (name, cb) => {
          servername = name;
          const context = contextFor(name);
          if (context) cb(null, context);
          else cb(new Error('no certificate for you'));
        },
      });
      secured.on('error', () => raw.destroy());
      secured.on('secure', () => {
        secure = true;
        socket = secured;
        secured.on('data', onData);
      });
    }

    raw.on('data', onData);
    reply('220 mx.relay-test.test ESMTP');
  }

  const { port, servers } = await listenDualStack(session);

  return {
    port,
    messages: state.messages,
    get aborted() {
      return state.aborted;
    },
    get sessions() {
      return state.sessions;
    },
    /** Lines received inside DATA so far (complete messages or not). */
    get dataLines() {
      return state.dataLines;
    },
    /** Bytes of endless EHLO reply written so far. */
    get endlessBytes() {
      return state.endlessBytes ?? 0;
    },
    get openConnections() {
      return sockets.size;
    },
    behave(domain, behaviour) {
      behaviours.set(domain, behaviour);
    },
    /** Resolves once `predicate()` holds (checked on every MX event and every 20 ms). */
    waitFor(predicate) {
      return new Promise((resolve) => {
        const check = () => {
          if (!predicate()) return;
          waiters.delete(check);
          clearInterval(timer);
          resolve();
        };
        const timer = setInterval(check, 20);
        waiters.add(check);
        check();
      });
    },
    /** Closes every open connection (an MX dropping idle clients). */
    drop() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((srv) => new Promise((r) => srv.close(r))));
    },
  };
}
