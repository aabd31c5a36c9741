// `mtasts lab` as a user runs it: started as a process, its printed flags read, `mtasts check` run
// with them (the probe reaches the lab's MX only because the flags allow loopback); check's
// --refresh, --dns-tries and its word for a domain that does not exist; lint's warning for an
// address as an mx value. Run: scripts/build && node --test tests/js/lab-cli.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, assertBuilt } from './built-package.mjs';

assertBuilt();
const T = { timeout: 60_000 };

function mtasts(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 50_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

let lab; // the `mtasts lab` process
let dir;
let printed = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mtasts-lab-cli-'));
  lab = spawn(process.execPath, [CLI, 'lab', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mtasts lab printed no flags: ${printed}`)), 30_000);
    lab.stdout.on('data', (d) => {
      printed += d;
      if (printed.includes('Ctrl-C stops the lab')) {
        clearTimeout(timer);
        resolve();
      }
    });
    lab.once('exit', (code) => reject(new Error(`mtasts lab exited (${code}): ${printed}`)));
  });
});
after(async () => {
  if (lab && lab.exitCode === null) {
    const exited = new Promise((r) => lab.once('exit', r));
    lab.kill('SIGINT');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

/** The flags printed for `command` (the line `command: mtasts command ... flags`). */
function flagsFor(command) {
  const line = printed.split('\n').find((l) => l.startsWith(`${command}: `));
  assert.ok(line, `no ${command} line in:\n${printed}`);
  const words = line.slice(`${command}: mtasts ${command} `.length).split(' ');
  return command === 'check' ? words.slice(1) : words; // check's line names a domain first
}

test('mtasts lab prints the scenarios and flags for check, relay, socketmap and serve', T, () => {
  assert.match(printed, /^lab: \d+ scenarios on 127\.0\.0\.1/);
  assert.match(printed, /scenarios: .*enforce-valid\.test/);
  for (const c of ['check', 'relay', 'socketmap', 'serve']) assert.ok(flagsFor(c).includes('--dns-server'), c);
  assert.ok(flagsFor('check').includes('--allow-private'), 'the MX is on loopback');
  // flags.txt has the same, one command a line.
  const file = readFileSync(join(dir, 'flags.txt'), 'utf8');
  assert.equal(file.split('\n').find((l) => l.startsWith('check ')), `check ${flagsFor('check').join(' ')}`);
});

test('check with the lab flags: a valid enforce domain passes, probe included', T, async () => {
  const r = await mtasts(['check', 'enforce-valid.test', ...flagsFor('check'), '--json', '--helo', 'checker.test']);
  const report = JSON.parse(r.stdout);
  assert.equal(r.code, 0, r.stdout);
  assert.equal(report.ok, true);
  assert.ok(report.mx.every((h) => h.probe && h.verdict), 'every MX probed');
  // Without --allow-private the probe refuses the lab's loopback MX, and says why.
  const refused = await mtasts(['check', 'enforce-valid.test', ...flagsFor('check').filter((f) => f !== '--allow-private'), '--json', '--helo', 'checker.test']);
  assert.equal(refused.code, 1);
  assert.match(refused.stdout, /mx-address-refused/);
});

test('check says when the domain does not exist, and when even its parent does not', T, async () => {
  const flags = [...flagsFor('check'), '--no-probe'];
  const nx = await mtasts(['check', 'nope.test', ...flags]);
  assert.equal(nx.code, 1);
  assert.match(nx.stdout, /nope\.test does not exist/);
  assert.doesNotMatch(nx.stdout, /looks broken/, 'its parent test. exists');
  const deeper = await mtasts(['check', 'a.nope.test', ...flags, '--json']);
  const report = JSON.parse(deeper.stdout);
  assert.equal(report.mxLookup.status, 'nxdomain');
  assert.equal(report.mxLookup.dnsBroken, true);
  assert.ok(report.errors.some((e) => e.code === 'domain-not-found'));
  assert.ok(report.notes.some((n) => /looks broken/.test(n)), report.notes.join('\n'));
});

test('check --refresh ignores the cached policy; --dns-tries is checked', T, async () => {
  const storeDir = mkdtempSync(join(tmpdir(), 'mtasts-lab-store-'));
  try {
    const flags = [...flagsFor('check').filter((f, i, all) => f !== '--store' && all[i - 1] !== '--store'), '--no-probe', '--store', `file:${storeDir}`, '--json'];
    const first = JSON.parse((await mtasts(['check', 'enforce-valid.test', ...flags])).stdout);
    assert.equal(first.policy.source, 'network');
    const cached = JSON.parse((await mtasts(['check', 'enforce-valid.test', ...flags])).stdout);
    assert.equal(cached.policy.source, 'cache', 'the id is unchanged: no fetch');
    const refreshed = JSON.parse((await mtasts(['check', 'enforce-valid.test', ...flags, '--refresh'])).stdout);
    assert.equal(refreshed.policy.source, 'network', '--refresh fetches again');
    const tries = await mtasts(['check', 'enforce-valid.test', ...flags, '--dns-tries', '1']);
    assert.equal(tries.code, 0, tries.stderr);
    const bad = await mtasts(['check', 'enforce-valid.test', ...flags, '--dns-tries', '0']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--dns-tries needs a whole number/);
  } finally {
    rmSync(storeDir, { recursive: true, force: true });
  }
});

test('lint warns for an IP address as an mx value', T, async () => {
  const file = join(dir, 'policy.txt');
  writeFileSync(file, 'version: STSv1\nmode: enforce\nmx: 192.0.2.25\nmax_age: 86400\n');
  const r = await mtasts(['lint', file]);
  assert.match(r.stdout + r.stderr, /policy-mx-address/);
  assert.match(r.stdout + r.stderr, /IP address/);
});
