// The checker page (js/checker/) in a real browser — Debian's Chromium through playwright-core —
// served by `mtasts serve`'s server over the lab: every lab scenario checked in the page equals
// `mtasts check --json` for the same domain and world; the lint tab equals lintPolicy on the
// policy vectors; a TXT record holding markup shows as text; private targets are refused when
// --allow-private is not given; no console errors; a keyboard-only run through a check.
// Normalised before comparing: policy.fetchedAt and policy.expiresAt (the moment each side
// fetched; they differ by the seconds between the two runs). Nothing else.
//
// Skipped (with the reason) when Chromium or playwright-core is missing.
// Run: scripts/build && node --test tests/js/checker-page.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, CLI, ROOT, assertBuilt } from './built-package.mjs';
import { startScriptedMx } from './scripted-mx.mjs';
import { browserMissing, launchChromium, openPage, checkInPage } from '../browser/chromium.mjs';

assertBuilt();
const skip = browserMissing() ?? false;
if (skip) console.log(`# checker-page: skipped: ${skip}`);

const { startLab, scenarios } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));
const { lintPolicy } = await import(pathToFileURL(join(PKG, 'js/node/index.js')));
const { startServer } = await import(pathToFileURL(join(PKG, 'js/serve/server.js')));
const { createNodeHosts } = await import(pathToFileURL(join(PKG, 'js/node/resolve.js')));

const HELO = 'checker.test';
// The suite checks the same lab domains many times a minute; the limits themselves are
// tests/js/serve-helpers.test.mjs's subject.
const TEST_LIMITS = { policyPerDomainPerMinute: 1000, probePerDomainPerMinute: 1000, policyPerClientPerMinute: 1000, probePerClientPerMinute: 1000, dnsPerClientPerMinute: 10000 };
let lab, mx, dir, caFile, server, privateRefused, browser;

