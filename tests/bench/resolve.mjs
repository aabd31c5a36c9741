// Benchmark (issue 3, item 7): MTA-STS policies resolved per second against the lab (RFC 8461 §3.3:
// TXT query, then HTTPS GET of the policy), at concurrency 1, 10 and 100, for mtasts and — in the
// same run, against the same lab — mailauth's getPolicy; then the latency of a cache hit.
// Prints figures; asserts nothing about time.
//
//   node tests/bench/resolve.mjs [--seconds 2] [--rounds 3] [--hits 200000]
//
// mailauth cannot be told a policy port: it always connects to 443. So the script re-runs itself
// inside a private network namespace (`unshare -n`, root), where the lab serves DNS on 53 and HTTPS
// on 443 on the namespace's own loopback, and both libraries run there against the same lab. Without
// `unshare` it measures mtasts alone on ephemeral ports and says so.
//
// What "cold" means here: every mtasts resolution runs on a new PolicyResolver with an empty
// memoryStore (the DNS and HTTPS hosts are shared, as in a relay), so it really queries the TXT
// record, resolves mta-sts.<domain>, makes a new TLS connection (the host uses no keep-alive pool) and
// GETs the policy. mailauth's getPolicy without a known policy does the same (TXT, A, HTTPS GET); it
// uses https.globalAgent, which is replaced for the run by an agent without keep-alive and without a
// TLS session cache, so it also makes a full new connection each time, as for distinct real domains.
// Both cycle over the lab's scenarios with a valid policy.

import { spawnSync, fork } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import os from 'node:os';
import { promises as dnsPromises } from 'node:dns';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { median, percentile, table, formatNumber, numberOption } from './measure.mjs';

const SELF = fileURLToPath(import.meta.url);
const IN_NETNS = process.env.MTASTS_BENCH_NETNS === '1';
const args = process.argv.slice(2);
const option = (name, fallback) => numberOption(name, fallback, args);

