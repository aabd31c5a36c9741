// A scripted hostile HTTPS policy host for the policy-host half of the hostile-peer matrix
// (hostile-policy-host.test.mjs): TLS on loopback with a valid certificate for the name asked
// (SNI), then raw HTTP/1.x bytes written by hand, so that it can lie in ways node:http would not
// let a server lie. Not a test file itself.
//
//   const host = await startHostilePolicyHost({ certFor });  // certFor(name) → { keyPem, chainPem }
//   host.act = 'trickle-body';            // the behaviour of the next requests (BEHAVIOURS)
//   host.requests, host.bytesSent, host.open (connections now open); await host.close()

import tls from 'node:tls';
import { gzipSync } from 'node:zlib';

export const POLICY = 'version: STSv1\nmode: enforce\nmx: mx1.policy-host.test\nmax_age: 86400\n';
const CRLF = '\r\n';

const head = (status, headers) => `HTTP/1.1 ${status}${CRLF}${headers.map((h) => `${h}${CRLF}`).join('')}${CRLF}`;

/**
 * The behaviours: name → (socket, { write, every }) that answers one request. `write` counts bytes;
 * `every(ms, fn)` repeats fn until the socket closes (fn returns false to stop).
 */
export const BEHAVIOURS = {
  // A well-behaved answer, to show the host works.
  good: (s, { write }) => write(head('200 OK', ['Content-Type: text/plain', `Content-Length: ${POLICY.length}`, 'Connection: close']) + POLICY, true),
  // Headers at once, then the body one byte a second (the overall timer must end it).
  'trickle-body': (s, { write, every }) => {
    write(head('200 OK', ['Content-Type: text/plain', `Content-Length: ${POLICY.length}`]));
    let i = 0;
    every(1000, () => i < POLICY.length && write(POLICY[i++]));
  },
  // The status line itself one byte a second.
  'trickle-headers': (s, { write, every }) => {
    const text = head('200 OK', ['Content-Type: text/plain', `Content-Length: ${POLICY.length}`]) + POLICY;
    let i = 0;
    every(1000, () => i < text.length && write(text[i++]));
  },
  // Content-Length says more than comes, then the connection closes.
  'length-more': (s, { write }) => write(head('200 OK', ['Content-Type: text/plain', `Content-Length: ${POLICY.length + 100}`]) + POLICY, true),
  // Content-Length says less than comes: the body ends inside "max_age", the rest is extra bytes.
  'length-less': (s, { write }) => write(head('200 OK', ['Content-Type: text/plain', `Content-Length: ${POLICY.indexOf('max_age') + 5}`, 'Connection: close']) + POLICY + 'extra: bytes\n', true),
  // A Content-Length far over the 64 KiB cap (nothing behind it).
  'length-huge': (s, { write }) => write(head('200 OK', ['Content-Type: text/plain', 'Content-Length: 1000000000'])),
  // Two Content-Length headers that disagree (RFC 9112 §6.3: an unrecoverable error).
  'length-twice': (s, { write }) => write(head('200 OK', ['Content-Type: text/plain', `Content-Length: ${POLICY.length}`, `Content-Length: ${POLICY.length - 10}`]) + POLICY, true),
  // gzip bytes, announced as such (the client asked for no encoding) or not.
  'gzip-announced': (s, { write }) => {
    const body = gzipSync(POLICY);
    write(head('200 OK', ['Content-Type: text/plain', 'Content-Encoding: gzip', `Content-Length: ${body.length}`, 'Connection: close']), false);
    write(body, true);
  },
  'gzip-unannounced': (s, { write }) => {
    const body = gzipSync(POLICY);
    write(head('200 OK', ['Content-Type: text/plain', `Content-Length: ${body.length}`, 'Connection: close']), false);
    write(body, true);
  },
  // A UTF-8 byte order mark before the policy.
  bom: (s, { write }) => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(POLICY)]);
    write(head('200 OK', ['Content-Type: text/plain', `Content-Length: ${body.length}`, 'Connection: close']), false);
    write(body, true);
  },
  // NUL bytes inside the policy.
  nul: (s, { write }) => {
    const body = POLICY.replace('mode: enforce', 'mode: enforce\0\0');
    write(head('200 OK', ['Content-Type: text/plain', `Content-Length: ${body.length}`, 'Connection: close']) + body, true);
  },
  // Headers that never end: one header line, then silence.
  'headers-never-end': (s, { write }) => write(`HTTP/1.1 200 OK${CRLF}Content-Type: text/plain${CRLF}`),
  // Headers without end: a new header line every millisecond-ish, as fast as the client reads.
  'headers-endless': (s, { write, every }) => {
    write(`HTTP/1.1 200 OK${CRLF}`);
    let i = 0;
    every(1, () => write(`X-Filler-${i++}: ${'h'.repeat(200)}${CRLF}`.repeat(20)));
  },
  // A chunked body that never ends (1 KiB chunks, as fast as the client reads).
  'chunked-forever': (s, { write, every }) => {
    write(head('200 OK', ['Content-Type: text/plain', 'Transfer-Encoding: chunked']));
    write(`${POLICY.length.toString(16)}${CRLF}${POLICY}${CRLF}`);
    const chunk = `400${CRLF}${`x-filler: ${'f'.repeat(1013)}\n`}${CRLF}`;
    every(1, () => write(chunk.repeat(16)));
  },
  // A redirect to itself (RFC 8461 §3.3: redirects MUST NOT be followed).
  'redirect-loop': (s, { write, req }) => write(head('301 Moved Permanently', [`Location: https://${req.host}/.well-known/mta-sts.txt`, 'Content-Length: 0', 'Connection: close']), true),
  // Headers and half the body, then a TCP reset.
  'reset-mid-body': (s, { write, reset }) => {
    write(head('200 OK', ['Content-Type: text/plain', `Content-Length: ${POLICY.length}`]) + POLICY.slice(0, 20));
    setTimeout(reset, 50);
  },
  // 200 and its headers, then a reset before any body.
  'reset-after-headers': (s, { write, reset }) => {
    write(head('200 OK', ['Content-Type: text/plain', `Content-Length: ${POLICY.length}`]));
    setTimeout(reset, 50);
  },
  // HTTP/1.0, no length: the body ends when the connection does (RFC 9112 §6.3): a valid answer.
  'http10-no-length': (s, { write }) => write(`HTTP/1.0 200 OK${CRLF}Content-Type: text/plain${CRLF}${CRLF}${POLICY}`, true),
  // Another media type.
  'text-html': (s, { write }) => write(head('200 OK', ['Content-Type: text/html', `Content-Length: ${POLICY.length}`, 'Connection: close']) + POLICY, true),
  'no-content-type': (s, { write }) => write(head('200 OK', [`Content-Length: ${POLICY.length}`, 'Connection: close']) + POLICY, true),
  // Not HTTP at all.
  garbage: (s, { write }) => write('SSH-2.0-OpenSSH_9.2\r\n\0\0\0\xff', true),
  // Nothing after the TLS handshake.
  silent: () => {},
};

