// A TCP connection to one numeric address of an MX host, with a time limit: the first step of
// every SMTP session this host opens (connectMx and probeMx).

import net from 'node:net';
import { discard } from './starttls.js';

/** `127.0.0.1:25`, `[::1]:25`: an address and port as people write them. */
export const addressText = (address, port) => (net.isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`);

/**
 * TCP connect with a time limit. Resolves (never rejects) with { socket } or
 * { error: { code: 'mx-connect-failed' | 'mx-timeout', message, detail?, temporary } }; on an
 * error the socket is destroyed. No listener or timer of this function stays behind.
 * @param {string} address a numeric IPv4 or IPv6 address
 * @param {number} port
 * @param {number} timeout ms
 */
export function connectTcp(address, port, timeout) {
  return new Promise((resolve) => {
    // A numeric address: no name is looked up, by the OS or anyone.
    const socket = net.connect({ host: address, port });
    let timer = null;
    const finish = (result) => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      if (result.error) discard(socket);
      resolve(result);
    };
    function onConnect() {
      finish({ socket });
    }
    function onError(err) {
      const detail = err.code ?? err.message;
      finish({
        error: {
          code: 'mx-connect-failed',
          message: `tcp connect to ${addressText(address, port)} failed: ${detail}`,
          detail,
          temporary: true,
        },
      });
    }
    timer = setTimeout(() => {
      finish({
        error: {
          code: 'mx-timeout',
          message: `tcp connect to ${addressText(address, port)} took longer than ${timeout} ms`,
          temporary: true,
        },
      });
    }, timeout);
    socket.on('connect', onConnect);
    socket.on('error', onError);
  });
}
