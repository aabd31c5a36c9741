// `mtasts check` and `mtasts demo` through the built CLI (pkg/js/cli/main.js) as a user runs them:
// the whole scenario catalogue with --json against the lab served by real dnsmasq (and unbound for
// SERVFAIL), the exit statuses, the human output, usage errors, the default file store.
// Run: scripts/build && node --test tests/js/check-cli.test.mjs
import { createHash } from 'node:crypto';
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, CLI, assertBuilt } from './built-package.mjs';

assertBuilt();
const { startLab } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));
const { findProgram } = await import(pathToFileURL(join(PKG, 'js/lab/peer-process.js')));

const HAVE_DNSMASQ = Boolean(findProgram('dnsmasq'));
const HAVE_UNBOUND = Boolean(findProgram('unbound'));

/** Runs the CLI; resolves { code, stdout, stderr } whatever the exit status. */
function mtasts(args, { env = {} } = {}) {
  const childEnv = { ...process.env, ...env };
  delete childEnv.NO_COLOR;
  delete childEnv.FORCE_COLOR;
  delete childEnv.MTASTS_DEBUG;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: childEnv, timeout: 120000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

/** Runs `fn` over `items`, at most `limit` at a time (each check is its own Node process). */
async function inBatches(items, limit, fn) {
  const results = [];
  for (let i = 0; i < items.length; i += limit) results.push(...(await Promise.all(items.slice(i, i + limit).map(fn))));
  return results;
}

// What `record.status` each scenario shows (RFC 8461 §3.1), from its catalogue entry.
function expectedRecordStatus(s) {
  if (s.dnsFault) return 'temperror';
  if (s.txt.length === 0 || s.txtName) return 'none';
  if (s.txt.length > 1) return 'multiple';
  if (s.expect.errorCode === 'record-invalid') return 'invalid';
  return 'found';
}

// Exit 0 only for a valid policy whose MX hosts all match (mode none: valid, matching not applied).
function expectedOk(s) {
  const e = s.expect;
  if (e.status !== 'found') return false;
  return e.mode === 'none' || Object.values(e.mxMatch).every(Boolean);
}

/** Asserts a `check --json` result against the scenario's catalogue entry. */
function assertScenario(s, { code, stdout, stderr }) {
  assert.ok(code === 0 || code === 1, `${s.name}: exit ${code}, stderr ${stderr}`);
  assert.equal(stderr, '', `${s.name}: nothing on stderr`);
  const report = JSON.parse(stdout);
  const e = s.expect;
  assert.equal(report.domain, s.domain);
  assert.equal(report.record.status, expectedRecordStatus(s), `${s.name}: record.status`);
  assert.equal(report.policy.status, e.status, `${s.name}: policy.status`);
  assert.equal(report.policy.mode, e.mode ?? null, `${s.name}: policy.mode`);
  const codes = report.errors.map((x) => x.code);
  if (e.errorCode) assert.ok(codes.includes(e.errorCode), `${s.name}: errors ${codes} include ${e.errorCode}`);
  for (const x of report.errors) {
    assert.equal(typeof x.message, 'string');
    assert.ok('tlsrpt' in x, `${s.name}: every error has a tlsrpt field`);
  }
  assert.deepEqual(
    report.mx.map((h) => [h.host, h.priority]),
    s.mx.map((m) => [m.host, m.priority]),
    `${s.name}: mx hosts and priorities`,
  );
  if (e.mxMatch) {
    for (const h of report.mx) assert.equal(h.matchesPolicy, e.mxMatch[h.host], `${s.name}: ${h.host} matchesPolicy`);
    assert.equal(codes.includes('mx-not-in-policy'), Object.values(e.mxMatch).includes(false), `${s.name}: mx-not-in-policy`);
  } else {
    for (const h of report.mx) assert.equal(h.matchesPolicy, null, `${s.name}: no policy, no matching`);
  }
  if (e.status === 'found') {
    assert.equal(report.record.id, lab.state(s.name).id, `${s.name}: record.id`);
    assert.equal(report.policy.id, report.record.id);
    assert.equal(typeof report.policy.maxAge, 'number');
    assert.ok(report.policy.mx.length > 0);
    assert.equal(Date.parse(report.policy.expiresAt) - Date.parse(report.policy.fetchedAt), report.policy.maxAge * 1000);
  }
  if (report.record.status !== 'temperror' && report.record.status !== 'none') {
    // Records come in no fixed order, and a string over 255 octets arrives split (RFC 8461 §3.1).
    const joined = (records) => records.map((strings) => strings.join('')).sort();
    assert.deepEqual(joined(report.record.raw), joined(s.txt), `${s.name}: record.raw`);
  }
  assert.equal(report.ok, expectedOk(s), `${s.name}: ok`);
  assert.equal(code, expectedOk(s) ? 0 : 1, `${s.name}: exit status`);
  return report;
}

let lab;
let dir;
let caFile;
// --no-probe: these tests are about DNS and policies; no lab MX answers SMTP here (the MX probe is
// tested against real Postfix in check-probe.test.mjs).
const labFlags = (server) => [
  '--dns-server', server, '--ca-file', caFile, '--policy-port', String(lab.policyPort),
  '--timeout', '2000', '--dns-timeout', '500', '--no-probe', '--store', 'memory',
];

before(async () => {
  lab = await startLab();
  dir = mkdtempSync(join(tmpdir(), 'mtasts-check-cli-'));
  caFile = join(dir, 'lab-ca.pem');
  writeFileSync(caFile, lab.caPem);
});
after(async () => {
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('mtasts check --json over the scenario catalogue', () => {
  test('through real dnsmasq', { timeout: 180_000, skip: !HAVE_DNSMASQ && 'dnsmasq not installed (apt-get install dnsmasq-base; CI installs it)' }, async () => {
    const peer = await lab.startDnsmasq();
    try {
      const runs = await inBatches(lab.scenarios, 4, (s) => mtasts(['check', s.domain, '--json', ...labFlags(peer.server)]));
      lab.scenarios.forEach((s, i) => assertScenario(s, runs[i]));
    } finally {
      await peer.stop();
    }
  });

  test('SERVFAIL and an unanswered TXT query through real unbound are temporary failures', { timeout: 180_000, skip: !HAVE_UNBOUND && 'unbound not installed (apt-get install unbound; CI installs it)' }, async () => {
    const peer = await lab.startUnbound();
    try {
      for (const name of ['servfail', 'dns-timeout']) {
        const s = lab.scenarios.find((x) => x.name === name);
        const report = assertScenario(s, await mtasts(['check', s.domain, '--json', ...labFlags(peer.server)]));
        assert.equal(report.record.status, 'temperror');
        assert.equal(report.errors[0].code, 'dns-temporary');
      }
      // A scenario unbound answers normally, so the SERVFAIL above is not a broken setup.
      const ok = lab.scenarios.find((x) => x.name === 'enforce-valid');
      assertScenario(ok, await mtasts(['check', ok.domain, '--json', ...labFlags(peer.server)]));
    } finally {
      await peer.stop();
    }
  });

  test('through the embedded DNS server (what mtasts demo uses)', { timeout: 180_000 }, async () => {
    const runs = await inBatches(lab.scenarios, 4, (s) => mtasts(['check', s.domain, '--json', ...labFlags(lab.dns.server)]));
    lab.scenarios.forEach((s, i) => assertScenario(s, runs[i]));
  });
});

describe('mtasts check for a person', () => {
  test('a good domain: ✓ steps, exit 0, no colour when not on a terminal', { timeout: 180_000 }, async () => {
    const { code, stdout, stderr } = await mtasts(['check', 'enforce-valid.test', ...labFlags(lab.dns.server)]);
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stdout, /\x1b\[/, 'no ANSI escape codes');
    assert.match(stdout, /^✓ TXT record _mta-sts\.enforce-valid\.test: one MTA-STS record, id 20240101T000000 \(RFC 8461 §3\.1\)$/m);
    assert.match(stdout, /^    "v=STSv1; id=20240101T000000"$/m, 'the raw TXT string');
    assert.match(stdout, /^✓ policy fetch https:\/\/mta-sts\.enforce-valid\.test\/\.well-known\/mta-sts\.txt: HTTP 200, text\/plain/m);
    assert.match(stdout, /^✓ policy: mode enforce, max_age 86400 \(1 day\), 2 mx patterns/m);
    assert.match(stdout, /^    ✓\s+10 mx1\.enforce-valid\.test\s+matches mx1\.enforce-valid\.test$/m);
    assert.match(stdout, /^✓ enforce-valid\.test: valid MTA-STS policy in mode enforce/m);
    assert.doesNotMatch(stdout, /✗/);
  });

  test('an MX host outside the policy: ✗ on that host, exit 1', { timeout: 180_000 }, async () => {
    const { code, stdout } = await mtasts(['check', 'mx-not-in-policy.test', ...labFlags(lab.dns.server)]);
    assert.equal(code, 1);
    assert.match(stdout, /^✗ MX hosts of mx-not-in-policy\.test: 1 of 2 match the policy/m);
    assert.match(stdout, /^    ✗\s+20 backup\.mx-not-in-policy\.test\s+matches no pattern$/m);
    assert.match(stdout, /^✗ mx-not-in-policy\.test: .*mx-not-in-policy/m);
  });

  test('an invalid policy: every lint problem of the fetched body, with its line', { timeout: 180_000 }, async () => {
    const { code, stdout } = await mtasts(['check', 'policy-invalid-syntax.test', ...labFlags(lab.dns.server)]);
    assert.equal(code, 1);
    assert.match(stdout, /^✗ policy: invalid, so none/m);
    assert.match(stdout, /error \[policy-mode-invalid\] line 2, column 7/);
    assert.match(stdout, /error \[[a-z-]+\] line 4, column \d+: .*max_age/);
  });

  test('a record at the draft-era name _mta_sts is pointed out', { timeout: 180_000 }, async () => {
    const { code, stdout } = await mtasts(['check', 'draft-name.test', '--json', ...labFlags(lab.dns.server)]);
    assert.equal(code, 1);
    const report = JSON.parse(stdout);
    assert.equal(report.record.status, 'none');
    assert.equal(report.record.draft.name, '_mta_sts.draft-name.test');
    assert.ok(report.record.diagnostics.some((d) => d.code === 'record-draft-name'));
  });

  test('the TLS-RPT record (RFC 8460 §3): found, invalid, several, none; never counted in the exit status', { timeout: 180_000 }, async () => {
    const cases = [
      [[['v=TLSRPTv1; rua=mailto:tls@testing-valid.test,https://r.testing-valid.test/v1']], 'found', ['mailto:tls@testing-valid.test', 'https://r.testing-valid.test/v1']],
      [[['v=TLSRPTv1; ruf=mailto:tls@testing-valid.test']], 'invalid', []],
      [[['v=TLSRPTv1; rua=mailto:a@testing-valid.test'], ['v=TLSRPTv1; rua=mailto:b@testing-valid.test']], 'multiple', []],
      [[['v=spf1 -all']], 'none', []],
    ];
    try {
      for (const [records, status, rua] of cases) {
        lab.update('testing-valid', { extraTxt: { '_smtp._tls.testing-valid.test': records } });
        const json = await mtasts(['check', 'testing-valid.test', '--json', ...labFlags(lab.dns.server)]);
        const report = JSON.parse(json.stdout);
        assert.equal(json.code, 0, `${status}: the policy alone decides the exit status`);
        assert.equal(report.tlsrpt.name, '_smtp._tls.testing-valid.test');
        assert.equal(report.tlsrpt.status, status);
        assert.deepEqual(report.tlsrpt.rua, rua);
        assert.deepEqual(report.tlsrpt.raw, records);
        if (status === 'invalid') assert.ok(report.tlsrpt.diagnostics.some((d) => d.code.startsWith('tlsrpt-record-')));
        const text = (await mtasts(['check', 'testing-valid.test', ...labFlags(lab.dns.server)])).stdout;
        const line = text.split('\n').find((l) => l.includes('TLS-RPT record _smtp._tls.testing-valid.test'));
        assert.ok(line, text);
        assert.equal(line.startsWith('✓'), status === 'found', line);
      }
    } finally {
      lab.reset('testing-valid');
    }
  });

  test('a temporary DNS failure is not reported as "no record"', { timeout: 180_000 }, async () => {
    const { code, stdout } = await mtasts(['check', 'servfail.test', ...labFlags(lab.dns.server)]);
    assert.equal(code, 1);
    assert.match(stdout, /^✗ TXT record _mta-sts\.servfail\.test: temporary DNS failure \(ESERVFAIL\)/m);
  });
});

describe('mtasts check: the cache and local errors', () => {
  test('default store: a file store under $XDG_CACHE_HOME/mtasts; the second run reuses the policy', { timeout: 180_000 }, async () => {
    const cache = join(dir, 'xdg-cache');
    const flags = labFlags(lab.dns.server).slice(0, -2); // without --store memory
    const env = { XDG_CACHE_HOME: cache };
    const requests = lab.requests['testing-valid.test'];
    const first = JSON.parse((await mtasts(['check', 'testing-valid.test', '--json', ...flags], { env })).stdout);
    assert.equal(first.policy.status, 'found');
    const entryFile = `${createHash('sha256').update('testing-valid.test').digest('hex')}.json`;
    assert.ok(existsSync(join(cache, 'mtasts', entryFile)), 'the entry file exists (named by the hash of the domain)');
    const second = await mtasts(['check', 'testing-valid.test', '--json', ...flags], { env });
    assert.equal(second.code, 0);
    const report = JSON.parse(second.stdout);
    assert.equal(report.policy.status, 'cached');
    assert.equal(report.policy.fetch, null);
    assert.equal(lab.requests['testing-valid.test'], requests + 1, 'one HTTPS request for two runs');

    const human = await mtasts(['check', 'testing-valid.test', ...flags], { env });
    assert.match(human.stdout, /^✓ policy fetch: not needed, id testing1 is unchanged/m);
  });

  const usageCases = [
    [['check'], /^mtasts: missing domain/],
    [['check', 'a.test', 'b.test'], /^mtasts: give one domain at a time/],
    [['check', 'a.test', '--bogus'], /^mtasts: unknown option --bogus/],
    [['check', 'a.test', '--timeout', 'soon'], /^mtasts: --timeout needs a whole number/],
    [['check', 'a.test', '--policy-port', '70000'], /^mtasts: --policy-port needs a whole number from 1 to 65535/],
    [['check', 'a.test', '--smtp-port', '0'], /^mtasts: --smtp-port needs a whole number from 1 to 65535/],
    [['check', 'a.test', '--helo', 'two words'], /^mtasts: --helo needs a host name without spaces/],
    [['check', 'a.test', '--store', 'ftp://x'], /^mtasts: --store must be memory or file:DIR, or redis:/],
    [['check', 'a.test', '--ca-file', '/nonexistent/ca.pem'], /^mtasts: cannot read \/nonexistent\/ca\.pem: no such file/],
    [['check', 'a.test', '--dns-server', 'not-an-address'], /^mtasts: --dns-server needs an IP address/],
    [['check', 'exa mple.test'], /^mtasts: not a domain name/],
    [['demo', 'extra', '--bogus'], /^mtasts: unknown option --bogus/],
  ];
  for (const [args, message] of usageCases) {
    test(`usage error exits 2 with one line: mtasts ${args.join(' ')}`, { timeout: 180_000 }, async () => {
      const { code, stdout, stderr } = await mtasts(args);
      assert.equal(code, 2);
      assert.equal(stdout, '');
      assert.match(stderr, message);
      assert.equal(stderr.trimEnd().split('\n').length, 1, `one line: ${stderr}`);
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    });
  }

  test('a CA file that holds no certificate is a local error (exit 2)', { timeout: 180_000 }, async () => {
    const bad = join(dir, 'not-a-ca.pem');
    writeFileSync(bad, 'hello\n');
    const { code, stderr } = await mtasts(['check', 'a.test', '--ca-file', bad]);
    assert.equal(code, 2);
    assert.match(stderr, /holds no PEM certificate/);
  });

  test('--help documents the JSON output, the store and the test-infrastructure flags', { timeout: 180_000 }, async () => {
    const { code, stdout } = await mtasts(['check', '--help']);
    assert.equal(code, 0);
    assert.match(stdout, /test infrastructure/);
    for (const flag of ['--json', '--store', '--dns-server', '--ca-file', '--policy-port', '--timeout', '--no-color', '--no-probe', '--helo', '--smtp-port']) {
      assert.ok(stdout.includes(flag), flag);
    }
    const overview = await mtasts(['--help']);
    assert.match(overview.stdout, /^  check /m);
    assert.match(overview.stdout, /^  demo /m);
  });
});

describe('mtasts demo', () => {
  test('runs check over every lab scenario; every one behaves as expected (exit 0)', { timeout: 180_000 }, async () => {
    const { code, stdout, stderr } = await mtasts(['demo', '--json']);
    assert.equal(code, 0, stderr);
    const out = JSON.parse(stdout);
    assert.equal(out.ok, true);
    assert.deepEqual(out.scenarios.map((s) => s.name), lab.scenarios.map((s) => s.name));
    for (const s of out.scenarios) {
      assert.equal(s.matches, true, `${s.name}: ${s.problems.join('; ')}`);
      assert.equal(s.check.policy.status, s.expect.status);
    }

    // The TLS-RPT part: real deliveries through the relay to the lab MX, then the day's reports.
    const t = out.tlsrpt;
    assert.equal(t.ok, true);
    assert.deepEqual(t.deliveries.map((d) => [d.to.split('@')[1], d.outcome]), [
      ['enforce-valid.test', 'delivered'], ['enforce-valid.test', 'delivered'],
      ['long-record.test', 'deferred'], // enforce, an expired MX certificate: 451 (RFC 8461 §5)
      ['testing-valid.test', 'delivered'], // testing, an untrusted MX certificate: delivered and reported
      ['no-record.test', 'delivered'], ['policy-untrusted-cert.test', 'delivered'],
    ]);
    const by = Object.fromEntries(t.reports.map((r) => [r.policies[0].policyDomain, r.policies[0]]));
    const failures = (d) => by[d].failures.reduce((acc, f) => ({ ...acc, [f.resultType]: (acc[f.resultType] ?? 0) + f.count }), {});
    assert.deepEqual(Object.keys(by).sort(), ['enforce-valid.test', 'long-record.test', 'no-record.test', 'policy-untrusted-cert.test', 'testing-valid.test']);
    assert.deepEqual([by['enforce-valid.test'].successful, failures('enforce-valid.test')], [2, {}]);
    assert.deepEqual([by['long-record.test'].successful, failures('long-record.test')], [0, { 'certificate-expired': 2 }]); // two MX sessions (127.0.0.1, ::1)
    assert.deepEqual([by['testing-valid.test'].successful, failures('testing-valid.test')], [0, { 'certificate-not-trusted': 1 }]);
    assert.deepEqual([by['no-record.test'].policyType, by['no-record.test'].successful], ['no-policy-found', 1]);
    assert.deepEqual([by['policy-untrusted-cert.test'].successful, failures('policy-untrusted-cert.test')], [1, { 'sts-webpki-invalid': 1 }]);
  });

  test('prints a table, one ✓ row per scenario, no colour off a terminal', { timeout: 180_000 }, async () => {
    const { code, stdout } = await mtasts(['demo']);
    assert.equal(code, 0);
    assert.doesNotMatch(stdout, /\x1b\[/);
    for (const s of lab.scenarios) {
      const row = stdout.split('\n').find((l) => l.startsWith('✓') && l.split(/\s+/)[1] === s.name);
      assert.ok(row, `a ✓ row for ${s.name}`);
      assert.ok(row.endsWith(s.description), `${s.name}: the row ends with what it shows`);
    }
    assert.match(stdout, new RegExp(`✓ ${lab.scenarios.length} of ${lab.scenarios.length} scenarios behaved as the lab expects`));
    assert.match(stdout, /^  testing-valid\.test +sts +0 ok +1 failed: certificate-not-trusted ×1 \(mx1\.testing-valid\.test (127\.0\.0\.1|::1)\)$/m);
    assert.match(stdout, /^✓ 6 of 6 deliveries as RFC 8461 §5 says, and a report for each policy domain$/m);
  });
});

test('colour only on a terminal, and never with NO_COLOR or --no-color', { timeout: 180_000 }, async () => {
  const { painter } = await import(pathToFileURL(join(PKG, 'js/cli/colour.js')));
  const tty = { stdout: { isTTY: true }, env: {} };
  assert.match(painter(tty).red('x'), /\x1b\[31m/);
  assert.equal(painter({ ...tty, env: { NO_COLOR: '1' } }).red('x'), 'x');
  assert.equal(painter(tty, { noColor: true }).red('x'), 'x');
  assert.equal(painter({ stdout: {}, env: {} }).red('x'), 'x');
});

test("the lab is a package export: import { startLab } from 'mtasts/lab'", { timeout: 180_000 }, () => {
  // A module inside the package resolves its own name through package.json `exports`.
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', "import { startLab } from 'mtasts/lab'; console.log(typeof startLab)"], { cwd: PKG, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'function');
});
