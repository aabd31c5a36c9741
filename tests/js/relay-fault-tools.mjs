// The fault matrix's parts, shared by relay-faults.test.mjs (Postfix in front of the relay) and
// relay-exim-faults.test.mjs (Exim in front): which recipients the MX refuses, a TCP proxy in front
// of the MX that misbehaves, and the relay as a CLI process that is SIGKILLed and restarted at random.
// Not a test file itself. Every random choice comes from the caller's seeded `random`.

import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
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

export const HOSTILE = ['data-2xx', 'out-of-step', 'endless', 'silent'];

/**
 * A hostile MX in place of the real one, with a certificate valid for the MX name it is asked
 * for (so the relay gets past STARTTLS and meets the misbehaviour). It never takes a message.
 */
export function hostileMx(client, mode, certFor) {
  let socket = client;
  let secure = false;
  let buffer = '';
  const reply = (text) => socket.write(`${text}\r\n`);
  const onLine = (line) => {
    const verb = line.split(' ')[0].toUpperCase();
    if (verb === 'EHLO' && secure && mode === 'endless') {
      let sent = 0;
      const more = () => {
        while (!socket.destroyed && sent < 1 << 20) {
          sent += 4096;
          if (!socket.write('250-endless\r\n'.repeat(315))) return socket.once('drain', more);
        }
      };
      more();
    } else if (verb === 'EHLO') {
      socket.write(['250-mx.hostile.test', '250-PIPELINING', '250-8BITMIME', ...(secure ? [] : ['250-STARTTLS']), '250 SIZE 100000000'].join('\r\n') + '\r\n');
    } else if (verb === 'STARTTLS' && !secure) {
      reply('220 2.0.0 go ahead');
      client.off('data', onData);
      const secured = new tls.TLSSocket(client, {
        isServer: true,
        SNICallback: (name, cb) => {
          const cert = certFor(name);
          cb(null, tls.createSecureContext({ key: cert.keyPem, cert: cert.chainPem }));
        },
      });
      secured.on('error', () => client.destroy());
      secured.on('secure', () => {
        secure = true;
        socket = secured;
        secured.on('data', onData);
      });
    } else if (verb === 'MAIL') {
      if (mode === 'out-of-step') socket.write('250 2.1.0 Ok\r\n250-stray\r\n250 stray too\r\n');
      else reply('250 2.1.0 Ok');
    } else if (verb === 'RCPT') {
      reply('250 2.1.5 Ok');
    } else if (verb === 'DATA') {
      reply('250 2.0.0 taken, honestly'); // never 354: nothing is sent, so nothing is delivered
    } else if (verb === 'QUIT') {
      reply('221 2.0.0 bye');
      socket.end();
    } else {
      reply('250 2.0.0 ok');
    }
  };
  function onData(chunk) {
    buffer += chunk.toString('latin1');
    for (let i; (i = buffer.indexOf('\r\n')) >= 0; ) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 2);
      onLine(line);
    }
  }
  client.on('data', onData);
  if (mode !== 'silent') reply('220 mx.hostile.test ESMTP');
}

/**
 * A TCP proxy in front of the MX that misbehaves while `state.faulty` is set: refuses 10 % of the
 * connections, sends 15 % to the port with the untrusted certificate, cuts 20 % after a random number
 * of bytes (up to 7000, so also in the middle of DATA), and (with `certFor`, the lab's certificate
 * for an MX name) puts a hostile MX in place of the real one for 10 % (issue 8: DATA answered 250,
 * replies out of step, endless EHLO, never a greeting; it never takes a message).
 */
export async function startFaultProxy({ valid, untrusted, random, certFor = null }) {
  const state = { faulty: true, counts: { clean: 0, refused: 0, tls: 0, cut: 0, hostile: 0 } };
  // The draws that give each kind of fault: refused, bad TLS, a cut, then each hostile MX.
  const prelude = [0.05, 0.2, 0.3, ...(certFor ? HOSTILE.map((_, i) => 0.45 + 0.025 * i + 0.001) : [])];
  const sockets = new Set();
  const onConnection = (client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    // Every kind of fault happens at least once, whatever the seed: the first faulty connections
    // take them in turn (refused, bad TLS, a cut, then each hostile MX); the rest are drawn.
    const r = !state.faulty ? 1 : prelude.length > 0 ? prelude.shift() : random();
    if (r < 0.1) {
      state.counts.refused += 1;
      client.destroy();
      return;
    }
    if (certFor && r >= 0.45 && r < 0.55) {
      state.counts.hostile += 1;
      hostileMx(client, HOSTILE[Math.floor((r - 0.45) / 0.025)] ?? 'silent', certFor);
      return;
    }
    const badTls = r < 0.25;
    const cutAfter = r >= 0.25 && r < 0.45 ? 1 + Math.floor(random() * 7000) : Infinity;
    state.counts[badTls ? 'tls' : cutAfter < Infinity ? 'cut' : 'clean'] += 1;
    const server = net.connect(badTls ? untrusted : valid, '127.0.0.1');
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

/**
 * The receiving side of a fault matrix: a private directory (`prefix`), the lab, a receiving Postfix
 * MX for `domains` whose recipient map is the FAULT_MAP (switch to CLEAN_MAP by rewriting
 * `<dir>/faults`), and the fault proxy in front of it. `lib` is the package's lab module.
 */
export async function startFaultMx({ prefix, domains, random, lib }) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'faults'), FAULT_MAP, { mode: 0o644 });
  const lab = await lib.startLab();
  writeFileSync(join(dir, 'ca.pem'), lab.caPem);
  const mx = await lib.startPostfixMx({
    lab,
    domains,
    listeners: { valid: 0, untrusted: 0 },
    main: { smtpd_recipient_restrictions: `check_recipient_access regexp:${join(dir, 'faults')}, permit_mynetworks, reject_unauth_destination` },
  });
  const proxy = await startFaultProxy({ valid: mx.ports.valid, untrusted: mx.ports.untrusted, random, certFor: (name) => lab.certFor(name) });
  return { dir, lab, mx, proxy };
}
