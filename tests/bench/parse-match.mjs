// Benchmark (issue 2, item 7): policy parsing (RFC 8461 §3.2) and MX matching (§4.1) through the
// built package, against mailauth's MTA-STS functions on the same corpus in the same run.
// Prints figures; asserts nothing about time.
//
//   node tests/bench/parse-match.mjs [--policies 1000] [--rounds 7] [--min-ms 200] [--profile]
//                                    [--mailauth mailauth7]
//   MTASTS_PKG=/tmp/pkg-with-names node tests/bench/parse-match.mjs --profile   (another build)
//   tests/bench/parse-match-both     mailauth 4.13.3 on Node 20 and mailauth 7.1.0 on Node 24
//
// --mailauth names the package in tests/node_modules to compare with: `mailauth` (4.13.3, runs on
// Node 20) or `mailauth7` (an npm alias of mailauth 7.1.0, which needs Node >= 22).
//
// Needs pkg/ (scripts/build) and tests/node_modules (cd tests && npm ci).
//
// It prints:
//   1. the corpus (generated, seeded: policy-corpus.mjs);
//   2. verdict agreement: corpus policies both libraries accept, MX verdicts against RFC 8461 §4.1,
//      and a table of edge cases where the two libraries (or the RFC) disagree;
//   3. median ops/s over interleaved rounds for parse, match, and parse + 3 matches (mtasts: 3
//      matchMx calls, the case issue 8 names, and one matchMxList call), with the ratio
//      mtasts / mailauth;
//   4. where mtasts spends a call: the JS↔wasm boundary against the work (ns per call);
//   5. with --profile, the functions with the most self time in CPU profiles of the mtasts parse and
//      match loops (wasm function names need a build that keeps them: see MTASTS_PKG above).

import { createRequire } from 'node:module';
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { pathToFileURL } from 'node:url';
import { makeCorpus, EDGE_POLICIES, EDGE_MATCHES } from './policy-corpus.mjs';
import { throughput, nsPerCall, sink, table, formatNumber, numberOption } from './measure.mjs';

// The package under test: pkg/, or MTASTS_PKG=<dir> (e.g. a build that keeps wasm function names
// for --profile).
const PKG = process.env.MTASTS_PKG ? pathToFileURL(`${process.env.MTASTS_PKG}/`) : new URL('../../pkg/', import.meta.url);
const { parsePolicy, matchMx, matchMxList } = await import(new URL('js/node/index.js', PKG));
const { initSync } = await import(new URL('wasm/mtasts.js', PKG));
// Not a public export: the core wrapper the Node entry initialised, for a short string round trip.
const { normalizeDomain } = await import(new URL('js/core.js', PKG));

const args = process.argv.slice(2);
const require = createRequire(new URL('../package.json', import.meta.url));
const mailauthPackage = args.includes('--mailauth') ? args[args.indexOf('--mailauth') + 1] : 'mailauth';
if (!['mailauth', 'mailauth7'].includes(mailauthPackage)) throw new Error(`--mailauth must be mailauth or mailauth7, found ${mailauthPackage}`);
const mailauth = require(`${mailauthPackage}/lib/mta-sts.js`);
const mailauthVersion = require(`${mailauthPackage}/package.json`).version;

const option = (name, fallback) => numberOption(name, fallback, args);
const POLICIES = option('policies', 1000);
const ROUNDS = option('rounds', 7);
const MIN_MS = option('min-ms', 200);
const PROFILE = args.includes('--profile');

const corpus = makeCorpus({ count: POLICIES });
const texts = corpus.map((c) => c.text);
const bytes = texts.map((t) => Buffer.from(t, 'utf8'));

const verdict = (fn) => {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    return { ok: false, code: err.code ?? err.message };
  }
};

