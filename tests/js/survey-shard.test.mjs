// `--shard K/N` and `mtasts survey merge`: the shards of a list are disjoint and cover it, the
// split does not depend on the order of the list, and merge counts every domain once.
// Run: node --test tests/js/survey-shard.test.mjs
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, worldFiles, worldFlags, runCli, jsonLines, countBy } from './survey-lab.mjs';

let world;
let files;
before(async () => {
  world = await startWorld({ domains: 150, mix: 'random', seed: 3, probe: false });
  files = worldFiles(world, 'shard');
});
after(() => world.stop());

const domainsOf = (file) => jsonLines(readFileSync(file, 'utf8')).map((r) => r.domain);

test('three shards: disjoint, together every domain; merge counts each once', { timeout: 180_000 }, async () => {
  const shards = [];
  for (const k of [1, 2, 3]) {
    const out = join(files.dir, `shard-${k}.jsonl`);
    const r = await runCli(['survey', files.list, '--shard', `${k}/3`, '--out', out, '--quiet', ...worldFlags(world, files)]);
    assert.equal(r.code, 0, r.stderr);
    shards.push(out);
  }
  const lists = shards.map(domainsOf);
  for (const l of lists) assert.ok(l.length > 20, `a shard of ${l.length} domains`);
  const all = lists.flat();
  assert.equal(new Set(all).size, all.length, 'no domain in two shards');
  assert.deepEqual(all.slice().sort(), world.domains.map((d) => d.domain).sort());

  const merged = join(files.dir, 'merged.jsonl');
  const html = join(files.dir, 'merged.html');
  const csv = join(files.dir, 'merged.csv');
  const m = await runCli(['survey', 'merge', ...shards, '--out', merged, '--html', html, '--csv', csv]);
  assert.equal(m.code, 0, m.stderr);
  assert.equal(domainsOf(merged).length, 150);
  assert.deepEqual(countBy(jsonLines(readFileSync(merged, 'utf8')), (r) => r.survey.category), world.expected().category);
  assert.match(m.stdout, /domains surveyed 150\n/);
  assert.match(m.stderr, /150 domains from .*; 0 duplicate lines counted once/);
  assert.equal(readFileSync(csv, 'utf8').trim().split('\r\n').length, 151);
  assert.match(readFileSync(html, 'utf8'), /<svg id="chart-mode"/);

  // A shard given twice (a re-run, a copy) is counted once.
  const again = await runCli(['survey', 'merge', shards[0], ...shards, '--out', '-']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(jsonLines(again.stdout).length, 150);
  assert.match(again.stderr, new RegExp(`; ${lists[0].length} duplicate lines counted once`));
});

test('the split depends on the name only: a reversed, upper-case list gives the same shard', { timeout: 180_000 }, async () => {
  const reversed = join(files.dir, 'reversed.txt');
  writeFileSync(reversed, world.domains.map((d) => d.domain.toUpperCase()).reverse().join('\n') + '\n');
  const a = join(files.dir, 'a.jsonl');
  const b = join(files.dir, 'b.jsonl');
  for (const [list, out] of [[files.list, a], [reversed, b]]) {
    const r = await runCli(['survey', list, '--shard', '2/5', '--out', out, '--quiet', ...worldFlags(world, files)]);
    assert.equal(r.code, 0, r.stderr);
  }
  assert.deepEqual(domainsOf(a).sort(), domainsOf(b).sort());
});

test('merge refuses a file with a broken line in the middle (exit 2, file and line named)', { timeout: 180_000 }, async () => {
  const broken = join(files.dir, 'broken.jsonl');
  const line = '{"domain":"a.test","error":{"code":"check-failed","message":"x"},"survey":{"category":"check-failed"}}\n';
  writeFileSync(broken, `${line}not json\n${line}`);
  const r = await runCli(['survey', 'merge', broken]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /broken\.jsonl:2: not a survey result/);
});
