// The package as a consumer gets it: `npm pack` pkg/, install the tarball in a scratch project,
// import it by name (ESM, the `node` export condition) in a fresh node process, run its `mtasts` bin.
// Also the browser entry (the `default` condition), loaded here by path: not initialised → clear
// error; after `await init(bytes)` → works.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, EXAMPLES, assertBuilt } from './built-package.mjs';

assertBuilt();

let scratch;
let app;

before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'mtasts-consumer-'));
  const packed = JSON.parse(
    execFileSync('npm', ['pack', PKG, '--pack-destination', scratch, '--json', '--loglevel=error'], {
      encoding: 'utf8',
      cwd: scratch,
    }),
  );
  const tarball = join(scratch, packed[0].filename);
  const files = packed[0].files.map((f) => f.path);
  for (const f of ['package.json', 'index.d.ts', 'README.md', 'wasm/mtasts_bg.wasm', 'wasm/mtasts.js', 'js/node/index.js', 'js/browser/index.js', 'js/cli/main.js', 'js/error.js']) {
    assert.ok(files.includes(f), `the tarball holds ${f} (has: ${files.join(', ')})`);
  }
  app = join(scratch, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer-app', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', tarball], {
    cwd: app,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function nodeIn(dir, source) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', source], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `child node failed:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('import { parsePolicy, MtaStsError } from "mtasts" works in Node (ESM)', () => {
  const out = nodeIn(
    app,
    `
    import * as mtasts from 'mtasts';
    import { parsePolicy, MtaStsError } from 'mtasts';
    const policy = parsePolicy('version: STSv1\\nmode: enforce\\nmx: mail.example.com\\nmax_age: 86400\\n');
    let error;
    try {
      parsePolicy('version: STSv1\\nmode: report\\nmx: mail.example.com\\nmax_age: 86400\\n');
    } catch (e) {
      error = { isMtaStsError: e instanceof MtaStsError, isError: e instanceof Error, name: e.name,
                code: e.code, line: e.line, column: e.column, rfc: e.rfc, message: e.message };
    }
    console.log(JSON.stringify({ policy, error, exports: Object.keys(mtasts).sort() }));
    `,
  );
  assert.deepEqual(out.policy, { version: 'STSv1', mode: 'enforce', maxAge: 86400, mx: ['mail.example.com'], extensions: {} });
  assert.ok(out.error, 'parsePolicy threw on mode: report');
  assert.equal(out.error.isMtaStsError, true);
  assert.equal(out.error.isError, true);
  assert.equal(out.error.name, 'MtaStsError');
  assert.equal(out.error.code, 'policy-invalid');
  assert.equal(out.error.line, 2);
  assert.equal(typeof out.error.column, 'number');
  assert.equal(out.error.rfc, 'RFC 8461 §3.2');
  assert.match(out.error.message, /report/);
  for (const name of ['MtaStsError', 'formatPolicy', 'lintPolicy', 'lintRecord', 'matchMx', 'parsePolicy', 'parseRecord', 'selectRecord']) {
    assert.ok(out.exports.includes(name), `exports ${name}`);
  }
});

test('the package resolves its types and entries through "exports"', () => {
  const pkg = JSON.parse(readFileSync(join(app, 'node_modules', 'mtasts', 'package.json'), 'utf8'));
  assert.equal(pkg.type, 'module');
  assert.deepEqual(Object.keys(pkg.exports['.']), ['types', 'node', 'default']);
  assert.ok(existsSync(join(app, 'node_modules', 'mtasts', pkg.exports['.'].types)));
});

function bin(args) {
  const r = spawnSync(join(app, 'node_modules', '.bin', 'mtasts'), args, {
    cwd: EXAMPLES,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  if (r.error) throw r.error;
  return r;
}

test('the installed mtasts bin lints a good and a bad policy', () => {
  const binPath = join(app, 'node_modules', '.bin', 'mtasts');
  assert.ok(statSync(binPath).mode & 0o111, 'bin is executable');

  const good = bin(['lint', 'enforce.txt']);
  assert.equal(good.status, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /^enforce\.txt: valid/m);

  const bad = bin(['lint', 'draft-mode-report.txt']);
  assert.equal(bad.status, 1, bad.stdout + bad.stderr);
  assert.match(bad.stdout, /^draft-mode-report\.txt:2:\d+: error \[[a-z0-9-]+\] .*report.* \(RFC 8461 §3\.2\)$/m);

  const missing = bin(['lint', 'no-such-policy.txt']);
  assert.equal(missing.status, 2);
  assert.equal(missing.stderr, 'mtasts: cannot read no-such-policy.txt: no such file\n');
});

test('browser entry: not-initialized before init(), works after await init(bytes)', async () => {
  const browser = await import(pathToFileURL(join(PKG, 'js', 'browser', 'index.js')).href);
  assert.throws(
    () => browser.parsePolicy('version: STSv1\nmode: none\nmax_age: 86400\n'),
    (e) => e instanceof browser.MtaStsError && e.code === 'not-initialized' && /call init\(\)/.test(e.message),
  );
  assert.throws(() => browser.matchMx(['mail.example.com'], 'mail.example.com'), { code: 'not-initialized' });

  const bytes = readFileSync(join(PKG, 'wasm', 'mtasts_bg.wasm'));
  const first = browser.init(bytes);
  const second = browser.init(bytes);
  assert.equal(first, second, 'concurrent init() calls share one promise');
  await Promise.all([first, second]);
  await browser.init(); // idempotent once loaded: no second fetch, no error

  const policy = browser.parsePolicy('version: STSv1\nmode: enforce\nmx: *.example.com\nmax_age: 86400\n');
  assert.equal(policy.mode, 'enforce');
  assert.equal(browser.matchMx(policy, 'mx1.example.com'), true);
  assert.equal(browser.matchMx(policy, 'a.b.example.com'), false);
  assert.throws(() => browser.parsePolicy('mode: report\n'), (e) => e instanceof browser.MtaStsError && e.code === 'policy-invalid');
});

test('index.d.ts names every error code the core can produce (MtaStsErrorCode ⊇ errorCodes())', async () => {
  const { errorCodes } = await import(pathToFileURL(join(PKG, 'js/node/index.js')));
  const dts = readFileSync(join(PKG, 'index.d.ts'), 'utf8');
  const union = dts.slice(dts.indexOf('export type MtaStsErrorCode ='), dts.indexOf('(string & {});'));
  const declared = new Set([...union.matchAll(/\| '([a-z0-9-]+)'/g)].map((m) => m[1]));
  const missing = errorCodes().map((c) => c.code).filter((c) => !declared.has(c));
  assert.deepEqual(missing, [], 'add them to MtaStsErrorCode in pkg-template/index.d.ts');
});
