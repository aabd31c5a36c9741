// Benchmark (issue 15, item 6): `mtasts survey` over a lab world of 10,000 domains (js/lab/world.js,
// seeded random mix) at concurrency 50, 200 and 1000, without and with --probe: domains per second
// (wall time of the CLI process, start-up included) and its peak memory (VmHWM, the resident set's
// high-water mark, read from /proc while it runs). Then checkdmarc (PyPI; scripts/setup puts it in
// target/py-peers) over the same world, and the agreement of the two on each domain's record,
// policy and TLS-RPT verdicts. Prints figures; asserts nothing about time.
//
//   node tests/bench/survey.mjs [--domains 10000] [--concurrency 50,200,1000] [--seed 7]
//                               [--checkdmarc-threads 50] [--no-netns]
//
// checkdmarc takes a dnspython resolver (so it can ask the world's DNS server on any port), but
// fetches policies with `requests` from port 443, resolving mta-sts.<domain> with getaddrinfo. So
// the script re-runs itself inside private network and mount namespaces (`unshare -nm`, root):
// /etc/resolv.conf is bind-mounted to a file naming 127.0.0.1, the world serves DNS on 53 and
// HTTPS on 443 of the namespace's own loopback, and checkdmarc trusts the world's CA through
// REQUESTS_CA_BUNDLE. Without unshare, checkdmarc's policy verdicts are left out, and said so.
// The world runs in a child process of its own, so its work is not the survey's.

import { spawn, spawnSync, fork } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { table, formatNumber } from './measure.mjs';

const SELF = fileURLToPath(import.meta.url);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'pkg/js/cli/main.js');
const PYTHON = join(process.env.MTASTS_PY_VENV ?? join(ROOT, 'target/py-peers'), 'bin/python');
const IN_NETNS = process.env.MTASTS_BENCH_NETNS === '1';
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const DOMAINS = Number(option('domains', 10_000));
const SEED = Number(option('seed', 7));
const CONCURRENCY = option('concurrency', '50,200,1000').split(',').map(Number);
const THREADS = Number(option('checkdmarc-threads', 50));

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'mtasts-bench-survey-'));
  const child = fork(SELF, [...args, '--serve-world'], { env: process.env });
  try {
    await survey(child, dir);
  } finally {
    if (child.connected) child.send('stop');
  }
}

async function survey(child, dir) {
  const world = await new Promise((resolve) => child.once('message', resolve));
  const ca = join(dir, 'ca.pem');
  const list = join(dir, 'domains.txt');
  writeFileSync(ca, world.caPem);
  writeFileSync(list, world.domains.map((d) => d.domain).join('\n') + '\n');
  console.log(
    `mtasts survey benchmark — node ${process.version}; a world of ${DOMAINS} domains (mix random, seed ${SEED}) started in ` +
      `${formatNumber(world.startMs)} ms, ${IN_NETNS ? 'DNS 127.0.0.1:53 and HTTPS :443 inside unshare -nm' : `DNS ${world.dns.server}, HTTPS port ${world.policyPort}`}; ` +
      `${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  );
  const mix = Object.entries(world.expected.category).map(([k, n]) => `${k} ${n}`).join(', ');
  console.log(`categories in the world: ${mix}`);

  const flags = ['--dns-server', world.dns.server, '--ca-file', ca, '--policy-port', String(world.policyPort), '--rate', '0', '--backoff', '100', '--timeout', '10000', '--dns-timeout', '5000', '--quiet'];
  const rows = [];
  let probedResults = null;
  const deviations = [];
  let plainResults = null;
  for (const probe of [false, true]) {
    for (const concurrency of CONCURRENCY) {
      const out = join(dir, `survey-${probe ? 'probe' : 'plain'}-${concurrency}.jsonl`);
      const extra = probe ? ['--probe', '--helo', 'bench.test', '--smtp-port', String(world.smtpPort), '--allow-private'] : [];
      const m = await measure([CLI, 'survey', list, '--out', out, '--concurrency', String(concurrency), ...flags, ...extra]);
      const results = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const counted = countBy(results, (r) => r.survey.category);
      const want = probe ? world.expected.category : withoutProbe(world.expected.category);
      const same = Object.keys({ ...counted, ...want }).every((k) => (counted[k] ?? 0) === (want[k] ?? 0));
      if (!same) {
        const diff = Object.keys({ ...counted, ...want }).filter((k) => (counted[k] ?? 0) !== (want[k] ?? 0)).map((k) => `${k} ${counted[k] ?? 0} (world ${want[k] ?? 0})`);
        deviations.push(`--probe ${probe ? 'yes' : 'no'}, concurrency ${concurrency}: ${diff.join(', ')}`);
      }
      rows.push([probe ? 'yes' : 'no', String(concurrency), formatNumber(m.seconds, 2), formatNumber(DOMAINS / m.seconds), formatNumber(m.peakKb / 1024), m.code === 0 ? String(results.length) : `exit ${m.code}`, same ? 'yes' : 'NO']);
      // The comparison with checkdmarc uses the plain run at the lowest concurrency.
      if (!probe && concurrency === Math.min(...CONCURRENCY)) plainResults = results;
      if (probe) probedResults ??= results;
    }
  }
  child.send('certificates');
  const { certificates } = await new Promise((resolve) => child.once('message', resolve));
  console.log('\nmtasts survey (one CLI process; wall time includes start-up and the wasm load)');
  console.log(table([['--probe', 'concurrency', 'seconds', 'domains/s', 'peak RSS MiB', 'results', 'counts as the world'], ...rows]));
  for (const d of deviations) console.log(`  counts off the world's: ${d}`);
  console.log(`certificates the world made on demand (one per ${100} domains, plus the broken ones): ${certificates}`);

  await compareWithCheckdmarc({ world, dir, results: plainResults ?? probedResults });
}

/** Runs `node <argv>`; { seconds, peakKb, code }. The peak is VmHWM from /proc, read every 20 ms. */
async function measure(argv) {
  const started = performance.now();
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
  let peakKb = 0;
  const read = () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peakKb = Math.max(peakKb, Number(m[1]));
    } catch {
      // the process has gone
    }
  };
  const timer = setInterval(read, 20);
  const code = await new Promise((resolve) => child.on('exit', (c) => (read(), resolve(c))));
  clearInterval(timer);
  return { seconds: (performance.now() - started) / 1000, peakKb, code };
}

