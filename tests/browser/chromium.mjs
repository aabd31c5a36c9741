// Headless Chromium (Debian's package) through playwright-core, kept on loopback with the LAB.md
// flags: every name but localhost/127.0.0.1 resolves to nothing and any proxy use goes to a
// closed port. Not a test file itself.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

export const CHROMIUM = '/usr/bin/chromium';
const require = createRequire(new URL('../package.json', import.meta.url));

/** Why the browser tests cannot run here, or null. */
export function browserMissing() {
  if (!existsSync(CHROMIUM)) return 'Chromium is not installed (apt-get install chromium; scripts/setup installs it)';
  try {
    require.resolve('playwright-core');
  } catch {
    return 'playwright-core is not installed (cd tests && npm ci)';
  }
  return null;
}

export async function launchChromium() {
  const { chromium } = require('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1',
      '--proxy-server=http://127.0.0.1:9',
    ],
  });
}

/** A page that records console errors, page errors and requests outside `origin`. */
export async function openPage(browser, origin) {
  const context = await browser.newContext();
  const page = await context.newPage();
  // A bound on each wait, not a measurement: generous, so a machine busy with other work (a full
  // suite beside a fuzz run saw one 30 s wait pass) fails only when the page really hangs.
  page.setDefaultTimeout(120_000);
  const problems = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('request', (r) => !r.url().startsWith(origin) && !r.url().startsWith('blob:') && !r.url().startsWith('data:') && problems.push(`request outside: ${r.url()}`));
  return { page, problems, close: () => context.close() };
}

/** Runs a check in the page and returns window.mtastsReport. */
export async function checkInPage(page, domain) {
  await page.fill('#domain', domain);
  await page.click('#check-button');
  await page.waitForFunction(() => ['done', 'error'].includes(document.documentElement.dataset.state), null, { timeout: 120_000 });
  return page.evaluate(() => window.mtastsReport);
}
