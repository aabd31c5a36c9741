// The package as a consumer gets it: `npm pack` pkg/, install the tarball in a scratch project
// (nothing else: no optional peer dependency), import it by name (ESM, the `node` export
// condition; CommonJS through `require`) in a fresh node process, run its `mtasts` bin. The
// library works without the apps' packages, and what needs one says so (`missing-dependency`).
// Also the browser entry (the `default` condition), loaded here by path: not initialised → clear
// error; `init()` with each kind of input it accepts, and a clear error for anything else.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, EXAMPLES, assertBuilt } from './built-package.mjs';
import { installPacked } from './packed-package.mjs';

assertBuilt();

let installed;
let app;

before(async () => {
  installed = await installPacked({ name: 'consumer' });
  app = installed.app;
  for (const f of ['package.json', 'index.d.ts', 'node.d.ts', 'browser.d.ts', 'lab.d.ts', 'hosts.d.ts', 'wasm.d.ts', 'README.md', 'CHANGELOG.md', 'LICENSE-MIT', 'LICENSE-APACHE', 'wasm/mtasts_bg.wasm', 'wasm/mtasts.js', 'js/node/index.js', 'js/node/require.cjs', 'js/browser/index.js', 'js/cli/main.js', 'js/error.js', 'js/peer-dependency.js']) {
    assert.ok(installed.files.includes(f), `the tarball holds ${f} (has: ${installed.files.join(', ')})`);
  }
});

after(() => installed?.remove());