const countBy = (list, key) => list.reduce((o, x) => ((o[key(x)] = (o[key(x)] ?? 0) + 1), o), {});

/** Without --probe, the probe-only kinds are valid policies. */
function withoutProbe(categories) {
  const out = { ...categories };
  out.valid = (out.valid ?? 0) + (out['mx-certificate'] ?? 0) + (out['mx-starttls'] ?? 0);
  delete out['mx-certificate'];
  delete out['mx-starttls'];
  return out;
}

// checkdmarc's own functions, step by step (as its check_mta_sts does), so that the exception
// class says which step failed: the record (query_mta_sts_record, parse_mta_sts_record), the
// policy (download_mta_sts_policy, parse_mta_sts_policy) and the TLS-RPT record.
const CHECKDMARC_DRIVER = String.raw`
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
import dns.resolver
import checkdmarc
from checkdmarc import mta_sts, smtp_tls_reporting as tlsrpt

server, port, with_policy, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
domains = [line.strip() for line in open(sys.argv[5]) if line.strip()]

def resolver():
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = [server]
    r.port = port
    r.timeout = r.lifetime = 2.0
    return r

def one(domain):
    r = resolver()
    out = {"domain": domain, "record": None, "policy": None, "tlsrpt": None}
    try:
        q = mta_sts.query_mta_sts_record(domain, resolver=r)
        mta_sts.parse_mta_sts_record(q["record"])
        out["record"] = "found"
    except mta_sts.MultipleMTASTSRecords:
        out["record"] = "multiple"
    except mta_sts.UnrelatedTXTRecordFoundAtMTASTS:
        out["record"] = "not-mta-sts"
    except mta_sts.MTASTSRecordNotFound as e:
        out["record"] = "none"
        out["recordError"] = str(e)
    except mta_sts.MTASTSError as e:
        out["record"] = "invalid"
        out["recordError"] = str(e)
    if out["record"] == "found" and with_policy:
        try:
            p = mta_sts.parse_mta_sts_policy(mta_sts.download_mta_sts_policy(domain)["policy"])
            out["policy"] = p["policy"]["mode"]
        except mta_sts.MTASTSError as e:
            out["policy"] = "no-policy"
            out["policyError"] = str(e)
    try:
        t = tlsrpt.query_smtp_tls_reporting_record(domain, resolver=r)
        tlsrpt.parse_smtp_tls_reporting_record(t["record"])
        out["tlsrpt"] = "valid"
    except tlsrpt.SMTPTLSReportingRecordNotFound:
        out["tlsrpt"] = "missing"
    except tlsrpt.SMTPTLSReportingError:
        out["tlsrpt"] = "invalid"
    return out

started = time.monotonic()
with ThreadPoolExecutor(threads) as pool:
    results = list(pool.map(one, domains))
elapsed = time.monotonic() - started
print(json.dumps({"version": checkdmarc.__version__, "seconds": elapsed, "results": results}))
`;

