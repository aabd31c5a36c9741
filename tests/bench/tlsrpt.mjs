// TLS-RPT figures (issue 9): what recording costs per delivery, and what building a day's reports
// costs for many domains. Prints figures; asserts nothing.
//   recording: attempt-records.js recordAttempts for one delivery of one attempt (what the relay
//     does after each delivery), into the file log (an O_APPEND line) and the memory log: µs/delivery
//   building: `--domains` policy domains × `--sessions` sessions recorded in the file log (as a day
//     of the relay leaves it) → sessionResultsFor (reading and parsing the day) → buildTlsRptReports
//     (the core: aggregation, JSON, report-id) → gzip: seconds, and the process's peak RSS
// Run: scripts/build && node tests/bench/tlsrpt.mjs [--domains 10000] [--sessions 100] [--deliveries 20000]
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { performance } from 'node:perf_hooks';

const ROOT = new URL('../../', import.meta.url).pathname;
const PKG = process.env.MTASTS_PKG ?? join(ROOT, 'pkg');
const load = (p) => import(pathToFileURL(join(PKG, p)));
const { buildTlsRptReports } = await load('js/node/index.js');
const { fileTlsrptLog, memoryTlsrptLog, sessionResultsFor } = await load('js/relay/tlsrpt-log.js');
const { recordAttempts } = await load('js/relay/attempt-records.js');

const { values } = parseArgs({
  options: { domains: { type: 'string', default: '10000' }, sessions: { type: 'string', default: '100' }, deliveries: { type: 'string', default: '20000' } },
  strict: false,
});
const DOMAINS = Number(values.domains);
const SESSIONS = Number(values.sessions);
const DELIVERIES = Number(values.deliveries);
const DAY = '2026-11-30';
const dir = mkdtempSync(join(tmpdir(), 'mtasts-bench-tlsrpt-'));
const mib = (b) => (b / 1048576).toFixed(0);
let peak = 0;
const sample = () => (peak = Math.max(peak, process.memoryUsage().rss));
const sampler = setInterval(sample, 20);

try {
  // --- recording -------------------------------------------------------------------------------
  const policy = { status: 'found', source: 'cache', id: 'p1', policy: { version: 'STSv1', mode: 'testing', maxAge: 86400, mx: ['mx1.example.com', '*.mx.example.com'], extensions: {} }, errors: [] };
  const counter = { inc() {} };
  const metrics = { policyLookups: counter, mxAttempts: counter, tlsFailures: counter };
  const log = { debug() {}, error() {} };
  const result = (i) => ({
    policy,
    policyType: 'sts',
    trace: { policyId: 'p1', mode: 'testing' },
    attempts: [{ host: 'mx1.example.com', address: '192.0.2.25', sendingIp: '198.51.100.7', result: i % 10 === 0 ? 'certificate-expired' : 'success', tlsrpt: i % 10 === 0 ? 'certificate-expired' : null, message: i % 10 === 0 ? 'the certificate expired' : null }],
  });
  console.log(`recording: ${DELIVERIES} deliveries, one attempt each (1 in 10 a failure), policy mode testing`);
  for (const [name, tlsrpt] of [['file log', fileTlsrptLog(join(dir, 'rec'))], ['memory log', memoryTlsrptLog()]]) {
    const relay = { metrics, log, tlsrpt, clock: () => Date.parse(`${DAY}T12:00:00Z`), seenPolicies: new WeakSet() };
    for (let i = 0; i < 200; i++) await recordAttempts(relay, `warm${i % 7}.example.com`, result(i)); // warm-up
    const t0 = performance.now();
    for (let i = 0; i < DELIVERIES; i++) await recordAttempts(relay, `d${i % 500}.example.com`, result(i));
    const us = ((performance.now() - t0) * 1000) / DELIVERIES;
    console.log(`  ${name.padEnd(10)} ${us.toFixed(1)} µs per delivery`);
  }

  // --- building --------------------------------------------------------------------------------
  console.log(`building: ${DOMAINS} policy domains × ${SESSIONS} sessions = ${DOMAINS * SESSIONS} session records, one UTC day`);
  const logDir = join(dir, 'day');
  mkdirSync(join(logDir, DAY), { recursive: true });
  let t = performance.now();
  let bytes = 0;
  for (let d = 0; d < DOMAINS; d++) {
    const domain = `domain${d}.example`;
    const strings = ['version: STSv1', 'mode: testing', `mx: mx1.${domain}`, `mx: *.mx.${domain}`, 'max_age: 604800'];
    const lines = [];
    for (let s = 0; s < SESSIONS; s++) {
      const fail = s % 10 === 0;
      lines.push(JSON.stringify({
        at: `${DAY}T${String(s % 24).padStart(2, '0')}:00:00.000Z`, policyDomain: domain, policyType: 'sts', policyId: 'p1', mode: 'testing',
        policyStrings: strings, mxPatterns: [`mx1.${domain}`, `*.mx.${domain}`], count: 1, kind: 'session',
        mx: `mx1.${domain}`, address: `192.0.2.${s % 4}`, sendingIp: '198.51.100.7',
        result: fail ? (s % 20 === 0 ? 'certificate-expired' : 'starttls-not-supported') : 'success', code: fail ? 'certificate-expired' : 'success',
      }));
    }
    const text = lines.join('\n') + '\n';
    bytes += text.length;
    writeFileSync(join(logDir, DAY, `${domain}.jsonl`), text);
  }
  console.log(`  wrote the day's records: ${mib(bytes)} MiB in ${((performance.now() - t) / 1000).toFixed(1)} s (setup, not measured below)`);

  peak = 0;
  t = performance.now();
  const results = await sessionResultsFor(fileTlsrptLog(logDir), DAY);
  const tRead = performance.now() - t;
  sample();
  t = performance.now();
  const reports = buildTlsRptReports({ organization: 'Bench Org', contact: 'mailto:tlsrpt@bench.example', submitter: 'relay.bench.example', day: DAY, results });
  const tBuild = performance.now() - t;
  sample();
  t = performance.now();
  let gz = 0;
  for (const r of reports) gz += gzipSync(Buffer.from(r.json, 'utf8')).length;
  const tGzip = performance.now() - t;
  sample();
  console.log(`  sessionResultsFor (read, parse, merge the day)    ${(tRead / 1000).toFixed(2)} s`);
  console.log(`  buildTlsRptReports (the core)                     ${(tBuild / 1000).toFixed(2)} s  → ${reports.length} reports, ${results.length} merged results, ${((tBuild * 1000) / (DOMAINS * SESSIONS)).toFixed(2)} µs per recorded session`);
  console.log(`  gzip of every report                              ${(tGzip / 1000).toFixed(2)} s  → ${mib(gz)} MiB (${(gz / reports.length).toFixed(0)} bytes per report)`);
  console.log(`  total ${((tRead + tBuild + tGzip) / 1000).toFixed(2)} s; peak RSS ${mib(peak)} MiB (Node ${process.version})`);
} finally {
  clearInterval(sampler);
  rmSync(dir, { recursive: true, force: true });
}