function nodeIn(dir, source, { args = [], type = 'module' } = {}) {
  const r = spawnSync(process.execPath, [...args, `--input-type=${type}`, '-e', source], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `child node failed:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('a library install is mtasts alone: no dependency, no optional peer installed', { timeout: 30_000 }, () => {
  assert.deepEqual(readdirSync(join(app, 'node_modules')).filter((n) => !n.startsWith('.')), ['mtasts']);
  const pkg = JSON.parse(readFileSync(join(app, 'node_modules', 'mtasts', 'package.json'), 'utf8'));
  assert.equal(pkg.dependencies, undefined, 'no runtime dependencies');
  for (const name of Object.keys(pkg.peerDependencies)) assert.equal(pkg.peerDependenciesMeta[name]?.optional, true, `${name} is optional`);
});

test('import { parsePolicy, MtaStsError } from "mtasts" works in Node (ESM)', { timeout: 60_000 }, () => {
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
  for (const name of ['MtaStsError', 'formatPolicy', 'lintPolicy', 'lintRecord', 'matchMx', 'parsePolicy', 'parseRecord', 'selectRecord', 'connectMx', 'resolvePolicy']) {
    assert.ok(out.exports.includes(name), `exports ${name}`);
  }
});

test('the library works without the peers: discovery on its own hosts, stores, the lab without an MX', { timeout: 60_000 }, () => {
  const out = nodeIn(
    app,
    `
    import { mkdtempSync, rmSync } from 'node:fs';
    import { tmpdir } from 'node:os';
    import { join } from 'node:path';
    import { resolvePolicy, fileStore, verifyCertificate, buildTlsRptReports, memoryTlsrptLog } from 'mtasts';
    import { startLab } from 'mtasts/lab';
    const lab = await startLab();
    const dir = mkdtempSync(join(tmpdir(), 'mtasts-nopeer-'));
    try {
      const r = await resolvePolicy('enforce-valid.test', { dnsServers: [lab.dns.server], ca: lab.caPem, policyPort: lab.policyPort, store: fileStore(dir) });
      const cert = lab.certFor('mx1.enforce-valid.test');
      const v = verifyCertificate([cert.certDer], 'mx1.enforce-valid.test', { roots: [lab.caPem] });
      const reports = buildTlsRptReports({ organization: 'o', contact: 'c@example.org', submitter: 'example.org', day: '2026-12-01',
        results: [{ policyDomain: 'example.com', policy: { type: 'no-policy-found' }, result: 'success' }] });
      await memoryTlsrptLog().record('example.com', { at: new Date(), policyType: 'no-policy-found', policyId: null, mode: 'none', policyStrings: [], mxPatterns: [], count: 1, kind: 'session', sendingIp: null, result: 'success', code: null, message: null });
      console.log(JSON.stringify({ status: r.status, mode: r.policy?.mode, cert: v.ok, reports: reports.length }));
    } finally {
      await lab.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    `,
  );
  assert.deepEqual(out, { status: 'found', mode: 'enforce', cert: true, reports: 1 });
});

test('what needs a missing peer fails with missing-dependency naming the npm command', { timeout: 60_000 }, () => {
  const out = nodeIn(
    app,
    `
    import { MtaStsError, redisStore, startSocketmap } from 'mtasts';
    import { startLab, startLabMx } from 'mtasts/lab';
    const seen = [];
    const note = (what, e) => seen.push({ what, mtasts: e instanceof MtaStsError, code: e.code, message: e.message });
    try { redisStore('redis://127.0.0.1:9/0'); seen.push({ what: 'redis', code: 'none' }); } catch (e) { note('redis', e); }
    const lab = await startLab();
    try { await startLabMx(lab); seen.push({ what: 'lab-mx', code: 'none' }); } catch (e) { note('lab-mx', e); } finally { await lab.stop(); }
    try { const s = await startSocketmap({ listen: '127.0.0.1:0' }); await s.stop(); seen.push({ what: 'socketmap', code: 'none' }); } catch (e) { note('socketmap', e); }
    console.log(JSON.stringify(seen));
    `,
  );
  const wants = { redis: 'ioredis', 'lab-mx': 'smtp-server', socketmap: 'pino' };
  for (const s of out) {
    assert.equal(s.code, 'missing-dependency', `${s.what}: ${JSON.stringify(s)}`);
    assert.equal(s.mtasts, true);
    const name = wants[s.what];
    assert.match(s.message, new RegExp(`needs the npm package ${name}, which is not installed: npm install ${name}@\\d+\\.\\d+\\.\\d+ `));
  }
  assert.deepEqual(out.map((s) => s.what), Object.keys(wants));
});

function bin(args, cwd = EXAMPLES) {
  const r = spawnSync(join(app, 'node_modules', '.bin', 'mtasts'), args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return r;
}

test('the installed mtasts bin lints a good and a bad policy', { timeout: 60_000 }, () => {
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

test('mtasts relay, socketmap and demo without their peers: one line naming the npm command, exit 2', { timeout: 60_000 }, () => {
  for (const [args, name] of [
    [['relay', '--listen', '127.0.0.1:0'], 'smtp-server'],
    [['socketmap', '--listen', '127.0.0.1:0'], 'pino'],
    [['demo'], 'smtp-server'],
    [['check', '--store', 'redis://127.0.0.1:9/0', '--dns-server', '127.0.0.1:9', '--no-probe', 'example.test'], 'ioredis'],
  ]) {
    const r = bin(args, app);
    assert.equal(r.status, 2, `${args[0]}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^mtasts: .*needs the npm package ${name}, which is not installed: npm install ${name}@\\S+ .*\\n$`), args[0]);
    assert.equal(r.stderr.split('\n').length, 2, 'one line, no stack');
  }
});

test("require('mtasts') (CommonJS) gives the ESM entry's exports, or says why it cannot", { timeout: 60_000 }, () => {
  const out = nodeIn(
    app,
    `
    const m = require('mtasts');
    const { MtaStsError } = require('mtasts');
    let code;
    try { m.parsePolicy('mode: report\\n'); } catch (e) { code = e instanceof MtaStsError && e.code; }
    console.log(JSON.stringify({ mode: m.parsePolicy('version: STSv1\\nmode: none\\nmax_age: 86400\\n').mode, code, connectMx: typeof m.connectMx }));
    `,
    { type: 'commonjs' },
  );
  assert.deepEqual(out, { mode: 'none', code: 'policy-invalid', connectMx: 'function' });

  // A Node that cannot require() an ES module (older, or with require(esm) turned off).
  const r = spawnSync(process.execPath, ['--no-experimental-require-module', '-e', "require('mtasts')"], { cwd: app, encoding: 'utf8', timeout: 60_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /code: 'require-unsupported'/);
  assert.match(r.stderr, /mtasts is an ES module, and this Node \(v\d+\.\d+\.\d+\) cannot require\(\) one .*use import, or `await import\('mtasts'\)` from CommonJS/);
});

test('the package resolves its types and entries through "exports", types first', { timeout: 10_000 }, () => {
  const pkg = JSON.parse(readFileSync(join(app, 'node_modules', 'mtasts', 'package.json'), 'utf8'));
  assert.equal(pkg.type, 'module');
  assert.deepEqual(Object.keys(pkg.exports['.']), ['node', 'default']);
  for (const [entry, conditions] of [['.', pkg.exports['.'].node], ['.', pkg.exports['.'].default], ['./lab', pkg.exports['./lab']], ['./wasm', pkg.exports['./wasm']]]) {
    assert.equal(Object.keys(conditions)[0], 'types', `${entry}: types first`);
    for (const file of Object.values(conditions)) assert.ok(existsSync(join(app, 'node_modules', 'mtasts', file)), `${entry}: ${file}`);
  }
  assert.match(pkg.exports['./wasm'].default, /\.wasm$/);
});

test('browser entry: not-initialized before init(), works after await init(bytes)', { timeout: 60_000 }, async () => {
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

// Each case in a fresh process: init() loads the module once per process.
const BROWSER_ENTRY = JSON.stringify(pathToFileURL(join(PKG, 'js', 'browser', 'index.js')).href);
const WASM = JSON.stringify(join(PKG, 'wasm', 'mtasts_bg.wasm'));
async function initIn(expression, url) {
  // Not spawnSync: the parent serves the URL cases meanwhile.
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', `
    import { readFileSync } from 'node:fs';
    const { init, parsePolicy, MtaStsError } = await import(${BROWSER_ENTRY});
    const bytes = readFileSync(${WASM});
    const url = ${JSON.stringify(url)};
    const bad = [];
    for (const input of [42, null, {}, '', true, [1, 2], Promise.resolve('not a response'), Promise.resolve(42)]) {
      try { await init(input); bad.push('accepted'); } catch (e) { bad.push(e instanceof MtaStsError ? e.code + ': ' + e.message : 'other: ' + e); }
    }
    await init(${expression});
    console.log(JSON.stringify({ mode: parsePolicy('version: STSv1\\nmode: testing\\nmx: a.example\\nmax_age: 86400\\n').mode, bad }));
    `], { cwd: app, encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(stdout);
}

test('browser init(): bytes, ArrayBuffer, WebAssembly.Module, Response, promise of one, URL, string URL; anything else is invalid-argument', { timeout: 120_000 }, async () => {
  const wasm = readFileSync(join(PKG, 'wasm', 'mtasts_bg.wasm'));
  const server = createServer((req, res) => {
    if (req.url !== '/mtasts_bg.wasm') return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/wasm' }).end(wasm);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/mtasts_bg.wasm`;
  try {
    const cases = {
      Uint8Array: 'new Uint8Array(bytes)',
      ArrayBuffer: 'bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)',
      'WebAssembly.Module': 'new WebAssembly.Module(bytes)',
      Response: "new Response(bytes, { headers: { 'content-type': 'application/wasm' } })",
      'Promise<Response>': 'fetch(url)',
      URL: 'new URL(url)',
      'string URL': 'url',
    };
    for (const [name, expression] of Object.entries(cases)) {
      const out = await initIn(expression, url);
      assert.equal(out.mode, 'testing', name);
      assert.equal(out.bad.length, 8);
      for (const b of out.bad) {
        assert.match(b, /^invalid-argument: init: input must be a URL, a string URL, a Response \(or a promise of one\), bytes \(ArrayBuffer or Uint8Array\) or a WebAssembly\.Module/, name);
      }
      assert.match(out.bad[0], /found number$/);
      assert.match(out.bad[6], /the promise resolved to something else\), found string$/);
    }
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('index.d.ts names every error code the core can produce (MtaStsErrorCode ⊇ errorCodes())', { timeout: 30_000 }, async () => {
  const { errorCodes } = await import(pathToFileURL(join(PKG, 'js/node/index.js')));
  const dts = readFileSync(join(PKG, 'index.d.ts'), 'utf8');
  const union = dts.slice(dts.indexOf('export type MtaStsErrorCode ='), dts.indexOf('(string & {});'));
  const declared = new Set([...union.matchAll(/\| '([a-z0-9-]+)'/g)].map((m) => m[1]));
  const missing = errorCodes().map((c) => c.code).filter((c) => !declared.has(c));
  assert.deepEqual(missing, [], 'add them to MtaStsErrorCode in pkg-template/index.d.ts');
});