// ---------------------------------------------------------------------------------------------
// 1. The corpus
const sizes = texts.map((t) => Buffer.byteLength(t));
const mxLines = corpus.map((c) => c.mx.length);
const avg = (a) => a.reduce((x, y) => x + y, 0) / a.length;
console.log(`mtasts parse/match benchmark — node ${process.version}, mailauth ${mailauthVersion}; ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(
  `corpus: ${corpus.length} policies, ${formatNumber(avg(sizes))} bytes average (${Math.min(...sizes)}-${Math.max(...sizes)}), ` +
    `${formatNumber(avg(mxLines), 1)} mx lines average (1-${Math.max(...mxLines)}), ` +
    `${corpus.filter((c) => c.text.includes('\r\n')).length} CRLF, ` +
    `${corpus.filter((c) => c.mx.some((p) => p.startsWith('*.'))).length} with a wildcard, ` +
    `${corpus.filter((c) => /\nx-/.test(c.text)).length} with extensions, ` +
    `${corpus.filter((c) => !/\n$/.test(c.text)).length} without a final terminator; 3 MX hosts each`,
);

// ---------------------------------------------------------------------------------------------
// 2. Verdict agreement
console.log('\n== verdicts ==');
const ours = corpus.map((c) => verdict(() => parsePolicy(c.text)));
const theirs = corpus.map((c) => verdict(() => mailauth.parsePolicy(c.text)));
const parseDisagreements = [];
corpus.forEach((c, i) => {
  const a = ours[i];
  const b = theirs[i];
  if (a.ok !== b.ok) {
    parseDisagreements.push([`#${i}`, a.ok ? 'ok' : a.code, b.ok ? 'ok' : b.code, JSON.stringify(c.text.slice(0, 60))]);
    return;
  }
  if (!a.ok) return;
  // Same content: mode, max_age and the mx patterns (mailauth lowercases and de-duplicates them).
  const same =
    a.value.mode === b.value.mode &&
    a.value.maxAge === b.value.maxAge &&
    JSON.stringify([...new Set(a.value.mx.map((p) => p.toLowerCase()))]) === JSON.stringify(b.value.mx ?? []);
  if (!same) parseDisagreements.push([`#${i}`, JSON.stringify(a.value), JSON.stringify(b.value), '']);
});
console.log(
  `corpus parse: mtasts accepts ${ours.filter((v) => v.ok).length}/${corpus.length}, ` +
    `mailauth accepts ${theirs.filter((v) => v.ok).length}/${corpus.length}, ` +
    `${parseDisagreements.length} disagreement(s) (acceptance or parsed content)`,
);
if (parseDisagreements.length) console.log(table([['policy', 'mtasts', 'mailauth', 'text'], ...parseDisagreements.slice(0, 20)]));

let matchWrong = { mtasts: 0, mailauth: 0 };
let matchDiffer = 0;
corpus.forEach((c, i) => {
  if (!ours[i].ok || !theirs[i].ok || c.mode === 'none') return; // mailauth answers "valid" for any host in mode none
  c.hosts.forEach((h, k) => {
    const a = matchMx(ours[i].value, h);
    const b = mailauth.validateMx(h, theirs[i].value).valid;
    if (a !== c.expect[k]) matchWrong.mtasts++;
    if (b !== c.expect[k]) matchWrong.mailauth++;
    if (a !== b) matchDiffer++;
  });
});
// matchMxList answers what matchMx answers, host by host.
let listDiffer = 0;
corpus.forEach((c, i) => {
  if (!ours[i].ok || matchMxList === undefined) return;
  const list = matchMxList(ours[i].value, c.hosts);
  c.hosts.forEach((h, k) => {
    if (list[k] !== matchMx(ours[i].value, h)) listDiffer++;
  });
});
console.log(
  `corpus match (modes enforce/testing): verdicts differing from RFC 8461 §4.1: mtasts ${matchWrong.mtasts}, ` +
    `mailauth ${matchWrong.mailauth}; mtasts and mailauth differ on ${matchDiffer}; ` +
    (matchMxList === undefined ? 'no matchMxList in this build' : `matchMxList and matchMx differ on ${listDiffer}`),
);

