// TLS reports end to end (issue 9, RFC 8460): the relay delivers to lab domains under enforce,
// testing, mode none, no policy and broken policy hosts, with good and broken MX hosts; its
// records (js/relay/tlsrpt-log.js) are built by `mtasts report build` run as a CLI process; each
// file is gunzipped and read by the core's reader (readTlsRptReport) and as JSON: exact counts per
// policy domain and result type, the lab's policy strings and mx patterns, the sending IP. Then
// pruning (the relay at start, `report build --prune`) and usage errors.
// Run: scripts/build && node --test tests/js/report-build.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { PKG, CLI } from './built-package.mjs';
import { startRelayWorld } from './relay-world.mjs';

const { readTlsRptReport } = await import(pathToFileURL(join(PKG, 'js/node/index.js')));
const { policyText } = await import(pathToFileURL(join(PKG, 'js/lab/scenarios.js')));

const DAY_MS = 86_400_000;
const dayOf = (ms) => new Date(ms).toISOString().slice(0, 10);

// The relay's clock starts at noon UTC of today and runs on: its records all fall on DAY however
// close to midnight the test runs (lab certificates are valid from a day ago).
const NOON = Date.parse(`${dayOf(Date.now())}T12:00:00Z`);
const SHIFT = Date.now() - NOON;
const clock = () => Date.now() - SHIFT;
const DAY = dayOf(NOON);
const SUBMITTER = 'reporter.test';

