// The README's browser recipes, built from the packed package (npm pack → npm install in a scratch
// project, as a user's app has it) with esbuild and with Vite, each page served over
// http://127.0.0.1 and run in headless Chromium (loopback only, tests/browser/chromium.mjs): the
// page loads the module from the bundler's URL of `mtasts/wasm`, parses and lints a policy, and
// shows the result. Skipped, with the reason, where Chromium or playwright-core is missing.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { createRequire } from 'node:module';
import { ROOT, assertBuilt } from './built-package.mjs';
import { installPacked } from './packed-package.mjs';
import { browserMissing, launchChromium, openPage } from '../browser/chromium.mjs';

assertBuilt();

const require = createRequire(join(ROOT, 'tests', 'package.json'));
const missing = browserMissing();
let installed;
let browser;

before(async () => {
  installed = await installPacked({ name: 'bundlers' });
  cpSync(join(ROOT, 'tests', 'bundlers'), installed.app, { recursive: true });
  if (!missing) browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  installed?.remove();
});

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };

/** Serves `dir` on 127.0.0.1; resolves { origin, requests, close }. */
async function serve(dir) {
  const requests = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    requests.push(path);
    if (path === '/favicon.ico') return res.writeHead(204).end(); // the browser's own request
    const file = normalize(join(dir, path === '/' ? 'index.html' : path));
    if (!file.startsWith(dir) || !existsSync(file)) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, requests, close: () => new Promise((r) => server.close(r)) };
}

async function runPage(dist) {
  const site = await serve(dist);
  const { page, problems, close } = await openPage(browser, site.origin);
  try {
    await page.goto(`${site.origin}/`);
    await page.waitForFunction(() => ['done', 'error'].includes(document.documentElement.dataset.state), null, { timeout: 120_000 });
    const state = await page.evaluate(() => document.documentElement.dataset.state);
    const text = await page.textContent('#result');
    assert.equal(state, 'done', text ?? '');
    return { result: await page.evaluate(() => window.mtastsResult), text, problems, requests: site.requests };
  } finally {
    await close();
    await site.close();
  }
}

function checkResult({ result, text, problems, requests }) {
  assert.deepEqual(problems, [], `requests: ${requests.join(' ')}`);
  assert.equal(result.before, 'not-initialized', 'before init(): not-initialized');
  assert.equal(result.mode, 'enforce');
  assert.deepEqual(result.mx, ['*.mail.example.com']);
  assert.deepEqual(result.matches, [true, false]);
  assert.ok(result.lint.some((d) => /^2:\d+ error policy-mode/.test(d)), result.lint.join('\n'));
  assert.match(text, /^policy: mode enforce, mx \*\.mail\.example\.com\n/);
  assert.equal(requests.filter((r) => r.endsWith('.wasm')).length, 1, `one module fetched: ${requests.join(' ')}`);
}

test('esbuild: the README recipe builds a page that parses and lints in Chromium', { timeout: 300_000, skip: missing ?? false }, async () => {
  const esbuild = require('esbuild');
  const dir = join(installed.app, 'esbuild');
  await esbuild.build({
    absWorkingDir: installed.app,
    entryPoints: [join(dir, 'app.js')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    loader: { '.wasm': 'file' },
    outdir: join(dir, 'dist'),
    logLevel: 'silent',
  });
  cpSync(join(dir, 'index.html'), join(dir, 'dist', 'index.html'));
  assert.ok(readdirSync(join(dir, 'dist')).some((f) => /^mtasts_bg-.*\.wasm$/.test(f)), 'the module is in the output');
  checkResult(await runPage(join(dir, 'dist')));
});

test('Vite: the README recipe builds a page that parses and lints in Chromium', { timeout: 300_000, skip: missing ?? false }, async () => {
  const { build } = await import(require.resolve('vite'));
  const dir = join(installed.app, 'vite');
  await build({ root: dir, configFile: false, logLevel: 'silent', build: { outDir: join(dir, 'dist'), target: 'es2022', emptyOutDir: true } });
  assert.ok(readdirSync(join(dir, 'dist', 'assets')).some((f) => f.endsWith('.wasm')), 'the module is an asset');
  checkResult(await runPage(join(dir, 'dist')));
});
