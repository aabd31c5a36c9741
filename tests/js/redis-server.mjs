// Test helper: a private `redis-server` (Debian package, installed by scripts/setup) on a free
// loopback port, no persistence, stopped by the test; and a scripted peer that accepts TCP and
// never answers. Not a test file itself.
//
//   const redis = await startRedis();     // { port, url, kill(), restart(), stop() }
//   const secure = await startRedis({ tls: { certPem, keyPem } });   // TLS only, on `port`
//   const sentinel = await startSentinel(redis.port);   // { port, name, url, stop() }
//   const cluster = await startCluster(3); // { ports, url, nodes, stop() }: 3 masters, slots spread
//   const silent = await startSilentPeer(); // { port, url, connections, close() }

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';

/** Every server started and not stopped, so that a failed test cannot leave one behind. */
const running = new Set();

/** Stops every server this process started (call it in `after`). */
export async function stopAllRedis() {
  await Promise.all([...running].map((stop) => stop()));
}

/** Whether redis-server can be run here (scripts/setup installs it). */
export const HAVE_REDIS = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Resolves once `PING` on 127.0.0.1:port answers `+PONG` (tried every 50 ms, at most 200 times);
 * with `secure`, over TLS (the server's certificate is not checked: only whether it is up).
 */
async function answersPing(port, secure = false) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const s = secure ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }) : net.connect(port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => {
        got += d;
        if (got.includes('\r\n')) {
          s.destroy();
          resolve(got.startsWith('+PONG'));
        }
      });
      s.on('error', () => resolve(false));
      s.on(secure ? 'secureConnect' : 'connect', () => s.write('*1\r\n$4\r\nPING\r\n'));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} never answered PING`);
}

/**
 * Starts redis-server on a free 127.0.0.1 port; with `persistDir`, an append-only file fsync'd at
 * every write there (so that a SIGKILL and restart keep what was written), else no persistence.
 */
export async function startRedis({ persistDir, tls: certificate, extra = [] } = {}) {
  const port = await freePort();
  // Without persistence still a directory of its own: a replica writes the copy it receives there.
  const ownDir = persistDir ? null : mkdtempSync(join(tmpdir(), 'mtasts-redis-'));
  const persistence = persistDir ? ['--dir', persistDir, '--appendonly', 'yes', '--appendfsync', 'always'] : ['--dir', ownDir, '--appendonly', 'no'];
  let child = null;
  let log = '';
  let certDir = null;
  // TLS only (no plaintext port), clients not asked for certificates; bound to 127.0.0.1 and,
  // when the machine has it, ::1 (a `localhost` URL may try either).
  const listen = certificate ? ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '-::1', '--tls-auth-clients', 'no'] : ['--port', String(port), '--bind', '127.0.0.1'];
  if (certificate) {
    certDir = mkdtempSync(join(tmpdir(), 'mtasts-redis-tls-'));
    writeFileSync(join(certDir, 'cert.pem'), certificate.certPem);
    writeFileSync(join(certDir, 'key.pem'), certificate.keyPem, { mode: 0o600 });
    listen.push('--tls-cert-file', join(certDir, 'cert.pem'), '--tls-key-file', join(certDir, 'key.pem'));
  }
  async function start() {
    child = spawn('redis-server', [...listen, '--save', '', ...persistence, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    await answersPing(port, Boolean(certificate));
  }
  async function kill(signal = 'SIGKILL') {
    if (!child || child.exitCode !== null) return;
    const c = child;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill(signal);
    await exited;
  }
  await start();
  const stop = async () => {
    running.delete(stop);
    await kill('SIGTERM');
    if (certDir) rmSync(certDir, { recursive: true, force: true });
    if (ownDir) rmSync(ownDir, { recursive: true, force: true });
  };
  running.add(stop);
  return {
    port,
    url: `redis${certificate ? 's' : ''}://127.0.0.1:${port}/0`,
    get log() {
      return log;
    },
    kill,
    /** Starts it again on the same port (empty without persistDir). */
    restart: start,
    stop,
  };
}

/** A peer on a free 127.0.0.1 port that accepts connections, reads, and never answers. */
export async function startSilentPeer() {
  const sockets = new Set();
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  const close = async () => {
    running.delete(close);
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(() => resolve()));
  };
  running.add(close);
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    get connections() {
      return connections;
    },
    close,
  };
}

/** Runs redis-cli (bounded: 20 s) and returns its output; throws when it fails. */
export function redisCli(args) {
  const r = spawnSync('redis-cli', args, { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${r.error?.message ?? (r.stderr || r.stdout)}`);
  return r.stdout;
}

/**
 * A Sentinel (`redis-server CONF --sentinel`) on a free port watching the master at
 * 127.0.0.1:masterPort under `name`; resolves once it knows the master.
 */
export async function startSentinel(masterPort, { name = 'mymaster' } = {}) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mtasts-sentinel-'));
  const conf = join(dir, 'sentinel.conf'); // Sentinel rewrites its config file: one of its own
  writeFileSync(conf, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
    `sentinel down-after-milliseconds ${name} 1000`, `sentinel failover-timeout ${name} 10000`, ''].join('\n'));
  const child = spawn('redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  await answersPing(port);
  for (let i = 0; i < 100 && !redisCli(['-p', String(port), 'sentinel', 'get-master-addr-by-name', name]).includes(String(masterPort)); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const stop = async () => {
    running.delete(stop);
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  running.add(stop);
  return { port, name, url: `redis+sentinel://127.0.0.1:${port}/${name}/0`, get log() { return log; }, stop };
}

/**
 * A Redis Cluster of `masters` masters (no replicas) on free ports, its 16384 slots spread by
 * `redis-cli --cluster create`; resolves once every node says cluster_state:ok.
 */
export async function startCluster(masters = 3) {
  const dir = mkdtempSync(join(tmpdir(), 'mtasts-cluster-'));
  const nodes = [];
  const stop = async () => {
    running.delete(stop);
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  running.add(stop);
  for (let i = 0; i < masters; i++) {
    nodes.push(await startRedis({ extra: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${i}.conf`), '--dir', dir, '--cluster-node-timeout', '5000'] }));
  }
  redisCli(['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
  for (let i = 0; i < 200; i++) {
    if (nodes.every((n) => redisCli(['-p', String(n.port), 'cluster', 'info']).includes('cluster_state:ok'))) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const ports = nodes.map((n) => n.port);
  return { ports, nodes, url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`, stop };
}
