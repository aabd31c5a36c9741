// `mtasts survey` stopped in the middle: killed outright (SIGKILL, then --resume: every domain
// exactly once, a last line cut short redone), and Ctrl-C (SIGINT: exit 130, the partial output
// valid, then --resume finishes it). Run: node --test tests/js/survey-resume.test.mjs
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, worldFiles, worldFlags, runCli, jsonLines, countBy } from './survey-lab.mjs';

let world;
let files;
before(async () => {
  world = await startWorld({ domains: 240, mix: 'enforce=2,testing=1,no-record=3,policy-404=1,not-mta-sts=1', probe: false });
  files = worldFiles(world, 'resume');
});
after(() => world.stop());

// Slow enough to be stopped part-way: few at a time, and a DNS rate limit.
const SLOW = ['--concurrency', '3', '--rate', '60', '--quiet'];

/** Resolves once `file` holds at least `lines` whole lines. */
async function whenLines(file, lines) {
  for (;;) {
    if (existsSync(file) && readFileSync(file, 'utf8').split('\n').length - 1 >= lines) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function assertEveryDomainOnce(file) {
  const text = readFileSync(file, 'utf8');
  assert.ok(text.endsWith('\n'));
  const results = jsonLines(text);
  const domains = results.map((r) => r.domain);
  assert.equal(new Set(domains).size, domains.length, 'no domain twice');
  assert.deepEqual(domains.slice().sort(), world.domains.map((d) => d.domain).sort(), 'every domain');
  assert.deepEqual(countBy(results, (r) => r.survey.category), world.expected().category);
}

test('SIGKILL mid-run, a last line cut short, then --resume: every domain exactly once', { timeout: 180_000 }, async () => {
  const out = join(files.dir, 'killed.jsonl');
  const killed = await runCli(['survey', files.list, '--out', out, ...SLOW, ...worldFlags(world, files)], {
    onSpawn: (child) => whenLines(out, 20).then(() => child.kill('SIGKILL')),
  });
  assert.equal(killed.signal, 'SIGKILL');
  const before = jsonLines(readFileSync(out, 'utf8'));
  assert.ok(before.length >= 20 && before.length < 240, `killed part-way (${before.length} done)`);
  // A crash in the middle of a write leaves half a line: it is not a result, and is redone.
  appendFileSync(out, '{"domain":"d0001.test","ok":tr');
  const sizeBefore = statSync(out).size;
  const resumed = await runCli(['survey', '--resume', out, files.list, '--quiet', '--concurrency', '20', ...worldFlags(world, files)]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.ok(statSync(out).size > sizeBefore);
  assertEveryDomainOnce(out);
  // The summary covers the whole list, the lines of the first run included.
  assert.match(resumed.stdout, /domains surveyed 240\n/);
});

test('Ctrl-C (SIGINT): exit 130, whole lines only, a hint to resume; --resume completes it', { timeout: 180_000 }, async () => {
  const out = join(files.dir, 'interrupted.jsonl');
  const stopped = await runCli(['survey', files.list, '--out', out, ...SLOW, ...worldFlags(world, files)], {
    onSpawn: (child) => whenLines(out, 15).then(() => child.kill('SIGINT')),
  });
  assert.equal(stopped.code, 130, stopped.stderr);
  assert.match(stopped.stderr, /interrupted; \d+ domains are in the output \(continue: mtasts survey --resume /);
  const partial = readFileSync(out, 'utf8');
  assert.ok(partial.endsWith('\n'));
  const done = jsonLines(partial).length; // every line parses
  assert.ok(done >= 15 && done < 240, `stopped part-way (${done})`);
  const resumed = await runCli(['survey', '--resume', out, files.list, '--quiet', '--concurrency', '20', ...worldFlags(world, files)]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assertEveryDomainOnce(out);
});