/** Runs the CLI; resolves { code, stdout, stderr } whatever the exit status. */
function mtasts(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60000 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

let world;
let storeDir;
let out;

before(async () => {
  world = await startRelayWorld();
  storeDir = join(world.dir, 'store');
  out = join(world.dir, 'reports');
  // Days the relay's start must prune (30 days before its clock) and keep (3 days before).
  for (const [day, domain] of [[dayOf(NOON - 30 * DAY_MS), 'old.test'], [dayOf(NOON - 3 * DAY_MS), 'recent.test']]) {
    mkdirSync(join(storeDir, 'tlsrpt', day), { recursive: true });
    writeFileSync(join(storeDir, 'tlsrpt', day, `${domain}.jsonl`), '{}\n');
  }
});

after(async () => {
  await world?.stop();
});

// What is sent, each message once, with how the scripted MX behaves for its domain (relay-mx.mjs).
// Limits as the relay's defaults, stated here because the counts follow from them: 2 greeted
// sessions per delivery, so a failing MX host costs its two addresses (127.0.0.1, ::1).
const PLAN = [
  ['enforce-valid.test', {}], //                   1 success
  ['enforce-valid.test', { cert: 'untrusted' }], // 2 certificate-not-trusted, deferred (enforce)
  ['testing-valid.test', {}], //                   1 success
  ['testing-valid.test', { cert: 'untrusted' }], // 1 certificate-not-trusted, delivered (testing)
  ['testing-valid.test', { cert: 'fail' }], //     2 validation-failure (handshake), then plaintext: no record
  ['no-record.test', {}], //                       1 success, no-policy-found
  ['none.test', {}], //                            1 success, no-policy-found (mode none applies no policy)
  ['policy-500.test', {}], //                      sts-policy-fetch-error, then 1 success without a policy
  ['policy-invalid-syntax.test', {}], //           sts-policy-invalid, then 1 success
  ['policy-untrusted-cert.test', {}], //           sts-webpki-invalid, then 1 success
];

const lines = (text) => text.split(/\r?\n/).filter(Boolean);
const enforceLines = lines(policyText({ mode: 'enforce', mx: ['mx1.enforce-valid.test', 'mx2.enforce-valid.test'] }));
const testingLines = lines(policyText({ mode: 'testing', mx: ['*.testing-valid.test'] }));

// Per policy domain: policy type, strings, patterns, successes, failures by result type.
const EXPECTED = {
  'enforce-valid.test': { type: 'sts', strings: enforceLines, mx: ['mx1.enforce-valid.test', 'mx2.enforce-valid.test'], ok: 2, failures: { 'certificate-not-trusted': 2 } },
  'testing-valid.test': { type: 'sts', strings: testingLines, mx: ['*.testing-valid.test'], ok: 1, failures: { 'certificate-not-trusted': 1, 'validation-failure': 2 } },
  'no-record.test': { type: 'no-policy-found', ok: 1, failures: {} },
  'none.test': { type: 'no-policy-found', ok: 1, failures: {} },
  'policy-500.test': { type: 'no-policy-found', ok: 1, failures: { 'sts-policy-fetch-error': 1 } },
  'policy-invalid-syntax.test': { type: 'no-policy-found', ok: 1, failures: { 'sts-policy-invalid': 1 } },
  'policy-untrusted-cert.test': { type: 'no-policy-found', ok: 1, failures: { 'sts-webpki-invalid': 1 } },
};

test('relay → records → report build → gunzip → readTlsRptReport: exact counts per policy domain and result type', { timeout: 60_000 }, async () => {
  const flags = { mxSessionLimit: 2, mxAddressLimit: 5 };
  const main = await world.startTestRelay(flags, { clock });
  // The relay pruned at start: the day 30 days back is gone, the one 3 days back kept.
  assert.ok(!existsSync(join(storeDir, 'tlsrpt', dayOf(NOON - 30 * DAY_MS))), 'old day pruned at start');
  assert.ok(existsSync(join(storeDir, 'tlsrpt', dayOf(NOON - 3 * DAY_MS), 'recent.test.jsonl')), 'recent day kept');

  for (const [domain, behaviour] of PLAN) {
    world.mx.behave(domain, behaviour);
    const { err } = await world.send(main, { to: [`user@${domain}`] });
    world.mx.behave(domain, {});
    const deferred = domain === 'enforce-valid.test' && behaviour.cert === 'untrusted';
    if (deferred) assert.equal(err?.responseCode, 451, 'enforce defers');
    else assert.equal(err, undefined, `${domain} ${JSON.stringify(behaviour)}: ${err?.message}`);
  }
  // A second relay process on the same store appends to the same files: the lines add up.
  const again = await world.startTestRelay(flags, { clock });
  assert.equal((await world.send(again, { to: ['user@enforce-valid.test'] })).err, undefined);
  await again.relay.close();

  const args = ['report', 'build', '--store', `file:${storeDir}`, '--date', DAY, '--out', out, '--org', 'Lab Relay', '--contact', 'mailto:tlsrpt@reporter.test', '--submitter', SUBMITTER];
  const run = await mtasts(args);
  assert.equal(run.code, 0, run.stderr);
  const files = readdirSync(out).sort();
  const begin = Date.parse(`${DAY}T00:00:00Z`) / 1000;
  const domains = Object.keys(EXPECTED).sort();
  assert.deepEqual(files, domains.map((d) => `${SUBMITTER}!${d}!${begin}!${begin + 86399}.json.gz`), 'one RFC 8460 §5.3 file per policy domain');
  // One line per report: domain, report-id, sessions, file.
  assert.equal(lines(run.stdout).length, domains.length, run.stdout);

  for (const domain of domains) {
    const want = EXPECTED[domain];
    const file = join(out, `${SUBMITTER}!${domain}!${begin}!${begin + 86399}.json.gz`);
    const json = gunzipSync(readFileSync(file)).toString('utf8');
    const summary = readTlsRptReport(json);
    // Every failure has its sending-mta-ip, policy fetch failures too (the fetch's local address):
    // the reader finds nothing to complain about.
    assert.deepEqual(summary.problems, [], `${domain}: ${JSON.stringify(summary.problems)}`);
    assert.equal(summary.organization, 'Lab Relay');
    assert.deepEqual(summary.dateRange, { start: `${DAY}T00:00:00Z`, end: `${DAY}T23:59:59Z` });
    assert.equal(summary.policies.length, 1, `${domain}: one policy applied all day`);
    const [p] = summary.policies;
    assert.equal(p.policyDomain, domain);
    assert.equal(p.policyType, want.type, domain);
    assert.equal(p.successful, want.ok, `${domain} successful sessions`);
    const byType = {};
    for (const f of p.failures) byType[f.resultType] = (byType[f.resultType] ?? 0) + f.count;
    assert.deepEqual(byType, want.failures, `${domain} failures by result type`);
    assert.equal(p.failed, Object.values(want.failures).reduce((a, b) => a + b, 0), `${domain} failed sessions`);
    const line = lines(run.stdout).find((l) => l.startsWith(`${domain} `));
    assert.ok(line.includes(summary.reportId) && line.includes(`sessions: ${p.successful} ok, ${p.failed} failed`) && line.endsWith(file), line);

    const report = JSON.parse(json);
    const policy = report.policies[0].policy;
    if (want.type === 'sts') {
      assert.deepEqual(policy['policy-string'], want.strings, `${domain}: the lab's policy lines`);
      assert.deepEqual(policy['mx-host'], want.mx, `${domain}: the lab's mx patterns`);
    } else {
      assert.equal(policy['policy-string'], undefined);
      assert.equal(policy['mx-host'], undefined);
    }
    for (const f of report.policies[0]['failure-details']) {
      if (f['result-type'].startsWith('sts-')) {
        // RFC 8460 §4.3.2.2: met before any MX was chosen; §4.4 sending-mta-ip: the address the
        // policy was fetched from (the lab's policy host is on 127.0.0.1).
        assert.equal(f['receiving-mx-hostname'], undefined, JSON.stringify(f));
        assert.equal(f['sending-mta-ip'], '127.0.0.1', JSON.stringify(f));
      } else {
        assert.match(f['receiving-mx-hostname'], new RegExp(`^mx1\\.${domain.replace(/\./g, '\\.')}$`));
        // On loopback the relay's local address is the MX's address (delivery-driver.js sendingIp).
        assert.ok(['127.0.0.1', '::1'].includes(f['receiving-ip']), JSON.stringify(f));
        assert.equal(f['sending-mta-ip'], f['receiving-ip'], JSON.stringify(f));
      }
    }
  }

  // Built again: the same bytes, the same file names; --json gives the same counts.
  const before = files.map((f) => readFileSync(join(out, f)));
  const json = await mtasts([...args, '--json']);
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout);
  assert.equal(parsed.day, DAY);
  assert.deepEqual(parsed.reports.map((r) => r.policyDomain), domains);
  for (const r of parsed.reports) {
    const want = EXPECTED[r.policyDomain];
    assert.equal(r.successful, want.ok);
    assert.equal(r.failed, Object.values(want.failures).reduce((a, b) => a + b, 0));
  }
  assert.deepEqual(readdirSync(out).sort(), files);
  files.forEach((f, i) => assert.ok(readFileSync(join(out, f)).equals(before[i]), `${f} rebuilt byte-identical`));
});

