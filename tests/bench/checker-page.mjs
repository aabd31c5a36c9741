// Benchmark (issue 10, item 4): a full check of each lab domain in the checker page, from the click
// to `data-state="done"`, in Debian's Chromium (playwright-core) against `mtasts serve`'s server
// over the lab, with a scripted STARTTLS MX (both MX hosts of every scenario are probed). Prints
// figures; asserts nothing about time (the machine is shared).
//
//   node tests/bench/checker-page.mjs [--rounds 3]
//
// Per scenario: the median (and min–max) of `rounds` checks in one page, timed inside the page
// (performance.now() around the click, so the figure holds no playwright round trip); beside it
// the same check by the Node hosts in this process (checkDomain, the code `mtasts check --json`
// runs), measured in the same run, and the ratio page / Node. The first check of a page loads the
// check's modules and the full wasm module (the certificate verifier); it is printed on its own.
// Target (issue 10): under a second for a lab domain. `policy-slow` and `dns-timeout` wait for the
// lab's own time-outs (the policy host trickles its body; the DNS server never answers).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { median, table, numberOption } from './measure.mjs';
import { startScriptedMx } from '../js/scripted-mx.mjs';
import { browserMissing, launchChromium, openPage } from '../browser/chromium.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PKG = path.join(ROOT, 'pkg');
const args = process.argv.slice(2);
const option = (name, fallback) => numberOption(name, fallback, args);
const ROUNDS = option('rounds', 3);
// --scenarios a,b: only these lab scenarios (default: all).
const only = args.includes('--scenarios') ? args[args.indexOf('--scenarios') + 1].split(',') : null;
const HELO = 'checker.test';

const missing = browserMissing();
if (missing) {
  console.log(`checker-page benchmark skipped: ${missing}`);
  process.exit(0);
}

const { startLab, scenarios } = await import(pathToFileURL(path.join(PKG, 'js/lab/index.js')));
const { startServer } = await import(pathToFileURL(path.join(PKG, 'js/serve/server.js')));
const { createNodeHosts } = await import(pathToFileURL(path.join(PKG, 'js/node/resolve.js')));
const { checkDomain } = await import(pathToFileURL(path.join(PKG, 'js/cli/check-domain.js')));
const { memoryStore } = await import(pathToFileURL(path.join(PKG, 'js/node/index.js')));

const lab = await startLab();
const mx = await startScriptedMx({ cert: lab.certFor('mx1.enforce-valid.test') });
const dir = mkdtempSync(path.join(tmpdir(), 'mtasts-bench-checker-'));
writeFileSync(path.join(dir, 'lab-ca.pem'), lab.caPem);
const hostOptions = { dnsServers: [lab.dns.server], dnsTimeout: 2000, ca: lab.caPem, policyPort: lab.policyPort, timeout: 5000 };
const { dns } = createNodeHosts(hostOptions);
// The benchmark checks each lab domain many times a minute; the limits are not its subject.
const limits = { policyPerDomainPerMinute: 1e6, probePerDomainPerMinute: 1e6, policyPerClientPerMinute: 1e6, probePerClientPerMinute: 1e6, dnsPerClientPerMinute: 1e6 };
const server = await startServer({ port: 0, dns, httpsOptions: { ca: lab.caPem, policyPort: lab.policyPort, timeout: 5000 }, heloName: HELO, smtpPort: mx.port, roots: [lab.caPem], allowPrivate: true, limits });
const browser = await launchChromium();

/** One check in the page, timed inside it: ms from the click to data-state done (or error). */
function timedCheck(page, domain) {
  return page.evaluate(
    (d) =>
      new Promise((resolve) => {
        const root = document.documentElement;
        document.getElementById('domain').value = d;
        const started = performance.now();
        const observer = new MutationObserver(() => {
          if (root.dataset.state === 'done' || root.dataset.state === 'error') {
            observer.disconnect();
            resolve({ ms: performance.now() - started, state: root.dataset.state });
          }
        });
        observer.observe(root, { attributes: true, attributeFilter: ['data-state'] });
        document.getElementById('check-button').click();
      }),
    domain,
  );
}

// The CLI's MX trust anchors with --ca-file: Node's roots plus the lab CA (one array: its trust
// store is built once, as in a page).
const NODE_ROOTS = [...tls.rootCertificates, lab.caPem];

/** The same check by the Node hosts (what `mtasts check --json` runs), ms. */
async function nodeCheck(domain) {
  const hosts = createNodeHosts(hostOptions);
  const started = performance.now();
  await checkDomain(domain, { ...hosts, store: memoryStore(), probe: { heloName: HELO, port: mx.port, roots: NODE_ROOTS, allowPrivate: true } });
  return performance.now() - started;
}

const fmt = (ms) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
try {
  const origin = server.url.replace(/\/$/, '');
  const { page, problems, close } = await openPage(browser, origin);
  await page.goto(server.url);
  await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
  const first = await timedCheck(page, 'enforce-valid.test');
  const rows = [];
  const all = [];
  for (const s of scenarios.filter((x) => !only || only.includes(x.name))) {
    const inPage = [];
    const inNode = [];
    let state = 'done';
    for (let r = 0; r < ROUNDS; r++) {
      const t = await timedCheck(page, s.domain);
      if (t.state !== 'done') state = t.state;
      inPage.push(t.ms);
      inNode.push(await nodeCheck(s.domain));
    }
    const m = median(inPage);
    all.push(...inPage);
    rows.push([s.name, fmt(m), `${fmt(Math.min(...inPage))}–${fmt(Math.max(...inPage))}`, fmt(median(inNode)), `${(m / median(inNode)).toFixed(2)}×`, state === 'done' ? '' : state]);
  }
  await close();
  const fast = rows.filter((r) => !['policy-slow', 'dns-timeout'].includes(r[0])).map((r) => Number(r[1]));
  console.log(`checker page: a full check per lab scenario (probe of both MX hosts included), ${ROUNDS} rounds, ms`);
  console.log(`Chromium ${browser.version()}, Node ${process.version}; page timed from the click to data-state done`);
  console.log(table([['scenario', 'page median', 'page min–max', 'node median', 'page / node', 'state'], ...rows]));
  console.log(`first check of a fresh page (loads the check's modules and the verifier module): ${fmt(first.ms)} ms`);
  console.log(`medians without policy-slow and dns-timeout (the lab's time-outs): max ${fmt(Math.max(...fast))} ms, median ${fmt(median(fast))} ms; target < 1000 ms`);
  if (problems.length) console.log(`page problems: ${problems.join('; ')}`);
} finally {
  await browser.close();
  await server.close();
  await mx.close();
  await lab.stop();
  rmSync(dir, { recursive: true, force: true });
}
