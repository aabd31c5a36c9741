// Two processes sharing one fileStore directory, both resolving against the same lab, both end with
// a valid cached entry; a third process started afterwards answers from the cache with no HTTPS
// request (RFC 8461 §3.3: the TXT id is unchanged, so the policy is not fetched again).
// Run: scripts/build && node --test tests/js/store-share.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PKG, assertBuilt } from './built-package.mjs';

assertBuilt();
const { startLab } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));
const CHILD = fileURLToPath(new URL('./store-share-child.mjs', import.meta.url));
const DOMAIN = 'enforce-valid.test';

let lab;
let dir;
let env;

before(async () => {
  lab = await startLab();
  dir = mkdtempSync(join(tmpdir(), 'mtasts-store-share-'));
  const caFile = join(dir, 'lab-ca.pem');
  writeFileSync(caFile, lab.caPem);
  env = {
    ...process.env,
    MTASTS_PKG: PKG,
    LAB_DNS: lab.dns.server,
    LAB_CA: caFile,
    LAB_POLICY_PORT: String(lab.policyPort),
    STORE_DIR: join(dir, 'store'),
    DOMAIN,
  };
});

after(async () => {
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function child() {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CHILD], { env, timeout: 60000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`child failed: ${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout));
    });
  });
}

test('two processes on one file store both end with a valid entry; a third reads it without HTTPS', { timeout: 180_000 }, async () => {
  const before = lab.requests[DOMAIN];
  const [a, b] = await Promise.all([child(), child()]);
  for (const r of [a, b]) {
    // The second may already find the first one's entry (cached) or fetch as well (found).
    assert.ok(['found', 'cached'].includes(r.status), `status ${r.status}`);
    assert.deepEqual(r.errors, []);
    assert.equal(r.id, '20240101T000000');
    assert.equal(r.entry?.id, '20240101T000000', 'the store holds an entry after the process is done');
    assert.match(r.entry.policyText, /mode: enforce/);
  }
  const fetched = lab.requests[DOMAIN] - before;
  assert.ok(fetched >= 1 && fetched <= 2, `${fetched} HTTPS requests for two processes`);

  const third = await child();
  assert.equal(third.status, 'cached');
  assert.equal(third.id, '20240101T000000');
  assert.equal(lab.requests[DOMAIN] - before, fetched, 'the third process made no HTTPS request');
});