async function compareWithCheckdmarc({ world, dir, results }) {
  if (!existsSync(PYTHON) || spawnSync(PYTHON, ['-c', 'import checkdmarc'], { stdio: 'ignore' }).status !== 0) {
    console.log(`\ncheckdmarc: not installed in ${PYTHON} (scripts/setup installs it): no comparison`);
    return;
  }
  const driver = join(dir, 'checkdmarc_driver.py');
  writeFileSync(driver, CHECKDMARC_DRIVER);
  const list = join(dir, 'domains.txt');
  const env = { ...process.env, REQUESTS_CA_BUNDLE: join(dir, 'ca.pem') };
  const m = await measurePython([driver, world.dns.host, String(world.dns.port), IN_NETNS ? '1' : '0', String(THREADS), list], env);
  if (m.code !== 0) {
    console.log(`\ncheckdmarc: the driver failed (exit ${m.code}): ${m.stderr.slice(0, 500)}`);
    return;
  }
  const theirs = JSON.parse(m.stdout);
  console.log(
    `\ncheckdmarc ${theirs.version} (${THREADS} threads, one process): ${formatNumber(theirs.seconds, 2)} s for ${DOMAINS} domains, ` +
      `${formatNumber(DOMAINS / theirs.seconds)} domains/s, peak RSS ${formatNumber(m.peakKb / 1024)} MiB` +
      (IN_NETNS ? '' : ' — records only (no unshare: it fetches policies from port 443 only)'),
  );

  const ours = new Map(results.map((r) => [r.domain, r]));
  const kind = new Map(world.domains.map((d) => [d.domain, d.kind]));
  const verdicts = {
    record: (r) => (r.record.status === 'none' && r.record.raw.length > 0 ? 'not-mta-sts' : r.record.status),
    policy: (r) => (r.policy.status === 'found' ? r.policy.mode : 'no-policy'),
    tlsrpt: (r) => ({ found: 'valid', none: 'missing', invalid: 'invalid', multiple: 'invalid' })[r.tlsrpt.status] ?? r.tlsrpt.status,
  };
  const rows = [];
  const disagreements = {};
  for (const aspect of ['record', 'policy', 'tlsrpt']) {
    let compared = 0;
    let agree = 0;
    for (const t of theirs.results) {
      const o = ours.get(t.domain);
      if (aspect === 'policy' && (t.policy === null || verdicts.record(o) !== 'found')) continue;
      compared += 1;
      const a = verdicts[aspect](o);
      if (a === t[aspect]) agree += 1;
      else {
        const key = `${aspect}: ${kind.get(t.domain)} — mtasts ${a}, checkdmarc ${t[aspect]}`;
        disagreements[key] ??= { n: 0, example: t };
        disagreements[key].n += 1;
      }
    }
    rows.push([aspect, String(compared), String(agree), compared ? `${formatNumber((100 * agree) / compared, 1)} %` : '-']);
  }
  console.log(table([['verdict', 'domains compared', 'agree', 'agreement'], ...rows]));
  for (const [key, { n, example }] of Object.entries(disagreements)) {
    const why = example.recordError ?? example.policyError ?? '';
    console.log(`  differ: ${key} (${n} domains; e.g. ${example.domain}${why ? `: ${why.slice(0, 140)}` : ''})`);
  }
}

async function measurePython(argv, env) {
  const child = spawn(PYTHON, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  let peakKb = 0;
  const timer = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peakKb = Math.max(peakKb, Number(m[1]));
    } catch {
      // gone
    }
  }, 20);
  const code = await new Promise((resolve) => child.on('close', resolve));
  clearInterval(timer);
  return { code, stdout, stderr, peakKb };
}

// Last, once every declaration above is initialised. The world, in a child process: started,
// reports its ports, stops on 'stop'.
if (args.includes('--serve-world')) {
  const { startWorld } = await import(join(ROOT, 'pkg/js/lab/world.js'));
  const started = performance.now();
  const world = await startWorld({ domains: DOMAINS, mix: 'random', seed: SEED, probe: true, ...(IN_NETNS ? { dnsPort: 53, httpsPort: 443 } : {}) });
  process.send({
    startMs: performance.now() - started,
    dns: world.dns,
    policyPort: world.policyPort,
    smtpPort: world.smtpPort,
    caPem: world.caPem,
    domains: world.domains,
    expected: world.expected(),
  });
  process.on('message', async (m) => {
    if (m === 'certificates') process.send({ certificates: world.certificatesMade() });
    if (m === 'stop') {
      await world.stop();
      process.disconnect();
    }
  });
} else {
  if (!IN_NETNS && !args.includes('--no-netns') && spawnSync('unshare', ['-nm', 'true'], { stdio: 'ignore' }).status === 0) {
    const resolv = join(mkdtempSync(join(tmpdir(), 'mtasts-bench-netns-')), 'resolv.conf');
    writeFileSync(resolv, 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
    const quoted = [process.execPath, SELF, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const run = spawnSync('unshare', ['-nm', 'sh', '-c', `mount --bind ${resolv} /etc/resolv.conf && ip link set lo up && exec ${quoted}`], {
      stdio: 'inherit',
      env: { ...process.env, MTASTS_BENCH_NETNS: '1' },
    });
    process.exit(run.status ?? 1);
  }
  await main();
}
