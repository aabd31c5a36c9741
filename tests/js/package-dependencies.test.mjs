// Dependencies where they belong (README "Dependencies"): the package has no runtime dependency;
// the apps' packages are optional peers, loaded only through js/peer-dependency.js (so a missing
// one is `missing-dependency` with the npm command), at the versions the suite installs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from './built-package.mjs';

const template = JSON.parse(readFileSync(join(ROOT, 'pkg-template', 'package.json'), 'utf8'));

test('no runtime dependency; every peer optional, at the major of the tested version', { timeout: 10_000 }, async () => {
  assert.equal(template.dependencies, undefined);
  const { PEER_DEPENDENCIES } = await import(new URL('../../js/peer-dependency.js', import.meta.url).href);
  assert.deepEqual(Object.keys(template.peerDependencies).sort(), Object.keys(PEER_DEPENDENCIES).sort());
  assert.deepEqual(template.devDependencies, Object.fromEntries(Object.keys(template.devDependencies).map((n) => [n, PEER_DEPENDENCIES[n]])));
  for (const [name, version] of Object.entries(PEER_DEPENDENCIES)) {
    assert.equal(template.peerDependencies[name], `^${version}`, name);
    assert.deepEqual(template.peerDependenciesMeta[name], { optional: true }, name);
  }
});

function* jsFiles(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* jsFiles(path);
    else if (/\.(m?js|cjs)$/.test(name)) yield path;
  }
}

test('no file of js/ imports a peer dependency itself: only js/peer-dependency.js loads them', { timeout: 10_000 }, () => {
  const peers = Object.keys(template.peerDependencies);
  const bad = [];
  for (const file of jsFiles(join(ROOT, 'js'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"]([^'"./][^'"]*)['"]/g)) {
      const name = m[1].startsWith('@') ? m[1].split('/').slice(0, 2).join('/') : m[1].split('/')[0];
      if (peers.includes(name)) bad.push(`${relative(ROOT, file)}: ${m[0]}`);
    }
  }
  assert.deepEqual(bad, []);
});
