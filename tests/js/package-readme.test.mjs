// The npm README (pkg-template/README.md) against the package: its error-code table is the core's
// (scripts/error-table.mjs --check), and each ```js runnable example runs, as a user would run it,
// in a project that installed the packed package (plus smtp-server for the lab MX and nodemailer for
// the nodemailer example); the examples use the lab, so only loopback is used, and they assert what
// they claim. Every js block is also type-checked (package-types.test.mjs).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, assertBuilt } from './built-package.mjs';
import { installPacked } from './packed-package.mjs';
import { readmeBlocks } from './readme-blocks.mjs';

assertBuilt();

const run = promisify(execFile);
const README = readFileSync(join(ROOT, 'pkg-template', 'README.md'), 'utf8');
const runnable = readmeBlocks(README).filter((b) => b.tags.includes('runnable'));
let installed;

before(async () => {
  installed = await installPacked({ name: 'readme', peers: ['smtp-server', 'nodemailer'] });
});
after(() => installed?.remove());

test('the README error-code table is the one errorCodes() gives (node scripts/error-table.mjs)', { timeout: 60_000 }, async () => {
  await run(process.execPath, [join(ROOT, 'scripts', 'error-table.mjs'), '--check'], { encoding: 'utf8', timeout: 50_000 });
});

test('the README has runnable examples for each part of the surface', { timeout: 5_000 }, () => {
  const all = runnable.map((b) => b.code).join('\n');
  for (const name of ['parsePolicy', 'lintPolicy', 'matchMx', 'selectRecord', 'resolvePolicy', 'fileStore', 'PolicyResolver', 'verifyCertificate', 'connectMx', 'nodemailerSocket', 'buildTlsRptReports', 'readTlsRptReport', 'parseTlsRptRecord', 'memoryTlsrptLog', 'socketmapAnswer', 'startLab', 'startLabMx']) {
    assert.ok(all.includes(name), `a runnable example uses ${name}`);
  }
});

for (const block of runnable) {
  test(`README line ${block.line}: the example runs`, { timeout: 180_000 }, async () => {
    const file = join(installed.app, `readme-${block.line}.mjs`);
    writeFileSync(file, block.code);
    try {
      await run(process.execPath, [file], { cwd: installed.app, encoding: 'utf8', timeout: 170_000 });
    } catch (err) {
      assert.fail(`README line ${block.line} failed (exit ${err.code}):\n${err.stdout}\n${err.stderr}`);
    }
  });
}

test('the README names every export of every entry (`name` in backticks)', { timeout: 30_000 }, async () => {
  const { pathToFileURL } = await import('node:url');
  const missing = [];
  for (const entry of ['js/node/index.js', 'js/browser/index.js', 'js/lab/index.js']) {
    const mod = await import(pathToFileURL(join(ROOT, 'pkg', entry)).href);
    for (const name of Object.keys(mod)) if (!new RegExp('`' + name + '[`(.]').test(README)) missing.push(`${entry}: ${name}`);
  }
  assert.deepEqual(missing, [], 'document them in pkg-template/README.md');
});