const show = (v) => (v.ok ? 'accept' : `reject (${v.code})`);
const edgeRows = [['edge policy', 'RFC 8461', 'mtasts', 'mailauth', 'note']];
for (const [name, text, valid, reason] of EDGE_POLICIES) {
  const a = verdict(() => parsePolicy(text));
  const b = verdict(() => mailauth.parsePolicy(text));
  if (a.ok === b.ok && a.ok === valid) continue; // all three agree: not worth a line
  const notes = [];
  if (a.ok !== valid) notes.push('MTASTS DIFFERS FROM RFC');
  if (b.ok !== valid) notes.push('mailauth differs from RFC');
  if (a.ok && b.ok && a.value.mode !== b.value.mode) notes.push(`mode ${a.value.mode} vs ${b.value.mode}`);
  edgeRows.push([name, valid ? 'valid' : 'invalid', show(a), show(b), `${notes.join('; ')} — ${reason}`]);
}
console.log(`edge policies: ${EDGE_POLICIES.length}, those where mtasts, mailauth and the RFC do not all agree:`);
console.log(edgeRows.length > 1 ? table(edgeRows) : '(none)');

const matchRows = [['edge match', 'patterns', 'host', 'RFC 8461', 'mtasts', 'mailauth', 'note']];
for (const [name, patterns, host, expected, reason] of EDGE_MATCHES) {
  const a = verdict(() => matchMx(patterns, host));
  const b = verdict(() => mailauth.validateMx(host, { mode: 'enforce', mx: patterns }).valid);
  const shown = (v) => (v.ok ? String(v.value) : `error (${v.code})`);
  if (a.ok && b.ok && a.value === expected && b.value === expected) continue;
  const notes = [];
  if (!a.ok || a.value !== expected) notes.push('MTASTS DIFFERS FROM RFC');
  if (!b.ok || b.value !== expected) notes.push('mailauth differs from RFC');
  matchRows.push([name, patterns.join(','), host, String(expected), shown(a), shown(b), `${notes.join('; ')} — ${reason}`]);
}
console.log(`edge matches: ${EDGE_MATCHES.length}, those where mtasts, mailauth and the RFC do not all agree:`);
console.log(matchRows.length > 1 ? table(matchRows) : '(none)');

// ---------------------------------------------------------------------------------------------
// 3. Throughput
// Only policies both accept are timed, so both do the same work.
const timed = corpus.filter((_, i) => ours[i].ok && theirs[i].ok);
const timedTexts = timed.map((c) => c.text);
const timedBytes = timed.map((c) => Buffer.from(c.text, 'utf8'));
const oursParsed = timedTexts.map((t) => parsePolicy(t));
const theirsParsed = timedTexts.map((t) => mailauth.parsePolicy(t));
const hostsOf = timed.map((c) => c.hosts);
const N = timed.length;

const cases = [
  { name: 'mtasts parse (string)', run: () => { for (const t of timedTexts) sink.keep(parsePolicy(t)); return N; } },
  { name: 'mailauth parse (string)', run: () => { for (const t of timedTexts) sink.keep(mailauth.parsePolicy(t)); return N; } },
  { name: 'mtasts parse (bytes)', run: () => { for (const b of timedBytes) sink.keep(parsePolicy(b)); return N; } },
  { name: 'mailauth parse (bytes)', run: () => { for (const b of timedBytes) sink.keep(mailauth.parsePolicy(b)); return N; } },
  {
    name: 'mtasts match',
    run: () => {
      for (let i = 0; i < N; i++) for (const h of hostsOf[i]) sink.keep(matchMx(oursParsed[i], h));
      return 3 * N;
    },
  },
  {
    name: 'mailauth match',
    run: () => {
      for (let i = 0; i < N; i++) for (const h of hostsOf[i]) sink.keep(mailauth.validateMx(h, theirsParsed[i]).valid);
      return 3 * N;
    },
  },
  {
    name: 'mtasts parse+3 matches',
    run: () => {
      for (let i = 0; i < N; i++) {
        const p = parsePolicy(timedTexts[i]);
        for (const h of hostsOf[i]) sink.keep(matchMx(p, h));
      }
      return N;
    },
  },
  {
    // The whole MX list in one call (matchMxList), where the build has it.
    name: 'mtasts parse+matchMxList',
    run: () => {
      for (let i = 0; i < N; i++) sink.keep(matchMxList(parsePolicy(timedTexts[i]), hostsOf[i]));
      return N;
    },
  },
  {
    name: 'mailauth parse+3 matches',
    run: () => {
      for (let i = 0; i < N; i++) {
        const p = mailauth.parsePolicy(timedTexts[i]);
        for (const h of hostsOf[i]) sink.keep(mailauth.validateMx(h, p).valid);
      }
      return N;
    },
  },
];

