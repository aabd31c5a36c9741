// The survey's progress on stderr: a bar redrawn in place under a pseudo-terminal (`script` from
// util-linux gives the CLI a real tty), plain lines when stderr is a pipe, nothing with --quiet.
// Run: node --test tests/js/survey-progress.test.mjs
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { startWorld, worldFiles, worldFlags, runCli } from './survey-lab.mjs';
import { CLI } from './built-package.mjs';

let world;
let files;
before(async () => {
  world = await startWorld({ domains: 40, mix: 'enforce=1,no-record=1,dns-servfail=1', probe: false });
  files = worldFiles(world, 'progress');
});
after(() => world.stop());

const SLOW = ['--concurrency', '2', '--rate', '40', '--retries', '0'];
const quote = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

test('on a terminal: a bar with done/total, percent, rate, ETA and errors, redrawn in place', { timeout: 180_000 }, async (t) => {
  const which = await new Promise((resolve) => execFile('sh', ['-c', 'command -v script'], (err, out) => resolve(err ? null : out.trim())));
  if (!which) return t.skip('script (util-linux) is not installed');
  const command = [process.execPath, CLI, 'survey', files.list, '--out', join(files.dir, 'tty.jsonl'), ...SLOW, ...worldFlags(world, files)].map(quote).join(' ');
  const output = await new Promise((resolve, reject) =>
    execFile('script', ['-qec', `stty cols 120; ${command}`, '/dev/null'], { maxBuffer: 1 << 24 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  const frames = output.split('\r').filter((f) => f.startsWith('['));
  assert.ok(frames.length >= 3, `the bar was drawn ${frames.length} times`);
  assert.ok(frames.some((f) => /^\[#*-+\]\s+\d+% \d+\/40 domains, \d+\.\d\/s ETA \d+(m\d\d)?s, \d+ errors?/.test(f)), frames.join('\n'));
  const last = frames.at(-1);
  assert.match(last, /^\[#{24}\] 100% 40\/40 domains, \d+\.\d\/s, 13 errors/);
  assert.match(output, /domains surveyed 40/);
});

test('not a terminal: plain lines, the last with the time taken; --quiet: nothing', { timeout: 180_000 }, async () => {
  const plain = await runCli(['survey', files.list, '--out', join(files.dir, 'pipe.jsonl'), ...SLOW, ...worldFlags(world, files)]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.ok(!plain.stderr.includes('\r'));
  const lines = plain.stderr.trim().split('\n');
  assert.ok(lines.every((l) => /^survey: \d+\/40 domains, \d+\.\d\/s/.test(l)), lines.join('\n'));
  assert.match(lines.at(-1), /^survey: 40\/40 domains, \d+\.\d\/s, 13 errors in \d+s$/);

  const quiet = await runCli(['survey', files.list, '--out', join(files.dir, 'quiet.jsonl'), '--quiet', ...worldFlags(world, files)]);
  assert.equal(quiet.code, 0);
  assert.equal(quiet.stderr, '');
});
