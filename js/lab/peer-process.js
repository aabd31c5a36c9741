// A real DNS server program (dnsmasq, unbound) run by the lab as a child process: found on PATH,
// started on a free loopback port, waited for until it answers, and always killed — on stop, and on
// process exit if a test dies before stopping the lab.

import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';
import path from 'node:path';

const live = new Set();
const killAll = () => {
  for (const child of live) child.kill('SIGKILL');
};

/** The absolute path of `program` on PATH or in the sbin directories, or null when not installed. */
export function findProgram(program) {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = path.join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return null;
}

/** A port free for both UDP and TCP on `host` right now (the peer binds it a moment later). */
export async function freePort(host) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    const port = await new Promise((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, host, () => resolve(udp.address().port));
    });
    const tcp = net.createServer();
    const ok = await new Promise((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, host, () => resolve(true));
    });
    await Promise.all([new Promise((r) => udp.close(r)), ok ? new Promise((r) => tcp.close(r)) : null]);
    if (ok) return port;
  }
  throw new Error(`no free UDP+TCP port on ${host}`);
}

export const serverString = (host, port) => (net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`);

/**
 * Spawns `file args`, then asks `probe` (a name that must resolve, with its rrtype) until the peer
 * answers. Resolves to { pid, host, port, server, stop() }; rejects with the peer's stderr if it exits
 * or does not answer within `readyMs`.
 */
export async function startPeer({ label, file, args, host, port, probe, readyMs = 15000 }) {
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  if (live.size === 1) process.on('exit', killAll);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.once('error', () => {}); // reported through `exited` / the readiness failure below
  exited.then(() => {
    live.delete(child);
    if (live.size === 0) process.off('exit', killAll);
  });

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const escalate = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(escalate);
    }
  };

  const server = serverString(host, port);
  const deadline = Date.now() + readyMs;
  let lastError = null;
  let gone = null;
  exited.then((e) => (gone = e));
  while (Date.now() < deadline && !gone) {
    const resolver = new dns.promises.Resolver({ timeout: 200, tries: 1 });
    resolver.setServers([server]);
    try {
      await resolver.resolve(probe.name, probe.type);
      return { pid: child.pid, host, port, server, stop };
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await stop();
  const why = gone ? `exited (${gone.signal ?? gone.code})` : `did not answer ${probe.type} ${probe.name} (${lastError?.code})`;
  throw new Error(`${label} ${why}: ${stderr.trim() || 'no output'}`);
}