function mtasts(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 120000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

async function cliReport(domain) {
  const run = await mtasts(['check', domain, '--json', '--dns-server', lab.dns.server, '--ca-file', caFile, '--policy-port', String(lab.policyPort), '--smtp-port', String(mx.port), '--allow-private', '--timeout', '5000', '--dns-timeout', '2000', '--store', 'memory', '--helo', HELO]);
  assert.equal(run.stderr, '');
  return JSON.parse(run.stdout);
}

const normalise = (r) => ({ ...r, policy: { ...r.policy, fetchedAt: r.policy.fetchedAt && 'T', expiresAt: r.policy.expiresAt && 'T' } });

function serverFor(allowPrivate) {
  const { dns } = createNodeHosts({ dnsServers: [lab.dns.server], dnsTimeout: 2000 });
  return startServer({ port: 0, dns, httpsOptions: { ca: lab.caPem, policyPort: lab.policyPort, timeout: 5000 }, heloName: HELO, smtpPort: mx.port, roots: [lab.caPem], allowPrivate, limits: TEST_LIMITS });
}

before(async () => {
  if (skip) return;
  lab = await startLab();
  mx = await startScriptedMx({ cert: lab.certFor('mx1.enforce-valid.test') });
  dir = mkdtempSync(join(tmpdir(), 'mtasts-checker-'));
  caFile = join(dir, 'lab-ca.pem');
  writeFileSync(caFile, lab.caPem);
  server = await serverFor(true);
  privateRefused = await serverFor(false);
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.close();
  await privateRefused?.close();
  await mx?.close();
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the checker page in Chromium', { skip }, () => {
  test('every lab scenario: the page report equals check --json; no console errors, no outside request', { timeout: 600_000 }, async () => {
    const origin = server.url.replace(/\/$/, '');
    const { page, problems, close } = await openPage(browser, origin);
    await page.goto(server.url);
    await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
    const times = [];
    for (const s of scenarios) {
      const started = performance.now();
      const inPage = await checkInPage(page, s.domain);
      times.push([s.name, performance.now() - started]);
      const cli = await cliReport(s.domain);
      assert.deepEqual(normalise(inPage), normalise(cli), `${s.name}: page and CLI differ`);
      // The summary never counts "0 problems"; a domain without a valid record gets one to copy,
      // with a policy built from its MX hosts (issue 10).
      assert.doesNotMatch(await page.textContent('#summary'), /\b0 problems/, s.name);
      if (['no-record', 'invalid-record', 'multiple-records'].includes(s.name)) {
        assert.match(await page.locator('#results .suggestion').first().innerText(), new RegExp(`mx: mx1\\.${s.name}\\.test`), s.name);
      }
    }
    // Benchmark figure (not asserted): time from the click to data-state "done", per scenario.
    console.log(`# page check, ms: ${times.map(([n, ms]) => `${n} ${ms.toFixed(0)}`).join(', ')}`);
    assert.deepEqual(problems, []);
    await close();
  });

  test('first load: without the verifier (figure printed); the full module comes with the first probe', { timeout: 600_000 }, async () => {
    const { page, problems, close } = await openPage(browser, server.url.replace(/\/$/, ''));
    const loaded = [];
    page.on('response', async (r) => loaded.push(r));
    await page.goto(server.url);
    await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
    const files = [];
    for (const r of loaded.splice(0)) if (r.status() === 200) files.push([new URL(r.url()).pathname, gzipSync(await r.body(), { level: 9 }).length]);
    const total = files.reduce((n, [, size]) => n + size, 0);
    // Figure (asserted: it is a size, not a time): every file of the first load, gzip -9 each.
    console.log(`# first load: ${files.length} files, ${(total / 1024).toFixed(1)} KiB gzip (${files.map(([p, n]) => `${p.split('/').pop()} ${n}`).join(', ')})`);
    // Issue 10: the first load (HTML, CSS, JS, wasm) is at most 120 KiB gzip.
    assert.ok(total <= 120 * 1024, `first load ${total} bytes gzip, over 120 KiB`);
    assert.ok(files.some(([p]) => p.endsWith('/mtasts_lite_bg.wasm')));
    assert.ok(!files.some(([p]) => p.endsWith('/mtasts_bg.wasm')), 'the verifier is not in the first load');
    // The lint tab works on the first load alone: linting asks for no file.
    await page.click('#tab-lint');
    await page.fill('#lint-text', 'version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 86400\n');
    assert.equal(await page.evaluate(() => window.mtastsLint.diagnostics.length), 0);
    assert.deepEqual(loaded.filter((r) => r.status() === 200), [], 'linting loaded nothing more');
    await page.click('#tab-check');
    await checkInPage(page, 'enforce-valid.test');
    assert.ok(loaded.some((r) => r.url().endsWith('/wasm/mtasts_bg.wasm')), 'the probe loaded the full module');
    assert.deepEqual(problems, []);
    await close();
  });

  test('the lint tab equals lintPolicy on every policy vector', { timeout: 600_000 }, async () => {
    const vectors = JSON.parse(readFileSync(join(ROOT, 'tests/vectors/policy.json'), 'utf8'));
    const { page, problems, close } = await openPage(browser, server.url.replace(/\/$/, ''));
    await page.goto(server.url);
    await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
    await page.click('#tab-lint');
    for (const v of vectors) {
      // A text area turns CR and CRLF into LF (HTML's value normalisation), so vectors with a CR
      // go through the file input, which keeps the bytes.
      // A vector given as bytes (inputBase64, e.g. invalid UTF-8) goes through the file input too.
      const bytes = v.inputBase64 === undefined ? null : Buffer.from(v.inputBase64, 'base64');
      const runs = Number(await page.evaluate(() => document.documentElement.dataset.lints ?? 0));
      if (bytes || v.input.includes('\r')) {
        // The file is read asynchronously: wait for its lint run.
        await page.setInputFiles('#lint-file', { name: 'mta-sts.txt', mimeType: 'text/plain', buffer: bytes ?? Buffer.from(v.input, 'utf8') });
        await page.waitForFunction((n) => Number(document.documentElement.dataset.lints) > n, runs);
      } else await page.fill('#lint-text', v.input);
      const inPage = await page.evaluate(() => window.mtastsLint);
      const expected = JSON.parse(JSON.stringify(lintPolicy(bytes ? new Uint8Array(bytes) : v.input)));
      if (v.input === '') assert.equal(inPage, null, 'empty text: nothing linted');
      else assert.deepEqual(inPage, expected, v.name);
    }
    assert.ok(vectors.length > 10);
    assert.deepEqual(problems, []);
    await close();
  });

  test('a TXT record holding markup renders as text', { timeout: 600_000 }, async () => {
    const markup = 'v=STSv1; id=<b>bold</b><img src=x onerror="window.pwned=1">';
    lab.update('invalid-record', { txt: [[markup]] });
    try {
      const { page, problems, close } = await openPage(browser, server.url.replace(/\/$/, ''));
      await page.goto(server.url);
      await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
      const report = await checkInPage(page, 'invalid-record.test');
      assert.deepEqual(report.record.raw, [[markup]]);
      assert.equal(await page.locator('#results b, #results img').count(), 0, 'no element made from the record');
      assert.ok((await page.locator('#results').innerText()).includes('<b>bold</b>'), 'the markup is shown as text');
      assert.equal(await page.evaluate(() => window.pwned), undefined);
      assert.deepEqual(problems, []);
      await close();
    } finally {
      lab.reset('invalid-record');
    }
  });

  test('without --allow-private the helpers refuse loopback targets; the page says not checkable', { timeout: 600_000 }, async () => {
    const r = await fetch(`${privateRefused.url}api/policy?domain=enforce-valid.test`);
    assert.equal(r.status, 403);
    assert.equal((await r.json()).code, 'serve-target-refused');
    const origin = privateRefused.url.replace(/\/$/, '');
    const { page, problems, close } = await openPage(browser, origin);
    await page.goto(privateRefused.url);
    await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
    const report = await checkInPage(page, 'enforce-valid.test');
    assert.equal(report.policy.fetch.answered, false);
    assert.equal(report.policy.fetch.detail, 'serve-target-refused');
    assert.match(await page.locator('[data-check="Policy fetch"]').innerText(), /not checked: the checker's server does not connect to private or loopback addresses \(serve-target-refused\)/);
    assert.match(await page.locator('[data-check="MX mx1.enforce-valid.test"]').innerText(), /serve-target-refused/);
    // 403 answers show in the console as failed resources; nothing else may.
    assert.deepEqual(problems.filter((p) => !/status of 403/.test(p)), []);
    await close();
  });

  test('as static files (no helpers): DNS checks run, the policy and MX hosts are "not checkable", no failure', { timeout: 600_000 }, async () => {
    const { page, problems, close } = await openPage(browser, server.url.replace(/\/$/, ''));
    const helperCalls = [];
    page.on('request', (r) => new URL(r.url()).pathname.startsWith('/api/') && helperCalls.push(r.url()));
    const wasmLoads = [];
    page.on('request', (r) => r.url().endsWith('.wasm') && wasmLoads.push(new URL(r.url()).pathname));
    // A static host's config.json: no helpers, a DoH resolver (here the server's, on the same origin).
    await page.route('**/config.json', (route) => route.fulfill({ contentType: 'application/json', body: JSON.stringify({ helpers: false, doh: '/dns-query' }) }));
    await page.goto(server.url);
    await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
    const report = await checkInPage(page, 'enforce-valid.test');
    assert.equal(report.record.status, 'found');
    assert.equal(report.policy.fetch.detail, 'not-checkable-from-browser');
    // Without the policy, matching is unknown (null), and no probe was made.
    const nc = 'not-checkable-from-browser';
    assert.deepEqual(report.mx.map((h) => [h.host, h.matchesPolicy, h.probe.error.code]), [['mx1.enforce-valid.test', null, nc], ['mx2.enforce-valid.test', null, nc]]);
    assert.deepEqual(helperCalls, []);
    // The record, policy and lint part of a check never loads the certificate verifier.
    assert.deepEqual(wasmLoads, ['/wasm/mtasts_lite_bg.wasm']);
    assert.equal(await page.getAttribute('#summary', 'class'), 'warn');
    assert.equal(await page.locator('#results li.check.bad').count(), 0, 'nothing shown as a failure');
    assert.deepEqual(problems, []);
    await close();
  });

  test('shared by URL and downloaded as JSON: #check=<domain> runs the check; the download is the report', { timeout: 300_000 }, async () => {
    const { page, problems, close } = await openPage(browser, server.url.replace(/\/$/, ''));
    await page.goto(`${server.url}#check=enforce-valid.test`);
    await page.waitForFunction(() => document.documentElement.dataset.state === 'done');
    const report = await page.evaluate(() => window.mtastsReport);
    assert.equal(report.domain, 'enforce-valid.test');
    assert.equal(await page.inputValue('#domain'), 'enforce-valid.test');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    assert.equal(download.suggestedFilename(), 'mtasts-enforce-valid.test.json');
    const chunks = [];
    for await (const c of await download.createReadStream()) chunks.push(c);
    assert.deepEqual(JSON.parse(Buffer.concat(chunks).toString('utf8')), report);
    // A link pasted into the same tab (only the fragment changes) runs its check too.
    await page.evaluate(() => (location.hash = '#check=testing-valid.test'));
    await page.waitForFunction(() => document.documentElement.dataset.state === 'done' && window.mtastsReport?.domain === 'testing-valid.test');
    // A malformed link is no check and no error.
    await page.evaluate(() => (location.hash = '#check=%E0%A4%A'));
    assert.equal(await page.evaluate(() => document.documentElement.dataset.state), 'done');
    assert.deepEqual(problems, []);
    await close();
  });

  test('keyboard only: Tab to the domain, type, Enter; the result rows are reachable and expand', { timeout: 600_000 }, async () => {
    const { page, problems, close } = await openPage(browser, server.url.replace(/\/$/, ''));
    await page.goto(`${server.url}`);
    await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
    for (let i = 0; i < 10 && (await page.evaluate(() => document.activeElement?.id)) !== 'domain'; i++) await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'domain');
    await page.keyboard.type('enforce-valid.test');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.documentElement.dataset.state === 'done');
    assert.equal(await page.evaluate(() => window.mtastsReport.domain), 'enforce-valid.test');
    await page.keyboard.press('Tab'); // the button
    await page.keyboard.press('Tab'); // the first row's summary
    assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'SUMMARY');
    const before = await page.evaluate(() => document.activeElement.parentElement.open);
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.parentElement.open), !before);
    assert.deepEqual(problems, []);
    await close();
  });
});
