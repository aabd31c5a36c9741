// A TCP connection to one numeric address of an MX host, with a time limit: the first step of
// every SMTP session this host opens (connectMx and probeMx) — by node:net, or by the caller's
// connect hook (a SOCKS client, an HTTP CONNECT proxy: the host opens the socket).

import net from 'node:net';
import { discard } from './starttls.js';

/** `127.0.0.1:25`, `[::1]:25`: an address and port as people write them. */
export const addressText = (address, port) => (net.isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`);

const failed = (address, port, detail) => ({
  error: { code: 'mx-connect-failed', message: `tcp connect to ${addressText(address, port)} failed: ${detail}`, detail, temporary: true },
});
const timedOut = (address, port, timeout) => ({
  error: { code: 'mx-timeout', message: `tcp connect to ${addressText(address, port)} took longer than ${timeout} ms`, temporary: true },
});

/**
 * Waits until `socket` is connected, with a time limit. Resolves (never rejects) with { socket }
 * or { error: { code: 'mx-connect-failed' | 'mx-timeout', message, detail?, temporary } }; on an
 * error the socket is destroyed. No listener or timer of this function stays behind.
 */
function settle(socket, address, port, timeout) {
  return new Promise((resolve) => {
    let timer = null;
    const finish = (result) => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (result.error) discard(socket);
      resolve(result);
    };
    function onConnect() {
      finish({ socket });
    }
    function onError(err) {
      finish(failed(address, port, err.code ?? err.message));
    }
    function onClose() {
      finish(failed(address, port, 'the connection closed before it was up'));
    }
    if (socket.destroyed) return finish(failed(address, port, 'the socket was already closed'));
    // Only a socket still connecting is waited for: one already up (a hook that waited for its
    // proxy, a Duplex of a SOCKS client) is used as it is.
    if (socket.connecting !== true) return finish({ socket });
    timer = setTimeout(() => finish(timedOut(address, port, timeout)), timeout);
    socket.on('connect', onConnect);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}

/**
 * TCP connect with a time limit, from `localAddress` when given (the core chose it for the
 * target's family). Resolves (never rejects) as settle() does.
 * @param {{ address: string, port: number, timeout: number, localAddress?: string }} target
 *   a numeric IPv4 or IPv6 address; timeout in ms
 */
export function connectTcp({ address, port, timeout, localAddress }) {
  // A numeric address: no name is looked up, by the OS or anyone.
  let socket;
  try {
    socket = net.connect({ host: address, port, ...(localAddress ? { localAddress } : {}) });
  } catch (err) {
    return Promise.resolve(failed(address, port, err.code ?? err.message));
  }
  return settle(socket, address, port, timeout);
}

/**
 * The caller's connect hook opens the connection: `hook({ host, address, port, localAddress,
 * timeout, signal })` returns a socket (connected or connecting) or a Promise of one. What it
 * throws or rejects with, or a value that is no socket, is a failed connect of that address (the
 * core moves on to the next); the time limit holds for the hook too. Resolves as settle() does.
 */
export function connectThrough(hook, target) {
  const { address, port, timeout } = target;
  const started = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      resolve(timedOut(address, port, timeout));
    }, timeout);
    Promise.resolve()
      .then(() => hook({ ...target }))
      .then(
        (socket) => {
          if (done) return discard(isSocket(socket) ? socket : null); // too late: nobody uses it
          clearTimeout(timer);
          done = true;
          if (!isSocket(socket)) return resolve(failed(address, port, 'the connect hook returned no socket'));
          const left = Math.max(1, timeout - (performance.now() - started));
          settle(socket, address, port, left).then(resolve);
        },
        (err) => {
          if (done) return;
          clearTimeout(timer);
          done = true;
          resolve(failed(address, port, `connect hook: ${err?.code ?? err?.message ?? String(err)}`));
        },
      );
  });
}

const isSocket = (s) => s != null && typeof s.write === 'function' && typeof s.on === 'function' && typeof s.destroy === 'function';