test('report build: a day without records exits 1 and says so; nothing is written', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtasts-rbuild-'));
  try {
    mkdirSync(join(dir, 'store'));
    const r = await mtasts(['report', 'build', '--store', `file:${join(dir, 'store')}`, '--date', '2026-01-02', '--out', join(dir, 'out'), '--org', 'O', '--contact', 'c@example.org', '--submitter', 's.example']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /no TLS-RPT session recorded on 2026-01-02/);
    assert.equal(existsSync(join(dir, 'out')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('report build --prune deletes recorded days before today minus --keep-days, keeps the rest', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtasts-rbuild-'));
  try {
    const now = Date.now();
    const day = (n) => dayOf(now - n * DAY_MS);
    const record = (d) =>
      `${JSON.stringify({ at: `${d}T10:00:00.000Z`, policyDomain: 'a.example', policyType: 'no-policy-found', kind: 'session', mx: 'mx.a.example', address: '192.0.2.1', sendingIp: '192.0.2.2', result: 'success', code: 'success', count: 1 })}\n`;
    for (const n of [40, 11, 10, 2]) {
      mkdirSync(join(dir, 'store', 'tlsrpt', day(n)), { recursive: true });
      writeFileSync(join(dir, 'store', 'tlsrpt', day(n), 'a.example.jsonl'), record(day(n)));
    }
    // Not a day directory: never touched.
    mkdirSync(join(dir, 'store', 'tlsrpt', 'notes'));
    const base = ['report', 'build', '--store', `file:${join(dir, 'store')}`, '--out', join(dir, 'out'), '--org', 'O', '--contact', 'c@example.org', '--submitter', 's.example'];
    const r = await mtasts([...base, '--date', day(40), '--prune', '--keep-days', '10', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const parsed = JSON.parse(r.stdout);
    assert.equal(parsed.reports.length, 1, 'the day is built before it is pruned');
    assert.deepEqual(parsed.pruned, [day(40), day(11)]);
    assert.deepEqual(readdirSync(join(dir, 'store', 'tlsrpt')).sort(), [day(10), day(2), 'notes'].sort());
    // Without --prune nothing goes.
    const again = await mtasts([...base, '--date', day(10)]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(readdirSync(join(dir, 'store', 'tlsrpt')).sort(), [day(10), day(2), 'notes'].sort());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('report build: usage errors exit 2 with one line', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtasts-rbuild-'));
  try {
    mkdirSync(join(dir, 'store'));
    const ok = ['--store', `file:${join(dir, 'store')}`, '--out', join(dir, 'out'), '--org', 'O', '--contact', 'c@example.org', '--submitter', 's.example'];
    const without = (flag) => {
      const i = ok.indexOf(flag);
      return [...ok.slice(0, i), ...ok.slice(i + 2)];
    };
    const cases = [
      [without('--org'), /missing --org/, 'organization-name is required (RFC 8460 §4.4)'],
      [without('--contact'), /missing --contact/, 'contact-info is required (RFC 8460 §4.4)'],
      [without('--out'), /missing --out/, 'nowhere to write'],
      [[...ok, '--date', '2026-02-30'], /--date needs a UTC day/, 'not a calendar day'],
      [[...ok, '--date', 'yesterday'], /--date needs a UTC day/, 'not YYYY-MM-DD'],
      [[...ok, '--keep-days', '5'], /--keep-days needs --prune/, 'keep-days alone does nothing'],
      [[...ok, '--prune', '--keep-days', '0'], /--keep-days needs a whole number/, 'at least one day'],
      [[...without('--submitter'), '--submitter', 'not a domain!'], /--submitter needs a domain name/, 'not a domain'],
      [[...without('--store'), '--store', 'memory'], /--store memory keeps no records/, 'memory has nothing'],
      [[...without('--store'), '--store', `file:${join(dir, 'missing')}`], /no store directory/, 'a typo in the store'],
      [[...ok, '--frobnicate'], /unknown option --frobnicate/, 'unknown option'],
      [[...ok, 'extra'], /takes no arguments/, 'a positional'],
    ];
    for (const [args, message, why] of cases) {
      const r = await mtasts(['report', 'build', ...args]);
      assert.equal(r.code, 2, `${why}: ${r.stderr}`);
      assert.match(r.stderr, message, why);
      assert.equal(lines(r.stderr).length, 1, why);
    }
    // Every flag is in the usage text (read from the module: main.js answers
    // `report build --help` with the report command's own usage before report.js dispatches).
    const { usage } = await import(pathToFileURL(join(PKG, 'js/cli/report-build.js')));
    for (const flag of ['--store', '--date', '--out', '--org', '--contact', '--submitter', '--json', '--prune', '--keep-days']) assert.ok(usage.includes(`  ${flag}`), flag);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
