// Screenshots of the checker page for the README: a valid domain, a broken domain and the lint tab,
// against the loopback lab (docs/checker-valid.png, docs/checker-broken.png, docs/checker-lint.png).
// Run: scripts/build && node tests/browser/screenshots.mjs [--dark]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { PKG, ROOT, assertBuilt } from '../js/built-package.mjs';
import { startScriptedMx } from '../js/scripted-mx.mjs';
import { browserMissing, launchChromium, checkInPage } from './chromium.mjs';

assertBuilt();
const missing = browserMissing();
if (missing) {
  console.error(`screenshots: ${missing}`);
  process.exit(1);
}
const { startLab } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));
await import(pathToFileURL(join(PKG, 'js/node/index.js')));
const { startServer } = await import(pathToFileURL(join(PKG, 'js/serve/server.js')));
const { createNodeHosts } = await import(pathToFileURL(join(PKG, 'js/node/resolve.js')));

const dark = process.argv.includes('--dark');
const out = join(ROOT, 'docs');
mkdirSync(out, { recursive: true });
const lab = await startLab();
const tmp = mkdtempSync(join(tmpdir(), 'mtasts-shots-'));
// One certificate for both MX hosts of enforce-valid.test, so that the valid domain is valid throughout.
const mx = await startScriptedMx({ cert: lab.issueCert({ names: ['mx1.enforce-valid.test', 'mx2.enforce-valid.test'] }) });
const { dns } = createNodeHosts({ dnsServers: [lab.dns.server], dnsTimeout: 2000 });
const server = await startServer({ port: 0, dns, httpsOptions: { ca: lab.caPem, policyPort: lab.policyPort, timeout: 5000 }, heloName: 'checker.test', smtpPort: mx.port, roots: [lab.caPem], allowPrivate: true });
const browser = await launchChromium();
try {
  const context = await browser.newContext({ viewport: { width: 960, height: 800 }, colorScheme: dark ? 'dark' : 'light' });
  const page = await context.newPage();
  await page.goto(server.url);
  await page.waitForFunction(() => document.documentElement.dataset.state === 'ready');
  const suffix = dark ? '-dark' : '';
  await checkInPage(page, 'enforce-valid.test');
  await page.screenshot({ path: join(out, `checker-valid${suffix}.png`), fullPage: true });
  await checkInPage(page, 'mx-not-in-policy.test');
  await page.screenshot({ path: join(out, `checker-broken${suffix}.png`), fullPage: true });
  await page.click('#tab-lint');
  await page.fill('#lint-text', 'version: STSv1\nmode: enforcing\nmx: mail.example.com\nmx: *.*.example.net\nmax_age: 31557601\n');
  await page.screenshot({ path: join(out, `checker-lint${suffix}.png`), fullPage: true });
  console.log(`screenshots: ${out}/checker-{valid,broken,lint}${suffix}.png`);
} finally {
  await browser.close();
  await server.close();
  await mx.close();
  await lab.stop();
  rmSync(tmp, { recursive: true, force: true });
}
