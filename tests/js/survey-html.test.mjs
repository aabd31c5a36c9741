// The survey's HTML report opened in headless Chromium (playwright-core, Debian's chromium): it
// renders its charts with no console error, asks for nothing but itself, and sorts its table.
// Skips, saying why, when Chromium or playwright-core is absent. UPDATE_SCREENSHOTS=1 writes the
// screenshot shown in README.md to docs/survey-report.png.
// Run: node --test tests/js/survey-html.test.mjs
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { startWorld, worldFiles, worldFlags, runCli } from './survey-lab.mjs';
import { ROOT } from './built-package.mjs';

const CHROMIUM = '/usr/bin/chromium';
let playwright = null;
try {
  playwright = await import('playwright-core');
} catch {
  // reported by the skip below
}
const missing = !existsSync(CHROMIUM) ? `${CHROMIUM} is not installed (scripts/setup installs Debian's chromium)` : !playwright ? 'playwright-core is not installed (npm ci in tests/)' : null;

let world;
let files;
before(async () => {
  if (missing) return;
  world = await startWorld({ domains: 60, mix: 'random', seed: 11, probe: true });
  files = worldFiles(world, 'html');
});
after(() => world?.stop());

test('the HTML report in Chromium: four charts drawn, no console error, no request but the page, sortable', { timeout: 180_000, skip: missing ?? false }, async () => {
  const report = join(files.dir, 'report.html');
  const r = await runCli(['survey', files.list, '--html', report, '--quiet', ...worldFlags(world, files, { probe: true })]);
  assert.equal(r.code, 0, r.stderr);
  const page = readFileSync(report);
  const server = http.createServer((req, res) => {
    res.writeHead(req.url === '/' ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    res.end(req.url === '/' ? page : 'not found');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/`;
  // LAB.md: these flags keep Chromium from reaching any host outside loopback.
  const browser = await playwright.chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1', '--proxy-server=http://127.0.0.1:9'],
  });
  try {
    const tab = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const problems = [];
    const requests = [];
    tab.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    tab.on('pageerror', (e) => problems.push(e.message));
    tab.on('request', (q) => requests.push(q.url()));
    await tab.goto(url, { waitUntil: 'load' });

    const charts = await tab.$$eval('svg.chart', (svgs) =>
      svgs.map((svg) => ({ id: svg.id, box: svg.getBoundingClientRect().width, bars: [...svg.querySelectorAll('rect.bar')].map((b) => b.getBoundingClientRect().width) })),
    );
    assert.deepEqual(charts.map((c) => c.id), ['chart-mode', 'chart-misconfiguration', 'chart-max-age', 'chart-tlsrpt']);
    for (const c of charts) {
      assert.ok(c.box > 100, `${c.id} is laid out`);
      assert.ok(c.bars.some((w) => w > 0), `${c.id} draws a bar`);
    }
    const rows = await tab.$$eval('#domains tbody tr', (trs) => trs.length);
    assert.equal(rows, 60);

    const column = (i) => tab.$$eval(`#domains tbody tr td:nth-child(${i})`, (tds) => tds.map((td) => td.textContent));
    const names = world.domains.map((d) => d.domain);
    await tab.click('#domains th:nth-child(1)');
    assert.deepEqual(await column(1), names.slice().sort((a, b) => a.localeCompare(b)));
    await tab.click('#domains th:nth-child(1)');
    assert.deepEqual(await column(1), names.slice().sort((a, b) => b.localeCompare(a)));
    await tab.click('#domains th:nth-child(5)'); // max_age, numerically
    const ages = (await column(5)).filter((x) => x !== '').map(Number);
    assert.deepEqual(ages, ages.slice().sort((a, b) => a - b));
    await tab.click('#domains th:nth-child(1)');

    assert.deepEqual(problems, []);
    assert.deepEqual([...new Set(requests)], [url]);
    const shot = process.env.UPDATE_SCREENSHOTS === '1' ? join(ROOT, 'docs', 'survey-report.png') : join(files.dir, 'survey-report.png');
    await tab.screenshot({ path: shot, fullPage: false });
    assert.ok(existsSync(shot));
  } finally {
    await browser.close();
    await new Promise((resolve) => server.close(resolve));
  }
});