// Outside a namespace: re-run inside one when we can (root and unshare), so mailauth can be measured.
if (!IN_NETNS && !args.includes('--no-netns') && !args.includes('--serve-lab')) {
  const probe = spawnSync('unshare', ['-n', 'true'], { stdio: 'ignore' });
  if (probe.status === 0) {
    const quoted = [process.execPath, SELF, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const run = spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up && exec ${quoted}`], {
      stdio: 'inherit',
      env: { ...process.env, MTASTS_BENCH_NETNS: '1' },
    });
    process.exit(run.status ?? 1);
  }
  console.log('(unshare -n is not available here: measuring mtasts alone, on ephemeral ports; mailauth needs port 443)');
}

const SECONDS = option('seconds', 2);
const ROUNDS = option('rounds', 3);
const HITS = option('hits', 200_000);
const CONCURRENCY = [1, 10, 100];

const PKG = process.env.MTASTS_PKG ? pathToFileURL(`${process.env.MTASTS_PKG}/`) : new URL('../../pkg/', import.meta.url);
const { startLab, scenarios } = await import(new URL('js/lab/index.js', PKG));

// The lab runs in a child process of its own (same namespace), so that its DNS and TLS server work
// does not share the event loop of the client being measured.
if (args.includes('--serve-lab')) {
  const lab = await startLab(IN_NETNS ? { standardPorts: true } : {});
  const sum = (o) => Object.values(o).reduce((a, b) => a + b, 0);
  process.on('message', async (m) => {
    if (m === 'counts') {
      const cpu = process.cpuUsage();
      process.send({ counts: { requests: sum(lab.requests), queries: sum(lab.queries), cpuMs: (cpu.user + cpu.system) / 1000 } });
    }
    if (m === 'stop') {
      await lab.stop();
      process.disconnect();
    }
  });
  process.send({ ready: { dns: lab.dns, policyPort: lab.policyPort, caPem: lab.caPem } });
} else {
  await benchmark();
}

async function benchmark() {
  const { createPolicyResolver, PolicyResolver, memoryStore } = await import(new URL('js/node/index.js', PKG));
  const require = createRequire(new URL('../package.json', import.meta.url));
  const mailauth = IN_NETNS ? require('mailauth/lib/mta-sts.js') : null;
  const mailauthVersion = IN_NETNS ? require('mailauth/package.json').version : null;
  const child = fork(SELF, ['--serve-lab'], { env: process.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const lab = await new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m.ready));
    child.once('exit', (code) => reject(new Error(`the lab process exited (${code}) before it was ready`)));
  });
  const counts = () => new Promise((resolve) => child.once('message', (m) => resolve(m.counts)) && child.send('counts'));
  try {
    await main({ lab, counts, createPolicyResolver, PolicyResolver, memoryStore, mailauth, mailauthVersion });
  } finally {
    child.send('stop');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

async function main({ lab, counts, createPolicyResolver, PolicyResolver, memoryStore, mailauth, mailauthVersion }) {
  const domains = scenarios.filter((s) => s.expect?.status === 'found').map((s) => s.domain);
  console.log(
    `mtasts resolve benchmark — node ${process.version}${mailauth ? `, mailauth ${mailauthVersion}` : ''}; lab ` +
      `${IN_NETNS ? 'on 127.0.0.1:53 and :443 inside unshare -n' : `DNS ${lab.dns.server}, HTTPS port ${lab.policyPort}`}; ` +
      `domains: ${domains.join(', ')}; ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  );

  // mtasts: one set of Node hosts (DNS resolver, HTTPS with the lab CA), shared by every resolution.
  const base = createPolicyResolver({ dnsServers: [lab.dns.server], ca: lab.caPem, policyPort: IN_NETNS ? undefined : lab.policyPort });
  const coldMtasts = (domain) =>
    new PolicyResolver({ dns: base.dns, https: base.https, store: memoryStore() }).resolve(domain).then((r) => r.status === 'found');

  // mailauth: its documented resolver option, pointed at the lab; the lab CA on a fresh global agent.
  let coldMailauth = null;
  let mailauthOptions = null;
  if (mailauth) {
    const labDns = new dnsPromises.Resolver({ timeout: 5000, tries: 2 });
    labDns.setServers([lab.dns.server]);
    mailauthOptions = { resolver: (name, type) => labDns.resolve(name, type) };
    https.globalAgent = new https.Agent({ keepAlive: false, maxCachedSessions: 0, ca: [lab.caPem] });
    coldMailauth = (domain) => mailauth.getPolicy(domain, null, mailauthOptions).then((r) => r.status === 'found');
  }

  // Sanity: one resolution each, checked against the scenario's expectation.
  for (const d of domains) {
    const r = await new PolicyResolver({ dns: base.dns, https: base.https, store: memoryStore() }).resolve(d);
    const m = mailauth ? await mailauth.getPolicy(d, null, mailauthOptions) : null;
    const mode = scenarios.find((s) => s.domain === d).expect.mode;
    console.log(
      `  ${d}: mtasts ${r.status}/${r.policy?.mode}` +
        (m ? `, mailauth ${m.status}/${m.policy?.mode}` : '') +
        ` (expected found/${mode})`,
    );
  }

  // ---- cold resolutions per second
  const libs = [['mtasts', coldMtasts], ...(coldMailauth ? [['mailauth', coldMailauth]] : [])];
  const rows = [['concurrency', 'library', 'resolutions/s', 'range', 'p50 ms', 'p99 ms', 'failed', 'HTTPS GETs/resolution', 'client CPU ms/res', 'lab CPU ms/res']];
  const perSecond = {};
  for (const c of CONCURRENCY) {
    const samples = Object.fromEntries(libs.map(([name]) => [name, { rates: [], latencies: [], failed: 0, gets: 0, done: 0, cpu: 0, labCpu: 0 }]));
    for (let round = 0; round < ROUNDS + 1; round++) {
      for (const [name, fn] of round % 2 ? [...libs].reverse() : libs) {
        const before = await counts();
        const cpuBefore = process.cpuUsage();
        const { done, failed, elapsed, latencies } = await drive(fn, domains, c, round === 0 ? 0.5 : SECONDS);
        if (round === 0) continue; // warm-up
        const s = samples[name];
        s.rates.push(done / elapsed);
        s.latencies.push(...latencies);
        s.failed += failed;
        const cpu = process.cpuUsage(cpuBefore);
        const after = await counts();
        s.cpu += (cpu.user + cpu.system) / 1000;
        s.labCpu += after.cpuMs - before.cpuMs;
        s.gets += after.requests - before.requests;
        s.done += done;
      }
    }
    for (const [name] of libs) {
      const s = samples[name];
      const sorted = s.latencies.sort((a, b) => a - b);
      perSecond[`${name}@${c}`] = median(s.rates);
      rows.push([
        String(c),
        name,
        formatNumber(median(s.rates)),
        `${formatNumber(Math.min(...s.rates))}-${formatNumber(Math.max(...s.rates))}`,
        formatNumber(percentile(sorted, 50), 2),
        formatNumber(percentile(sorted, 99), 2),
        String(s.failed),
        formatNumber(s.gets / s.done, 2),
        formatNumber(s.cpu / s.done, 2),
        formatNumber(s.labCpu / s.done, 2),
      ]);
    }
  }
  console.log(`\n== cold-cache resolutions per second (median of ${ROUNDS} rounds of ${SECONDS} s after a warm-up) ==`);
  console.log(table(rows));
  if (coldMailauth) {
    console.log(
      'mtasts/mailauth: ' +
        CONCURRENCY.map((c) => `c=${c} ${formatNumber(perSecond[`mtasts@${c}`] / perSecond[`mailauth@${c}`], 2)}x`).join(', '),
    );
  }

  // ---- where a cold mtasts resolution spends its time (concurrency 1)
  const phaseRows = [['step of one cold resolution (mtasts hosts, concurrency 1)', 'p50 ms', 'p90 ms']];
  const d0 = domains[0];
  const url = `https://mta-sts.${d0}/.well-known/mta-sts.txt`;
  const lookup = (name) => new Promise((resolve, reject) => base.dns.lookup(name, { all: true }, (e, a) => (e ? reject(e) : resolve(a))));
  for (const [label, step] of [
    [`TXT _mta-sts.${d0} (dns.resolveTxt)`, () => base.dns.resolveTxt(`_mta-sts.${d0}`)],
    [`A/AAAA mta-sts.${d0} (the https host's lookup)`, () => lookup(`mta-sts.${d0}`)],
    ['HTTPS GET of the policy (lookup + TCP + TLS + request)', () => base.https.get(url)],
    ['whole cold resolution (new PolicyResolver, empty store)', () => coldMtasts(d0)],
  ]) {
    const times = [];
    for (let i = 0; i < 5; i++) await step(); // warm-up
    for (let i = 0; i < 100; i++) {
      const t = performance.now();
      await step();
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    phaseRows.push([label, formatNumber(percentile(times, 50), 2), formatNumber(percentile(times, 90), 2)]);
  }
  console.log('\n== cold resolution by step (100 sequential runs each) ==');
  console.log(table(phaseRows));

  // ---- cache hits
  console.log(`\n== cache hit latency (${formatNumber(HITS)} sequential awaited calls each, µs) ==`);
  const hitRows = [['path', 'p50 µs', 'p90 µs', 'p99 µs', 'p99.9 µs', 'max µs', 'network requests']];
  const warm = createPolicyResolver({ dnsServers: [lab.dns.server], ca: lab.caPem, policyPort: IN_NETNS ? undefined : lab.policyPort });
  for (const d of domains) await warm.resolve(d);
  const paths = [
    ['resolver.resolve(cached domain) — reused result', () => warm.resolve(domains[0])],
    [
      'new PolicyResolver over a warm store — store.get + core Discovery',
      () => new PolicyResolver({ dns: warm.dns, https: warm.https, store: warm.store }).resolve(domains[0]),
    ],
  ];
  for (const [label, call] of paths) {
    const { requests: r0, queries: q0 } = await counts();
    const lat = new Float64Array(HITS);
    for (let i = 0; i < 20_000; i++) await call(); // warm-up
    for (let i = 0; i < HITS; i++) {
      const t = process.hrtime.bigint();
      const r = await call();
      lat[i] = Number(process.hrtime.bigint() - t) / 1000;
      if (r.status !== 'found' && r.status !== 'cached') throw new Error(`cache hit path returned ${r.status}`);
    }
    lat.sort();
    hitRows.push([
      label,
      formatNumber(percentile(lat, 50), 2),
      formatNumber(percentile(lat, 90), 2),
      formatNumber(percentile(lat, 99), 2),
      formatNumber(percentile(lat, 99.9), 2),
      formatNumber(lat[lat.length - 1], 0),
      await counts().then(({ requests, queries }) => `${requests - r0} HTTPS, ${queries - q0} DNS`),
    ]);
  }
  console.log(table(hitRows));
  console.log('target: p99 < 20 µs for a cache hit (issue 3)');
}

/** `concurrency` workers resolving round-robin over `domains` for `seconds`. */
async function drive(resolve, domains, concurrency, seconds) {
  const latencies = [];
  let done = 0;
  let failed = 0;
  let next = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const domain = domains[next++ % domains.length];
      const t = performance.now();
      const ok = await resolve(domain).catch(() => false);
      latencies.push(performance.now() - t);
      done++;
      if (!ok) failed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { done, failed, elapsed: (performance.now() - start) / 1000, latencies };
}