console.log(`\n== throughput (${N} policies both accept; median of ${ROUNDS} rounds of ≥${MIN_MS} ms after 2 warm-up rounds) ==`);
const results = throughput(matchMxList === undefined ? cases.filter((c) => c.name !== 'mtasts parse+matchMxList') : cases, { rounds: ROUNDS, minMs: MIN_MS });
const rows = [['operation', 'mtasts ops/s', 'mailauth ops/s', 'mtasts/mailauth', 'mtasts range', 'mailauth range']];
for (const [label, a, b] of [
  ['parsePolicy (string)', 'mtasts parse (string)', 'mailauth parse (string)'],
  ['parsePolicy (Buffer)', 'mtasts parse (bytes)', 'mailauth parse (bytes)'],
  ['matchMx / validateMx', 'mtasts match', 'mailauth match'],
  ['parse + 3 matches', 'mtasts parse+3 matches', 'mailauth parse+3 matches'],
  ['parse + 3 matches, one matchMxList call', 'mtasts parse+matchMxList', 'mailauth parse+3 matches'],
]) {
  if (!results.has(a)) continue;
  const x = results.get(a);
  const y = results.get(b);
  const range = (r) => `${formatNumber(r.min / 1000)}k-${formatNumber(r.max / 1000)}k`;
  rows.push([label, formatNumber(x.median), formatNumber(y.median), `${formatNumber(x.median / y.median, 2)}x`, range(x), range(y)]);
}
console.log(table(rows));

// ---------------------------------------------------------------------------------------------
// 4. Where an mtasts call spends its time
console.log('\n== mtasts call breakdown (ns per call, median of 7 rounds) ==');
const wasm = initSync({ module: readFileSync(new URL('wasm/mtasts_bg.wasm', PKG)) });
const sample = timed.find((c) => c.mx.length === 3) ?? timed[0];
const sampleText = sample.text;
const sampleParsed = parsePolicy(sampleText);
const samplePlain = { mx: [...sampleParsed.mx] };
const sampleJson = JSON.stringify(sampleParsed);
const sampleJsonBytes = Buffer.from(sampleJson);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const scratch = new Uint8Array(4096);
const one = ['mx1.example.com'];
const ten = Array.from({ length: 10 }, (_, i) => `mx${i}.example.com`);
const wild10 = Array.from({ length: 10 }, (_, i) => `*.mx${i}.example.com`);
const breakdown = [
  ['empty wasm call (numbers only: __wbindgen_malloc + __wbindgen_free)', () => wasm.__wbindgen_free(wasm.__wbindgen_malloc(16, 1), 16, 1)],
  ['normalizeDomain("mx1.example.com") (short string in and out)', () => normalizeDomain('mx1.example.com')],
  [`parsePolicy(${Buffer.byteLength(sampleText)}-byte policy, 3 mx) → object`, () => parsePolicy(sampleText)],
  ['  JS part: TextEncoder.encodeInto of that text', () => encoder.encodeInto(sampleText, scratch).written],
  [`  JS part: TextDecoder + JSON.parse of the ${sampleJson.length}-byte result JSON`, () => JSON.parse(decoder.decode(sampleJsonBytes))],
  ['  JS part: TextDecoder.decode of 2 bytes ("mx": fixed cost of any wasm→JS string)', () => decoder.decode(sampleJsonBytes.subarray(2, 4))],
  ['mailauth parsePolicy of the same text', () => mailauth.parsePolicy(sampleText)],
  ['matchMx(1 pattern, non-matching host)', () => matchMx(one, 'smtp.example.org')],
  ['matchMx(10 patterns, non-matching host)', () => matchMx(ten, 'smtp.example.org')],
  ['matchMx(10 wildcard patterns, non-matching host)', () => matchMx(wild10, 'smtp.example.org')],
  // A parsed policy: hosts in normal form are compared in JS against the core's checked patterns.
  ['matchMx(parsed policy, 3 patterns, matching host)', () => matchMx(sampleParsed, sample.hosts[0])],
  ['matchMx(parsed policy, 3 patterns, host in normal form, no match)', () => matchMx(sampleParsed, 'smtp.example.org')],
  ['matchMx(parsed policy, 3 patterns, host in capitals, no match: the core matches)', () => matchMx(sampleParsed, 'SMTP.example.org')],
  ['matchMx({ mx } of the same patterns, matching host: the core matches)', () => matchMx(samplePlain, sample.hosts[0])],
  ...(matchMxList === undefined ? [] : [['matchMxList(policy object, 3 patterns, its 3 hosts)', () => matchMxList(sampleParsed, sample.hosts)]]),
  ['mailauth validateMx(10 patterns, non-matching host)', () => mailauth.validateMx('smtp.example.org', { mode: 'enforce', mx: ten }).valid],
];
const breakdownRows = [['call', 'ns/call']];
for (const [label, fn] of breakdown) breakdownRows.push([label, formatNumber(nsPerCall(fn, { calls: 100_000 }))]);
console.log(table(breakdownRows));

