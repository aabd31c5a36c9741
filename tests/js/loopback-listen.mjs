// Test helper: one connection handler on an ephemeral port on 127.0.0.1 and, when it can be had,
// the same port on ::1 — the lab's MX names resolve to both, so every attempt meets the server.

import net from 'node:net';

/** @returns {Promise<{ port: number, servers: net.Server[], dualStack: boolean }>} */
export async function listenDualStack(onConnection) {
  const v4 = net.createServer(onConnection);
  await new Promise((resolve, reject) => {
    v4.once('error', reject);
    v4.listen(0, '127.0.0.1', resolve);
  });
  const port = v4.address().port;
  // Without ::1 (or with the port taken there) the ::1 attempts are refused instead.
  const v6 = net.createServer(onConnection);
  const dualStack = await new Promise((resolve) => {
    v6.once('error', () => resolve(false));
    v6.listen(port, '::1', () => resolve(true));
  });
  return { port, servers: dualStack ? [v4, v6] : [v4], dualStack };
}
