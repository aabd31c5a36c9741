// Benchmark (issue 11, item 6): `mtasts socketmap` against postfix-mta-sts-resolver 1.5.1 in the
// same run on the same lab. Prints figures; asserts nothing.
//
//   node tests/bench/socketmap.mjs [--seconds 3] [--rounds 3] [--domains 100000] [--no-netns]
//                                  [--parts cached,cold,memory] [--load c|node] [--warm 200]
//
// - cached queries per second and p50/p99 latency at 1, 8 and 64 connections, each connection
//   with one request outstanding at a time (as Postfix's socketmap client does), same key; and
//   the server's own CPU time per query (from /proc), which the load generator sharing the two
//   cores does not blur. The load generator is tests/bench/socketmap-load.c (epoll, built here
//   with `cc -O2` into target/bench/; its own CPU time per query is printed), the same for every
//   server; without a C compiler, a Node client in this process (dearer: it says so). Beside the
//   two servers, a bare Node `net` server that answers every read with the same reply
//   ("node net floor"): what Node's sockets alone cost, the floor under any Node server; and the
//   same in C over epoll (tests/bench/socketmap-floor.c, "c epoll floor"): the floor under any
//   server on this machine, so a target beyond it is the machine's limit, not the code's;
// - a cold lookup (TXT + policy fetch over a new TLS connection), sequentially over the lab's
//   domains with a valid policy, each server started fresh per round and warmed up first by one
//   lookup of a domain without a policy and `--warm` fetches (default 200) that find no valid
//   policy (a daemon's first requests and fetches also pay for its start-up and the JIT; the
//   first fetch is printed apart);
// - memory of our socketmap with `--domains` cached policies (a memory store filled directly,
//   every domain asked once, so the answer cache holds them too).
// postfix-mta-sts-resolver fetches on port 443 and uses the system resolver: the script re-runs
// itself inside `unshare -n -m` (root) with the lab on 53 and 443 and /etc/resolv.conf
// bind-mounted to 127.0.0.1; without that it measures ours alone. Both servers run as their own
// processes (`mtasts socketmap` CLI, `mta-sts-daemon`); the load generator is this process.

import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { numberOption } from './measure.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => numberOption(name, fallback, args);
const SELF = fileURLToPath(import.meta.url);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PKG = process.env.MTASTS_PKG ?? join(ROOT, 'pkg');
const CLI = join(PKG, 'js', 'cli', 'main.js');
const VENV = process.env.MTASTS_PY_VENV ?? join(ROOT, 'target', 'py-peers');
const DAEMON = join(VENV, 'bin', 'mta-sts-daemon');
const IN_NETNS = process.env.MTASTS_BENCH_NETNS === '1';

if (args.includes('--floor-child')) {
  // The floor: every read answered with the same netstring (argv after the flag), nothing else.
  const reply = Buffer.from(args[args.indexOf('--floor-child') + 1], 'latin1');
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', () => socket.write(reply));
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));
  process.on('SIGTERM', () => process.exit(0));
  await new Promise(() => {}); // serves until SIGTERM
} else if (args.includes('--memory-child')) {
  await memoryChild(option('domains', 100_000));
  process.exit(0);
}