// ---------------------------------------------------------------------------------------------
// 5. Optional CPU profiles of the mtasts parse loop and match loop
/** Self time by function over ~`ms` of `run()`, from the inspector's sampling profiler. */
async function profileOf(run, ms) {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  const until = Date.now() + ms;
  while (Date.now() < until) run();
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (const id of profile.samples) {
    const { functionName, url } = byId.get(id).callFrame;
    const wasmFrame = url.startsWith('wasm://') || /^\$?wasm-function/.test(functionName);
    const key = wasmFrame ? `[wasm] ${functionName.replace(/::h[0-9a-f]{16}$/, '')}` : `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}`;
    self.set(key, (self.get(key) ?? 0) + 1);
  }
  return { self, total: profile.samples.length };
}

if (PROFILE) {
  for (const [label, c] of [['parsePolicy', cases[0]], ['matchMx', cases[4]], ['parse + 3 matches', cases.find((c) => c.name === 'mtasts parse+3 matches')]]) {
    const { self, total } = await profileOf(c.run, 2000);
    const inWasm = [...self].filter(([k]) => k.startsWith('[wasm]')).reduce((n, [, v]) => n + v, 0);
    const alloc = [...self].filter(([k]) => /dlmalloc|__rust_(alloc|dealloc|realloc)|__wbindgen_(malloc|free|realloc)/.test(k)).reduce((n, [, v]) => n + v, 0);
    console.log(`\n== CPU profile: mtasts ${label} over the corpus for ~2 s, self time by function (${total} samples) ==`);
    console.log(`inside wasm: ${formatNumber((100 * inWasm) / total, 1)}% (of which allocator ${formatNumber((100 * alloc) / total, 1)}%); ` +
      `JS glue, JS engine builtins (JSON.parse, TextDecoder, Reflect.get) and the loop: ${formatNumber((100 * (total - inWasm)) / total, 1)}%`);
    const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 14);
    console.log(table([['function', 'self %'], ...top.map(([k, n]) => [k.slice(0, 110), `${formatNumber((100 * n) / total, 1)}%`])]));
  }
  console.log('(handleError wraps the JSON.parse and Reflect.get imports: their time is counted there)');
}

if (sink.value === 42.5) console.log(''); // never true; keeps the sink observable
