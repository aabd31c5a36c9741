// The survey's pure parts: the category table of classify (one hand-made check object per case,
// with the reason), shards, the input reader, the rate limit (on a fake clock), the results file
// (a cut-short last line), merge, and the world's mix arithmetic.
// Run: node --test tests/js/survey-units.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PKG, assertBuilt } from './built-package.mjs';

assertBuilt();
const { classify, CATEGORIES } = await import(join(PKG, 'js/survey/classify.js'));
const { parseShard, shardOf } = await import(join(PKG, 'js/survey/shard.js'));
const { readDomains, csvFields } = await import(join(PKG, 'js/survey/input.js'));
const { rateLimit } = await import(join(PKG, 'js/survey/rate-limit.js'));
const { openResults, readResults } = await import(join(PKG, 'js/survey/results.js'));
const { mergeResults } = await import(join(PKG, 'js/survey/merge.js'));
const { createTally } = await import(join(PKG, 'js/survey/tally.js'));
const { renderHtml } = await import(join(PKG, 'js/survey/html.js'));
const { planKinds, parseMix, generateWorld, KINDS } = await import(join(PKG, 'js/lab/world.js'));

const scratch = () => mkdtempSync(join(tmpdir(), 'mtasts-survey-unit-'));

/** A check object (README "mtasts check" schema) with the given parts changed. */
function check({ record = {}, policy = {}, mx, mxLookup = { status: 'found' }, tlsrpt = { status: 'none' }, errors = [] } = {}) {
  return {
    domain: 'example.test',
    record: { status: 'found', raw: [['v=STSv1; id=1']], id: '1', ...record },
    policy: { status: 'found', mode: 'enforce', maxAge: 86400, mx: ['mx.example.test'], ...policy },
    mx: mx ?? [{ host: 'mx.example.test', matchesPolicy: true }],
    mxLookup,
    tlsrpt,
    errors,
  };
}
const none = { status: 'none', mode: null, maxAge: null };
const probeError = (code) => ({ code, mx: 'mx.example.test' });

const TABLE = [
  ['no-record', 'no TXT at _mta-sts', check({ record: { status: 'none', raw: [], id: null }, policy: none })],
  ['record-not-mta-sts', 'TXT there, none starting v=STSv1 (RFC 8461 §3.1: ignored)', check({ record: { status: 'none', raw: [['v=spf1 -all']] }, policy: none })],
  ['record-invalid', 'a v=STSv1 record that does not parse', check({ record: { status: 'invalid' }, policy: none, errors: [{ code: 'record-invalid' }] })],
  ['record-multiple', 'two v=STSv1 records', check({ record: { status: 'multiple' }, policy: none, errors: [{ code: 'record-multiple' }] })],
  ['dns-temporary', 'the TXT query failed temporarily: never "no record"', check({ record: { status: 'temperror', raw: [] }, policy: { ...none, status: 'temperror' } })],
  ['policy-http-status', '404', check({ policy: none, errors: [{ code: 'policy-http-status' }] })],
  ['policy-redirect', 'a redirect (RFC 8461 §3.3: not followed)', check({ policy: none, errors: [{ code: 'policy-redirect' }] })],
  ['policy-content-type', 'text/html', check({ policy: none, errors: [{ code: 'policy-content-type' }] })],
  ['policy-webpki-invalid', 'a policy host certificate that fails', check({ policy: none, errors: [{ code: 'policy-webpki-invalid' }] })],
  ['policy-fetch-timeout', 'too slow', check({ policy: none, errors: [{ code: 'policy-fetch-timeout' }] })],
  ['policy-fetch-error', 'no such host', check({ policy: none, errors: [{ code: 'policy-fetch-error' }] })],
  ['policy-fetch-error', 'no policy and no code: the fetch failed somehow', check({ policy: none })],
  ['policy-too-large', 'a body over 64 KiB', check({ policy: none, errors: [{ code: 'policy-too-large' }] })],
  ['policy-truncated', 'a body shorter than its Content-Length', check({ policy: none, errors: [{ code: 'policy-truncated' }] })],
  ['policy-invalid', 'a body that is no policy', check({ policy: none, errors: [{ code: 'policy-invalid' }] })],
  ['valid', 'enforce, every MX matches', check()],
  ['valid', 'mode none: MX mismatches have no consequence (RFC 8461 §5)', check({ policy: { mode: 'none' }, mx: [{ host: 'x.test', matchesPolicy: false }] })],
  ['mx-outside-policy', 'an MX no pattern matches', check({ mx: [{ host: 'mx.example.test', matchesPolicy: true }, { host: 'b.test', matchesPolicy: false }], errors: [{ code: 'mx-not-in-policy' }] })],
  ['mx-null', 'a null MX (RFC 7505)', check({ mx: [], mxLookup: { status: 'null' } })],
  ['dns-temporary', 'the MX look-up failed temporarily', check({ mx: [], mxLookup: { status: 'temperror' } })],
  ['mx-certificate', 'probe: certificate for another name', check({ errors: [probeError('certificate-host-mismatch')] })],
  ['mx-starttls', 'probe: no STARTTLS', check({ policy: { mode: 'testing' }, errors: [probeError('starttls-not-supported')] })],
  ['mx-unreachable', 'probe: nothing listens', check({ errors: [probeError('mx-connect-failed')] })],
  ['dns-temporary', 'probe: the MX address look-up failed temporarily (retried, never "unreachable")', check({ mx: [{ host: 'mx.example.test', matchesPolicy: true, probe: { error: { code: 'mx-address-lookup-failed' } } }], errors: [probeError('mx-address-lookup-failed')] })],
  ['valid', 'a policy found in the cache counts as found', check({ policy: { status: 'cached' } })],
];

