// An MX that greets, reads the client's EHLO and hangs up without answering it: a behaviour Postfix
// cannot be configured into, so the lab fakes it with a few lines of node:net. A sender must treat it
// as an unreachable MX (the core's SMTP dialogue reports `smtp-closed`), never as "no STARTTLS".

import net from 'node:net';

/**
 * Listens on `port` of every address in `hosts` (loopback). Resolves to { port, connections, close() };
 * `connections` counts the sessions it hung up on.
 */
export async function startClosingMx({ hosts = ['127.0.0.1'], port, banner = 'mx.lab.test ESMTP' } = {}) {
  const sockets = new Set();
  const state = { connections: 0 };
  const servers = hosts.map(() =>
    net.createServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      socket.write(`220 ${banner}\r\n`);
      let seen = '';
      socket.on('data', (chunk) => {
        seen += chunk.toString('latin1');
        // RFC 5321 §4.1.1.1: the EHLO line ends with CRLF; close once it is complete, unanswered.
        if (seen.includes('\n')) {
          state.connections += 1;
          socket.destroy();
        }
      });
    }),
  );
  // One port on every address: the first listen picks it when `port` is 0.
  for (const [i, server] of servers.entries()) {
    const p = i === 0 ? port ?? 0 : servers[0].address().port;
    try {
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(p, hosts[i], resolve);
      });
    } catch (err) {
      await Promise.all(servers.slice(0, i).map((s) => new Promise((r) => s.close(r))));
      throw err;
    }
  }
  return {
    port: servers[0].address().port,
    get connections() {
      return state.connections;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((server) => new Promise((r) => server.close(r))));
    },
  };
}
