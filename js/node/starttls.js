// The TLS transport after STARTTLS: Node's native TLS over the dialled socket, with its own trust
// decision switched off, and the certificate chain the peer presented, for the core to judge
// (RFC 8461 §4.2). Why native TLS and not rustls in wasm: DESIGN.md, "Where TLS happens".

import tls from 'node:tls';

const ignore = () => {};

/**
 * Destroys a socket given up on. A write still in flight (EPIPE, ECONNRESET) may yet report an
 * error; it is of no interest any more and must not become an unhandled 'error' event.
 */
export function discard(socket) {
  if (!socket) return;
  socket.on('error', ignore);
  socket.destroy();
}

/**
 * Runs the TLS handshake over `socket` (paused, right after the server's 220 to STARTTLS).
 * Resolves (never rejects) with { ok: true, socket: TLSSocket } or { ok: false, detail }; on
 * failure both sockets are destroyed. No listener or timer of this function stays behind.
 * @param {import('node:net').Socket} socket
 * @param {string} servername the MX host name dialled: sent as SNI
 * @param {number} timeout ms allowed for the handshake
 */
export function upgradeToTls(socket, servername, timeout) {
  return new Promise((resolve) => {
    let secure;
    try {
      secure = tls.connect({
        socket,
        servername,
        // Spec: TLS 1.2 or later (RFC 8996 deprecates TLS 1.0 and 1.1); an older-only MX fails here.
        minVersion: 'TLSv1.2',
        // The core decides on the chain (below); Node's own verdict is not used.
        rejectUnauthorized: false,
      });
    } catch (err) {
      discard(socket);
      resolve({ ok: false, detail: err.code ?? err.message });
      return;
    }
    let timer = null;
    const finish = (result) => {
      clearTimeout(timer);
      secure.off('secureConnect', onSecure);
      secure.off('error', onError);
      secure.off('close', onClose);
      if (!result.ok) {
        discard(secure);
        discard(socket);
      }
      resolve(result);
    };
    function onSecure() {
      finish({ ok: true, socket: secure });
    }
    function onError(err) {
      finish({ ok: false, detail: err.code ?? err.message });
    }
    function onClose() {
      finish({ ok: false, detail: 'the connection closed during the TLS handshake' });
    }
    timer = setTimeout(() => finish({ ok: false, detail: `no TLS handshake within ${timeout} ms` }), timeout);
    secure.on('secureConnect', onSecure);
    secure.on('error', onError);
    secure.on('close', onClose);
  });
}

/**
 * The peer's certificates as DER, the leaf first, following `issuerCertificate` (the order Node
 * rebuilt from what the peer sent; the core accepts the rest in any order). Stops at a self-issued
 * certificate (Node links a root to itself) or at any certificate already seen.
 * @param {import('node:tls').TLSSocket} socket
 * @returns {Buffer[]}
 */
export function peerChain(socket) {
  const chain = [];
  const seen = new Set();
  let cert = socket.getPeerCertificate(true);
  while (cert && cert.raw && !seen.has(cert)) {
    seen.add(cert);
    chain.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  return chain;
}