test('classify: the category of each check object', { timeout: 180_000 }, () => {
  for (const [category, reason, object] of TABLE) {
    assert.equal(classify(object).category, category, reason);
    assert.ok(Object.hasOwn(CATEGORIES, category));
  }
  // Every category classify can give is in the table above.
  const covered = new Set(TABLE.map(([c]) => c));
  for (const [c, { group }] of Object.entries(CATEGORIES)) if (group !== 'failed') assert.ok(covered.has(c), `${c} is tested`);
});

test('classify: mode, max_age, the study column, TLS-RPT and temporary', { timeout: 180_000 }, () => {
  assert.deepEqual(classify(check({ tlsrpt: { status: 'found' } })), { category: 'valid', mode: 'enforce', maxAge: 86400, hasRecord: true, tlsrpt: 'valid', temporary: false });
  assert.equal(classify(check({ tlsrpt: { status: 'multiple' } })).tlsrpt, 'invalid');
  assert.equal(classify(check({ tlsrpt: { status: 'temperror' } })).temporary, true);
  assert.equal(classify(check({ mx: [{ host: 'mx.example.test', matchesPolicy: true, probe: { error: { code: 'mx-address-lookup-failed' } } }] })).temporary, true);
  const notSts = classify(TABLE[1][2]);
  assert.equal(notSts.hasRecord, false, 'an SPF-like TXT is not an MTA-STS record (the study\'s ×)');
  assert.equal(notSts.mode, null);
  assert.equal(classify(TABLE[2][2]).hasRecord, true);
});

test('shards: K/N parsed strictly; the shard of a name is fixed and spreads evenly', { timeout: 180_000 }, () => {
  assert.deepEqual(parseShard('3/16'), { index: 3, count: 16 });
  for (const bad of ['0/3', '4/3', '1/0', '3', 'a/b', '1/3/5', '-1/3']) assert.throws(() => parseShard(bad), /--shard needs K\/N/, bad);
  assert.equal(shardOf('example.com', 16), shardOf('example.com', 16));
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 4000; i++) counts[shardOf(`d${i}.test`, 4) - 1] += 1;
  for (const n of counts) assert.ok(n > 850 && n < 1150, `shard sizes ${counts}`);
});

test('input: one per line, comments and blanks skipped, CSV by its domain column, quotes', { timeout: 180_000 }, async () => {
  const dir = scratch();
  const plain = join(dir, 'plain.txt');
  writeFileSync(plain, '\uFEFFa.test\n\n# comment\n  b.test  trailing words\r\nc.test\n');
  const got = [];
  for await (const e of readDomains(plain)) got.push(e);
  assert.deepEqual(got, [{ domain: 'a.test', line: 1 }, { domain: 'b.test', line: 4 }, { domain: 'c.test', line: 5 }]);
  const csv = join(dir, 'list.csv');
  writeFileSync(csv, 'rank,"Domain"\n1,"x.test"\n2,y.test\n3,\n');
  const rows = [];
  for await (const e of readDomains(csv)) rows.push(e.domain);
  assert.deepEqual(rows, ['x.test', 'y.test']);
  assert.deepEqual(csvFields('a,"b,""c""",d'), ['a', 'b,"c"', 'd']);
});

test('rate limit: starts spaced 1/rate apart, whoever asks', { timeout: 180_000 }, async () => {
  let clock = 0;
  const waits = [];
  const turn = rateLimit(100, { now: () => clock, sleep: async (ms) => waits.push(ms) });
  await Promise.all([turn(), turn(), turn(), turn()]);
  assert.deepEqual(waits, [10, 20, 30]);
  clock = 1000; // long after: no wait
  await turn();
  assert.equal(waits.length, 3);
  const unlimited = rateLimit(0);
  await unlimited();
});

