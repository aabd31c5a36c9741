// The fault matrix's parts, shared by relay-faults.test.mjs (Postfix in front of the relay) and
// relay-exim-faults.test.mjs (Exim in front): which recipients the MX refuses, a TCP proxy in front
// of the MX that misbehaves, and the relay as a CLI process that is SIGKILLed and restarted at random.
// Not a test file itself. Every random choice comes from the caller's seeded `random`.

import net from 'node:net';
import { spawn } from 'node:child_process';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** What message k is sent to: a fixed fraction gets the MX's 550, 451 or 421 (while faults last). */
export function recipientOf(k, domains) {
  const domain = domains[k % domains.length];
  if (k % 20 === 0) return `bounce@${domain}`;
  if (k % 20 === 7) return `tempfail@${domain}`;
  if (k % 20 === 13) return `closing@${domain}`;
  return `user${k}@${domain}`;
}

/** The receiving Postfix's check_recipient_access map while faults last, and after. */
export const FAULT_MAP = '/^bounce@/ 550 5.1.1 no such user (fault)\n/^tempfail@/ 451 4.3.0 try again later (fault)\n/^closing@/ 421 4.3.2 closing (fault)\n';
export const CLEAN_MAP = '/^bounce@/ 550 5.1.1 no such user (fault)\n';

/**
 * A TCP proxy in front of the MX that misbehaves while `state.faulty` is set: refuses 10 % of the
 * connections, sends 15 % to the port with the untrusted certificate, cuts 20 % after a random number
 * of bytes (up to 7000, so also in the middle of DATA).
 */
export async function startFaultProxy({ valid, untrusted, random }) {
  const state = { faulty: true, counts: { clean: 0, refused: 0, tls: 0, cut: 0 } };
  const sockets = new Set();
  const onConnection = (client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    const r = state.faulty ? random() : 1;
    if (r < 0.1) {
      state.counts.refused += 1;
      client.destroy();
      return;
    }
    const tls = r < 0.25;
    const cutAfter = r >= 0.25 && r < 0.45 ? 1 + Math.floor(random() * 7000) : Infinity;
    state.counts[tls ? 'tls' : cutAfter < Infinity ? 'cut' : 'clean'] += 1;
    const server = net.connect(tls ? untrusted : valid, '127.0.0.1');
    sockets.add(server);
    server.on('close', () => sockets.delete(server));
    server.on('error', () => client.destroy());
    client.on('close', () => server.destroy());
    server.on('close', () => client.destroy());
    let seen = 0;
    client.on('data', (chunk) => {
      seen += chunk.length;
      // Cut before forwarding the chunk that crosses the limit: the MX never sees it.
      if (seen >= cutAfter) {
        client.destroy();
        server.destroy();
        return;
      }
      server.write(chunk);
    });
    server.pipe(client);
  };
  const servers = [net.createServer(onConnection)];
  await new Promise((resolve, reject) => {
    servers[0].once('error', reject);
    servers[0].listen(0, '127.0.0.1', resolve);
  });
  const port = servers[0].address().port;
  const v6 = net.createServer(onConnection);
  await new Promise((resolve) => {
    v6.once('error', () => resolve());
    v6.listen(port, '::1', () => {
      servers.push(v6);
      resolve();
    });
  });
  return {
    port,
    state,
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

/**
 * The relay CLI as a child process (`node <args>`) listening on 127.0.0.1:`port`.
 *   start() spawns it; up() waits until it accepts connections; killer(random) SIGKILLs and restarts
 *   it every 0.4-1.6 s until the returned stop() (which resolves once it is up again); close()
 *   SIGTERMs it. `kills` counts the SIGKILLs.
 */
export function relayProcess({ args, port }) {
  let child = null;
  const p = {
    kills: 0,
    start() {
      child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'ignore'] });
      return child;
    },
    async up() {
      for (let i = 0; i < 200; i++) {
        const ok = await new Promise((resolve) => {
          const s = net.connect(port, '127.0.0.1');
          s.once('connect', () => (s.destroy(), resolve(true)));
          s.once('error', () => resolve(false));
        });
        if (ok) return;
        await sleep(50);
      }
      throw new Error('the relay did not come up');
    },
    killer(random) {
      let killing = true;
      const done = (async () => {
        while (killing) {
          await sleep(400 + random() * 1200);
          if (!killing) break;
          const c = child;
          const exited = new Promise((r) => c.once('exit', r));
          c.kill('SIGKILL');
          p.kills += 1;
          await exited;
          await sleep(random() * 300);
          p.start();
          await p.up();
        }
      })();
      return {
        async stop() {
          killing = false;
          await done;
          await p.up();
        },
      };
    },
    async close() {
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
  return p;
}
