// The package's types, as a TypeScript user meets them: `tsc --strict` over tests/types/node/*.ts
// (moduleResolution nodenext: the `node` condition, node.d.ts and lab.d.ts), tests/types/browser/*.ts
// (moduleResolution bundler, DOM lib: the `default` condition, browser.d.ts) and every ```js block
// of the npm README (checkJs). `// @ts-expect-error` lines are the negative cases: tsc fails when
// one of them type-checks. And each entry's declared values are exactly its runtime exports.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, readdirSync, symlinkSync, rmSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, PKG, assertBuilt } from './built-package.mjs';
import { readmeBlocks } from './readme-blocks.mjs';

assertBuilt();

const TESTS = join(ROOT, 'tests');
const TSC = join(TESTS, 'node_modules', 'typescript', 'bin', 'tsc');
let dir;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mtasts-types-'));
  // The package under its name, as an install has it; @types/node from the test dependencies.
  mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
  symlinkSync(PKG, join(dir, 'node_modules', 'mtasts'), 'dir');
  symlinkSync(join(TESTS, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
});
after(() => dir && rmSync(dir, { recursive: true, force: true }));

const STRICT = { strict: true, noEmit: true, target: 'es2022', skipLibCheck: false, noUnusedLocals: false, forceConsistentCasingInFileNames: true };

/** Writes `files` and a tsconfig into dir/<name>, runs tsc -p on it; resolves tsc's output. */
async function tsc(name, compilerOptions, files) {
  const project = join(dir, name);
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
  for (const [file, text] of Object.entries(files)) writeFileSync(join(project, file), text);
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...STRICT, ...compilerOptions }, include: ['*.ts', '*.mts', '*.mjs', '*.cjs'] }));
  try {
    await promisify(execFile)(process.execPath, [TSC, '-p', project, '--pretty', 'false'], { cwd: project, encoding: 'utf8', timeout: 240_000 });
    return '';
  } catch (err) {
    return `${err.stdout ?? ''}${err.stderr ?? ''}` || String(err);
  }
}

const NODE = { module: 'nodenext', moduleResolution: 'nodenext', types: ['node'], lib: ['es2022'] };
const BROWSER = { module: 'esnext', moduleResolution: 'bundler', types: [], lib: ['es2022', 'dom', 'dom.iterable'] };
const examples = (sub) => Object.fromEntries(readdirSync(join(TESTS, 'types', sub)).filter((f) => f.endsWith('.ts')).map((f) => [f, readFileSync(join(TESTS, 'types', sub, f), 'utf8')]));

test('tsc --strict: the Node entry and mtasts/lab (tests/types/node)', { timeout: 300_000 }, async () => {
  assert.equal(await tsc('node', NODE, examples('node')), '');
});

test('tsc --strict: the browser entry as a bundler resolves it (tests/types/browser)', { timeout: 300_000 }, async () => {
  assert.equal(await tsc('browser', BROWSER, examples('browser')), '');
});

test('tsc --strict: every js block of the npm README type-checks (checkJs)', { timeout: 300_000 }, async () => {
  const blocks = readmeBlocks(readFileSync(join(ROOT, 'pkg-template', 'README.md'), 'utf8'));
  const node = {};
  const browser = { 'vite-url.d.ts': "declare module 'mtasts/wasm?url' { const url: string; export default url; }\n" };
  for (const [i, b] of blocks.entries()) {
    if (b.tags.includes('browser')) browser[`block${i}.mjs`] = b.code;
    else node[`block${i}.${b.tags.includes('cjs') ? 'cjs' : 'mjs'}`] = b.code;
  }
  assert.ok(Object.keys(node).length >= 10, 'the README has its examples');
  // nodemailer ships no types; the README's users bring their own (@types/nodemailer).
  node['untyped.d.ts'] = "declare module 'nodemailer';\n";
  const js = { allowJs: true, checkJs: true };
  assert.equal(await tsc('readme-node', { ...NODE, ...js }, node), '');
  assert.equal(await tsc('readme-browser', { ...BROWSER, ...js }, browser), '');
});

/** The value names a .d.ts exports: `export { a, b } from ...` lists and local declarations. */
function declaredValues(file) {
  const text = readFileSync(join(PKG, file), 'utf8');
  const names = new Set();
  for (const m of text.matchAll(/^export \{([^}]*)\} from/gm)) for (const n of m[1].split(',')) if (n.trim()) names.add(n.trim());
  for (const m of text.matchAll(/^export (?:declare )?(?:async )?(?:function|const|class|let) ([A-Za-z_$][\w$]*)/gm)) names.add(m[1]);
  return [...names].sort();
}

for (const [entry, types, runtime] of [
  ['node', 'node.d.ts', 'js/node/index.js'],
  ['browser', 'browser.d.ts', 'js/browser/index.js'],
  ['lab', 'lab.d.ts', 'js/lab/index.js'],
]) {
  test(`${types} declares exactly the values ${runtime} exports`, { timeout: 60_000 }, async () => {
    const mod = await import(pathToFileURL(join(PKG, runtime)).href);
    assert.deepEqual(declaredValues(types), Object.keys(mod).sort());
  });
}

test('the declared lists are real: tsc sees each runtime export as a value, and index.d.ts values an entry lacks as type-only', { timeout: 300_000 }, async () => {
  const shared = declaredValues('index.d.ts');
  const files = {};
  for (const [entry, runtime, options] of [['node', 'js/node/index.js', NODE], ['browser', 'js/browser/index.js', BROWSER]]) {
    const exported = Object.keys(await import(pathToFileURL(join(PKG, runtime)).href));
    const lines = ["import * as m from 'mtasts';"];
    for (const name of exported) lines.push(`void m.${name};`);
    for (const name of shared.filter((n) => !exported.includes(n))) lines.push(`// @ts-expect-error ${name} is not a value of the ${entry} entry`, `void m.${name};`);
    files[entry] = [options, { 'exports.ts': lines.join('\n') + '\n' }];
  }
  assert.equal(await tsc('parity-node', files.node[0], files.node[1]), '');
  assert.equal(await tsc('parity-browser', files.browser[0], files.browser[1]), '');
});