test('results file: whole lines; a cut-short last line skipped when read and cut off on resume', { timeout: 180_000 }, async () => {
  const file = join(scratch(), 'r.jsonl');
  const result = (d) => ({ domain: d, error: { code: 'check-failed', message: 'x' }, survey: { category: 'check-failed' } });
  const w = openResults(file);
  w.write(result('a.test'));
  w.write(result('b.test'));
  w.close();
  appendFileSync(file, '{"domain":"c.te');
  const read = [];
  for await (const r of readResults(file)) read.push(r.result.domain);
  assert.deepEqual(read, ['a.test', 'b.test']);
  const again = openResults(file, { resume: true });
  again.write(result('c.test'));
  again.close();
  assert.deepEqual(readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).domain), ['a.test', 'b.test', 'c.test']);
  // A valid-looking last line without its newline was cut short too.
  writeFileSync(file, `${JSON.stringify(result('a.test'))}\n${JSON.stringify(result('b.test'))}`);
  const cut = [];
  for await (const r of readResults(file)) cut.push(r.result.domain);
  assert.deepEqual(cut, ['a.test']);
});

test('merge: the first result of a domain is kept, later ones counted as duplicates', { timeout: 180_000 }, async () => {
  const dir = scratch();
  const line = (d, category) => JSON.stringify({ domain: d, error: { code: category, message: '' }, survey: { category } });
  writeFileSync(join(dir, '1.jsonl'), `${line('a.test', 'check-failed')}\n${line('b.test', 'check-failed')}\n`);
  writeFileSync(join(dir, '2.jsonl'), `${line('b.test', 'input-invalid')}\n${line('c.test', 'check-failed')}\n`);
  const seen = [];
  const summary = await mergeResults([join(dir, '1.jsonl'), join(dir, '2.jsonl')], (r) => seen.push(`${r.domain}:${r.survey.category}`));
  assert.deepEqual(seen, ['a.test:check-failed', 'b.test:check-failed', 'c.test:check-failed']);
  assert.equal(summary.domains, 3);
  assert.equal(summary.duplicates, 1);
});

test('HTML report: self-contained (no URL to fetch), escaped, every chart and row', { timeout: 180_000 }, () => {
  const tally = createTally({ keepRows: 10 });
  for (const [, , object] of TABLE) tally.add({ ...object, domain: `<b>${tally.counts().total}</b>.test` });
  const html = renderHtml(tally, { generatedAt: '2026-01-01T00:00:00Z' });
  assert.doesNotMatch(html, /(src|href)=|url\(|@import|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  assert.doesNotMatch(html, /<b>0<\/b>/);
  assert.match(html, /&lt;b&gt;0&lt;\/b&gt;\.test/);
  for (const id of ['chart-mode', 'chart-misconfiguration', 'chart-max-age', 'chart-tlsrpt']) assert.match(html, new RegExp(`<svg id="${id}"`));
  assert.equal((html.match(/<tr><td>&lt;b&gt;/g) ?? []).length, 10);
  assert.match(html, new RegExp(`The table shows the first 10 domains; ${TABLE.length - 10} more are counted above`));
});

test('world mix: exact counts by largest remainder, seeded order, seed-table of 102', { timeout: 180_000 }, () => {
  const kinds = planKinds({ count: 10, mix: 'enforce=1,no-record=2', seed: 5 });
  assert.equal(kinds.filter((k) => k === 'enforce').length, 3);
  assert.equal(kinds.filter((k) => k === 'no-record').length, 7);
  assert.deepEqual(planKinds({ count: 10, mix: 'enforce=1,no-record=2', seed: 5 }), kinds);
  assert.notDeepEqual(planKinds({ count: 50, mix: 'random', seed: 1 }), planKinds({ count: 50, mix: 'random', seed: 2 }));
  const table = generateWorld({ mix: 'seed-table', probe: false });
  assert.equal(table.length, 102);
  assert.equal(table.filter((d) => d.expect.mode === 'testing').length, 9);
  assert.equal(table.filter((d) => d.expect.category === 'record-not-mta-sts').length, 2);
  assert.throws(() => parseMix('enforce=1,bogus=2'), /"bogus=2" is not kind=weight/);
  assert.throws(() => planKinds({ count: 3, mix: 'seed-table' }), /exactly 102/);
  assert.equal(planKinds({ count: Object.keys(KINDS).length, mix: 'all' }).length, Object.keys(KINDS).length);
});