export async function startHostilePolicyHost({ certFor }) {
  const state = { act: 'good', requests: 0, bytesSent: 0, open: 0 };
  const sockets = new Set();
  const contexts = new Map();
  const context = (name) => {
    if (!contexts.has(name)) {
      const c = certFor(name);
      contexts.set(name, tls.createSecureContext({ key: c.keyPem, cert: c.chainPem, minVersion: 'TLSv1.2' }));
    }
    return contexts.get(name);
  };
  const server = tls.createServer({ SNICallback: (name, cb) => cb(null, context(name)), minVersion: 'TLSv1.2' }, (socket) => {
    sockets.add(socket);
    state.open += 1;
    const timers = new Set();
    socket.on('close', () => {
      sockets.delete(socket);
      state.open -= 1;
      for (const t of timers) clearInterval(t);
    });
    socket.on('error', () => {});
    let buffer = '';
    let answered = false;
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      if (answered || !buffer.includes('\r\n\r\n')) return;
      answered = true;
      state.requests += 1;
      const host = /\r\nhost: ([^\r\n:]+)/i.exec(buffer)?.[1] ?? socket.servername;
      const write = (data, end = false) => {
        if (socket.destroyed) return false;
        const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
        state.bytesSent += bytes.length;
        if (end) socket.end(bytes);
        else socket.write(bytes);
        return true;
      };
      // Repeats fn every `ms` while the client reads (backpressure) and the socket lives.
      const every = (ms, fn) => {
        const t = setInterval(() => {
          if (socket.destroyed || socket.writableNeedDrain) return;
          if (fn() === false) {
            clearInterval(t);
            timers.delete(t);
          }
        }, ms);
        timers.add(t);
      };
      const reset = () => {
        try {
          socket.resetAndDestroy(); // a TCP RST where Node can send one
        } catch {
          socket.destroy();
        }
      };
      BEHAVIOURS[state.act](socket, { write, every, reset, req: { host } });
    });
  });
  server.on('tlsClientError', () => {});
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    get act() {
      return state.act;
    },
    set act(a) {
      if (!BEHAVIOURS[a]) throw new Error(`no behaviour ${a}`);
      state.act = a;
    },
    get requests() {
      return state.requests;
    },
    get bytesSent() {
      return state.bytesSent;
    },
    get open() {
      return state.open;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