if (!IN_NETNS && !args.includes('--no-netns')) {
  const probe = spawnSync('unshare', ['-n', '-m', 'true'], { stdio: 'ignore' });
  if (probe.status === 0) {
    const dir = mkdtempSync(join(tmpdir(), 'mtasts-bench-'));
    const resolv = join(dir, 'resolv.conf');
    writeFileSync(resolv, 'nameserver 127.0.0.1\noptions attempts:1 timeout:2\n');
    const quoted = [process.execPath, SELF, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const run = spawnSync('unshare', ['-n', '-m', 'sh', '-c', `ip link set lo up && mount --bind ${resolv} /etc/resolv.conf && exec ${quoted}`], {
      stdio: 'inherit',
      env: { ...process.env, MTASTS_BENCH_NETNS: '1' },
    });
    rmSync(dir, { recursive: true, force: true });
    process.exit(run.status ?? 1);
  }
  console.log('(unshare -n -m is not available here: measuring mtasts alone, with the lab on ephemeral ports)');
}

const SECONDS = option('seconds', 3);
const ROUNDS = option('rounds', 3);
const DOMAINS = option('domains', 100_000);
// Fetches that warm up a fresh server before its cold lookups are counted. Measured with Node 20
// here: a fresh socketmap still spends 9-15 ms of CPU (on the main thread and V8's compiler
// threads) on a cold lookup after 20 or 80 such fetches, 4-5 ms after 200: Node's HTTPS, TLS and
// DNS code is still being optimised until then. A long-running daemon pays that once.
const WARMUPS = option('warm', 200);
const LOAD = args.includes('--load') ? args[args.indexOf('--load') + 1] : 'c';
const CONNECTIONS = [1, 8, 64];
const partsAt = args.indexOf('--parts');
const PARTS = new Set(partsAt >= 0 ? args[partsAt + 1].split(',') : ['cached', 'cold', 'memory']);
const KEY = 'postfix enforce-valid.test';
// Domains whose lookup fetches and finds no valid policy (nothing cached): the cold warm-up.
const WARM = ['policy-invalid-syntax.test', 'policy-500.test', 'policy-wrong-content-type.test', 'record-but-404.test', 'draft-json-policy.test'];
const COLD = ['enforce-valid.test', 'split-record.test', 'long-record.test', 'mx-not-in-policy.test', 'none.test', 'testing-valid.test', 'id-rotated.test'];

const { startLab } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));
const lab = await startLab(IN_NETNS ? { standardPorts: true } : {});
const dir = mkdtempSync(join(tmpdir(), 'mtasts-bench-socketmap-'));
writeFileSync(join(dir, 'ca.pem'), lab.caPem);
const withTheirs = IN_NETNS && existsSync(DAEMON);

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });

async function waitListening(port) {
  for (let i = 0; i < 400; i++) {
    const up = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on ${port}`);
}

async function startOurs() {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'socketmap', '--listen', `127.0.0.1:${port}`, '--store', 'memory', '--log-level', 'warn', '--refresh-interval', '0',
    '--dns-server', `127.0.0.1:${lab.dns.port}`, '--ca-file', join(dir, 'ca.pem'), '--policy-port', String(lab.policyPort)], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitListening(port);
  return { name: 'mtasts', port, child, stop: () => stopChild(child) };
}

async function startTheirs() {
  const port = await freePort();
  const cfg = join(dir, 'mta-sts-daemon.yml');
  writeFileSync(cfg, `host: 127.0.0.1\nport: ${port}\ncache:\n  type: internal\n  options:\n    cache_size: 10000\ndefault_zone:\n  strict_testing: false\n  timeout: 4\n`);
  const child = spawn(DAEMON, ['-c', cfg, '-v', 'warn'], { env: { ...process.env, SSL_CERT_FILE: join(dir, 'ca.pem') }, stdio: ['ignore', 'ignore', 'ignore'] });
  await waitListening(port);
  return { name: 'postfix-mta-sts-resolver', port, child, stop: () => stopChild(child) };
}

/** The floor: a bare Node net server in a process of its own, answering every read with `reply`. */
async function startFloor(reply) {
  const child = spawn(process.execPath, [SELF, '--floor-child', `${Buffer.byteLength(reply)}:${reply},`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
  return { name: 'node net floor', port, child, stop: () => stopChild(child) };
}

/**
 * The C floor (tests/bench/socketmap-floor.c): the least work any server can do per query here,
 * so its figures bound every server's in the same run; null without cc.
 */
async function startCFloor(reply) {
  const binary = buildC('socketmap-floor', 'no c epoll floor in this run');
  if (binary === null) return null;
  const child = spawn(binary, [`${Buffer.byteLength(reply)}:${reply},`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
  return { name: 'c epoll floor', port, child, stop: () => stopChild(child) };
}

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

const frame = (s) => Buffer.from(`${Buffer.byteLength(s)}:${s},`);

/** One request, one reply: { reply, ms }. */
async function once(port, request) {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((r) => socket.once('connect', r));
  const started = process.hrtime.bigint();
  socket.write(frame(request));
  let buf = '';
  const reply = await new Promise((resolve) => {
    socket.on('data', (d) => {
      buf += d;
      const colon = buf.indexOf(':');
      if (colon > 0 && buf.length >= colon + Number(buf.slice(0, colon)) + 2) resolve(buf.slice(colon + 1, colon + 1 + Number(buf.slice(0, colon))));
    });
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  socket.destroy();
  return { reply, ms };
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc (Linux): the run time of all
 * its threads in nanoseconds (schedstat), else its utime + stime in clock ticks (10 ms steps, too
 * coarse for seven cold lookups).
 */
function cpuSeconds(pid) {
  try {
    let ns = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    if (Number.isFinite(ns) && ns > 0) return ns / 1e9;
  } catch {
    // no schedstat here: the clock ticks below
  }
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}

/** tests/bench/NAME.c built into target/bench/NAME when its source is newer; null without cc. */
function buildC(name, instead) {
  const source = join(ROOT, 'tests', 'bench', `${name}.c`);
  const binary = join(ROOT, 'target', 'bench', name);
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) return binary;
  mkdirSync(join(ROOT, 'target', 'bench'), { recursive: true });
  const cc = spawnSync(process.env.CC ?? 'cc', ['-O2', '-Wall', '-o', binary, source], { encoding: 'utf8' });
  if (cc.status === 0) return binary;
  console.log(`(cannot build ${source}: ${cc.error?.message ?? cc.stderr.trim()}; ${instead})`);
  return null;
}

/** The C load generator; null without cc (or with --load node). */
const buildLoadGenerator = () => (LOAD === 'node' ? null : buildC('socketmap-load', 'the load generator is a Node client in this process instead'));

/**
 * `connections` clients, one request outstanding each, for `seconds`: { qps, p50, p99 } (ms), the
 * server's CPU µs per query (`pid`'s CPU time over the counted window) and the load generator's.
 */
async function load(port, request, connections, seconds, pid) {
  if (!LOADGEN) return loadFromNode(port, request, connections, seconds, pid);
  const warmupMs = 300;
  const child = spawn(LOADGEN, [String(port), String(connections), String(seconds), String(warmupMs), request], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await new Promise((r) => setTimeout(r, warmupMs));
  const cpuBefore = cpuSeconds(pid);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = cpuSeconds(pid) - cpuBefore;
  const code = await exited;
  if (code !== 0) throw new Error(`socketmap-load failed (${code}): ${err.trim()}`);
  const r = JSON.parse(out);
  return { qps: r.queries / r.seconds, p50: r.p50, p99: r.p99, cpuUs: (cpu / r.queries) * 1e6, clientUs: r.clientCpuUs, reply: r.reply };
}

/** The same measure from a Node client in this process (when there is no C compiler). */
async function loadFromNode(port, request, connections, seconds, pid) {
  const { reply } = await once(port, request);
  const expected = Buffer.byteLength(`${Buffer.byteLength(reply)}:${reply},`);
  const message = frame(request);
  const latencies = [];
  let stop = false;
  let counting = false;
  const clients = [];
  for (let c = 0; c < connections; c++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    await new Promise((r) => socket.once('connect', r));
    clients.push(
      new Promise((resolve) => {
        let got = 0;
        let sent = 0n;
        const next = () => {
          if (stop) {
            socket.destroy();
            return resolve();
          }
          sent = process.hrtime.bigint();
          socket.write(message);
        };
        socket.on('data', (d) => {
          got += d.length;
          while (got >= expected) {
            got -= expected;
            if (counting) latencies.push(Number(process.hrtime.bigint() - sent) / 1e6);
            next();
          }
        });
        socket.on('error', () => resolve());
        next();
      }),
    );
  }
  await new Promise((r) => setTimeout(r, 300)); // warm-up
  counting = true;
  const cpuBefore = cpuSeconds(pid);
  const started = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  counting = false;
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = cpuSeconds(pid) - cpuBefore;
  stop = true;
  const n = latencies.length;
  await Promise.all(clients);
  latencies.sort((a, b) => a - b);
  return { qps: n / elapsed, p50: latencies[Math.floor(n * 0.5)] ?? NaN, p99: latencies[Math.floor(n * 0.99)] ?? NaN, cpuUs: (cpu / n) * 1e6, clientUs: NaN, reply };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const fmt = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-');

console.log(`mtasts socketmap benchmark — node ${process.version}; lab ${IN_NETNS ? 'on 127.0.0.1:53 and :443 inside unshare -n -m' : `DNS ${lab.dns.server}, HTTPS ${lab.policyPort}`}; ${SECONDS} s per run, ${ROUNDS} rounds (medians)`);
if (!withTheirs) console.log(IN_NETNS ? `(postfix-mta-sts-resolver not found at ${DAEMON}: scripts/setup installs it; measuring mtasts alone)` : '(postfix-mta-sts-resolver needs the namespace: measuring mtasts alone)');

// Cached: the servers up, the key asked once before each run.
const LOADGEN = PARTS.has('cached') ? buildLoadGenerator() : null;
const servers = PARTS.has('cached') ? [await startOurs(), ...(withTheirs ? [await startTheirs()] : [])] : [];
if (servers.length > 0) {
  const { reply } = await once(servers[0].port, KEY);
  servers.push(await startFloor(reply));
  const cFloor = LOADGEN ? await startCFloor(reply) : null;
  if (cFloor) servers.push(cFloor);
}
const results = {};
for (let round = 0; round < (PARTS.has('cached') ? ROUNDS : 0); round++) {
  for (const c of CONNECTIONS) {
    for (const s of round % 2 ? [...servers].reverse() : servers) {
      const r = await load(s.port, KEY, c, SECONDS, s.child.pid);
      ((results[s.name] ??= {})[c] ??= []).push(r);
    }
  }
}
if (PARTS.has('cached')) {
  console.log(`\ncached queries (one request outstanding per connection; load generator: ${LOADGEN ? 'tests/bench/socketmap-load.c' : 'a Node client in the bench process'}):`);
  console.log(`  ${'server'.padEnd(26)} ${'conns'.padStart(5)} ${'q/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'server CPU µs/query'.padStart(20)} ${'client CPU µs/query'.padStart(20)}`);
}
for (const c of PARTS.has('cached') ? CONNECTIONS : []) {
  for (const s of servers) {
    const rs = results[s.name][c];
    console.log(`  ${s.name.padEnd(26)} ${String(c).padStart(5)} ${fmt(median(rs.map((r) => r.qps)), 0).padStart(9)} ${fmt(median(rs.map((r) => r.p50)), 3).padStart(8)} ${fmt(median(rs.map((r) => r.p99)), 3).padStart(8)} ${fmt(median(rs.map((r) => r.cpuUs)), 1).padStart(20)} ${fmt(median(rs.map((r) => r.clientUs)), 1).padStart(20)}`);
  }
  const q = (name) => median(results[name][c].map((r) => r.qps));
  const cpu = (name) => median(results[name][c].map((r) => r.cpuUs));
  if (results['postfix-mta-sts-resolver']) {
    console.log(`  ${'ratio mtasts / resolver'.padEnd(26)} ${String(c).padStart(5)} ${fmt(q('mtasts') / q('postfix-mta-sts-resolver'), 1).padStart(8)}× q/s, ${fmt(cpu('postfix-mta-sts-resolver') / cpu('mtasts'), 1)}× less server CPU a query`);
  }
  console.log(`  ${'mtasts / node net floor'.padEnd(26)} ${String(c).padStart(5)} ${fmt(q('mtasts') / q('node net floor'), 2).padStart(8)}× q/s, ${fmt(cpu('mtasts') / cpu('node net floor'), 2)}× its CPU a query`);
  if (results['c epoll floor'] && results['postfix-mta-sts-resolver']) {
    console.log(`  ${'c epoll floor / resolver'.padEnd(26)} ${String(c).padStart(5)} ${fmt(q('c epoll floor') / q('postfix-mta-sts-resolver'), 1).padStart(8)}× q/s: the most any server reaches here`);
  }
}
for (const s of servers) {
  const replies = new Set(Object.values(results[s.name] ?? {}).flat().map((r) => r.reply));
  if (replies.size > 1 || (replies.size === 1 && !String([...replies][0]).startsWith('OK secure'))) console.log(`  (${s.name} answered ${[...replies].join(' | ')})`);
}
for (const s of servers) await s.stop();

// Cold: a fresh server per round, each domain asked once (TXT + HTTPS fetch).
if (PARTS.has('cold')) console.log(`\ncold lookups (TXT + policy fetch over a new TLS connection), ms; each fresh server warmed up by ${Math.ceil(WARMUPS / WARM.length) * WARM.length} fetches first:`);
const cold = {};
const coldCpu = {}; // server CPU ms per cold lookup, per round
const firstFetch = {}; // the warm-up fetch of each fresh server, ms
for (let round = 0; round < (PARTS.has('cold') ? ROUNDS : 0); round++) {
  for (const start of withTheirs ? [startOurs, startTheirs] : [startOurs]) {
    const s = await start();
    await once(s.port, 'postfix no-record.test'); // warm-up: TXT only, not counted
    // Warm-up with fetches (TLS to the policy host, no valid policy: nothing cached), not counted:
    // a daemon's first fetches after its start also pay for loading and compiling its HTTPS code
    // (for Node, the JIT: about 30 ms of CPU for the first, still twice the steady cost for the
    // next hundred or so), which a long-running daemon pays once. The first one is printed apart.
    // Each warm-up domain under map names of its own (w0, w1, …: the default zone, and no answer
    // kept for another key), WARMUPS fetches in all.
    for (let w = 0; w * WARM.length < WARMUPS; w++) {
      for (const [i, d] of WARM.entries()) {
        const { ms } = await once(s.port, `w${w} ${d}`);
        if (w === 0 && i === 0) (firstFetch[s.name] ??= []).push(ms);
      }
    }
    const cpu0 = cpuSeconds(s.child.pid);
    for (const d of COLD) (cold[s.name] ??= []).push((await once(s.port, `postfix ${d}`)).ms);
    (coldCpu[s.name] ??= []).push(((cpuSeconds(s.child.pid) - cpu0) / COLD.length) * 1000);
    await s.stop();
  }
}
for (const [name, ms] of Object.entries(cold)) console.log(`  ${name.padEnd(26)} median ${fmt(median(ms))}  min ${fmt(Math.min(...ms))}  max ${fmt(Math.max(...ms))}  (${ms.length} lookups); server CPU ${fmt(median(coldCpu[name]), 1)} ms a lookup; its first fetch after start (warm-up, not counted) ${fmt(median(firstFetch[name]))}`);
if (cold['postfix-mta-sts-resolver']) {
  console.log(`  ratio mtasts / resolver: median latency ${fmt(median(cold.mtasts) / median(cold['postfix-mta-sts-resolver']))}, server CPU a lookup ${fmt(median(coldCpu.mtasts) / median(coldCpu['postfix-mta-sts-resolver']))}`);
}

await lab.stop();
rmSync(dir, { recursive: true, force: true });

// Memory: a child process with --expose-gc.
const mem = !PARTS.has('memory') ? { stdout: '', status: 0 } : spawnSync(process.execPath, ['--expose-gc', SELF, '--memory-child', '--domains', String(DOMAINS)], { encoding: 'utf8', env: process.env });
console.log(`\n${mem.stdout.trim()}`);
if (mem.status !== 0) console.log(mem.stderr);

/** RSS and heap before and after `n` cached domains (memory store + answer cache). */
async function memoryChild(n) {
  const { memoryStore, PolicyResolver, formatPolicy } = await import(pathToFileURL(join(PKG, 'js/node/index.js')));
  const { createAnswers } = await import(pathToFileURL(join(PKG, 'js/socketmap/answers.js')));
  const gc = () => {
    for (let i = 0; i < 3; i++) global.gc();
  };
  const store = memoryStore();
  const fail = () => {
    throw new Error('the memory measure must not touch the network');
  };
  const resolver = new PolicyResolver({ dns: { resolveTxt: fail, resolveMx: fail }, https: { get: fail }, store, recheckAfter: 86_400 });
  const answers = createAnswers({ resolver, dns: { resolveMx: fail }, defaultZone: { strictTesting: false, stsAttributes: false, timeout: 4000 }, answerTtl: 3600 });
  gc();
  const before = process.memoryUsage();
  const now = Math.floor(Date.now() / 1000);
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const domain = `d${i}.bench.test`;
    const policyText = formatPolicy({ mode: 'enforce', maxAge: 604800, mx: [`mx1.${domain}`, `mx2.${domain}`], extensions: {} });
    await store.put(domain, { id: `id${i}`, policyText, fetchedAt: now, expiresAt: now + 604800, checkedAt: now });
    const data = Buffer.from(`postfix ${domain}`);
    const { detail } = await answers.answer(data.toString('latin1'), data);
    if (detail.answer.class !== 'ok') throw new Error(`${domain}: ${detail.answer.reply}`);
  }
  const fillMs = Number(process.hrtime.bigint() - started) / 1e6;
  gc();
  const after = process.memoryUsage();
  if (process.env.MTASTS_BENCH_MEMORY_DETAIL) console.log(JSON.stringify({ before, after }));
  const mib = (b) => (b / 1048576).toFixed(1);
  console.log(`memory, ${n} cached domains (memory store + answer cache ${answers.size}): RSS ${mib(before.rss)} → ${mib(after.rss)} MiB (+${mib(after.rss - before.rss)}), heap ${mib(before.heapUsed)} → ${mib(after.heapUsed)} MiB, ` +
    `about ${Math.round((after.rss - before.rss) / n)} bytes a domain; filled in ${(fillMs / 1000).toFixed(1)} s (${Math.round(n / (fillMs / 1000))} first answers/s from the store)`);
}
