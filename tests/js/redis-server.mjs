// Test helper: a private `redis-server` (Debian package, installed by scripts/setup) on a free
// loopback port, no persistence, stopped by the test; and a scripted peer that accepts TCP and
// never answers. Not a test file itself.
//
//   const redis = await startRedis();     // { port, url, kill(), restart(), stop() }
//   const silent = await startSilentPeer(); // { port, url, connections, close() }

import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';

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

/** Resolves once `PING` on 127.0.0.1:port answers `+PONG` (tried every 50 ms, at most 200 times). */
async function answersPing(port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => {
        got += d;
        if (got.includes('\r\n')) {
          s.destroy();
          resolve(got.startsWith('+PONG'));
        }
      });
      s.on('error', () => resolve(false));
      s.on('connect', () => s.write('*1\r\n$4\r\nPING\r\n'));
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
export async function startRedis({ persistDir } = {}) {
  const port = await freePort();
  const persistence = persistDir ? ['--dir', persistDir, '--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  let child = null;
  let log = '';
  async function start() {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    await answersPing(port);
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
  };
  running.add(stop);
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
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
