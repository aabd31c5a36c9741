// `mtasts report read` as a user runs it (the CLI of the built package, as a process): the reports
// a domain received as .json, gzipped (RFC 8460 §5.3 application/tlsrpt+gzip) and as whole report
// mail (multipart/report, RFC 6522; nested in a multipart/mixed; quoted-printable +json), a large
// provider's shape with its problems, a gzip bomb, broken files among good ones, standard input,
// the exact --json shape, and a round trip through the core's builder.
// Fixtures: tests/vectors/tlsrpt-mail/ (the RFC 8460 §4.9 example and mail built around it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { gzipSync, createGzip } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CLI, PKG, ROOT, assertBuilt } from './built-package.mjs';

assertBuilt();
const { buildTlsRptReports, readTlsRptReport } = await import(pathToFileURL(join(PKG, 'js', 'node', 'index.js')).href);

const MAIL = join(ROOT, 'tests', 'vectors', 'tlsrpt-mail');
const VECTORS = join(ROOT, 'tests', 'vectors');
const tmp = mkdtempSync(join(tmpdir(), 'mtasts-report-read-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function mtasts(args, { input, env = {} } = {}) {
  const r = spawnSync(process.execPath, [CLI, 'report', 'read', ...args], {
    cwd: MAIL,
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, NO_COLOR: '', ...env },
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(args, opts) {
  const r = mtasts(['--json', ...args], opts);
  return { ...r, reports: JSON.parse(r.stdout) };
}

function tmpFile(name, content) {
  const path = join(tmp, name);
  writeFileSync(path, content);
  return path;
}

const EXAMPLE_JSON = readFileSync(join(MAIL, 'rfc8460-example.json'));
const EXAMPLE = JSON.parse(readFileSync(join(VECTORS, 'tlsrpt-report-read.json'), 'utf8'))[0].expect;
const ERROR_LINE = /^(.+): error \[([a-z0-9]+(?:-[a-z0-9]+)*)\] (.+)$/;

/** A report without its file name, to compare the same report read from different files. */
const sansFile = ({ file, ...rest }) => rest;

test('the RFC 8460 §4.9 example as .json: a summary of it, the problem noted, exit 0', { timeout: 60_000 }, () => {
  const r = mtasts(['rfc8460-example.json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(
    r.stdout,
    [
      'rfc8460-example.json: Company-X, report 5065427c-23d3-47ca-b6e0-946ea0e8c4be, 2016-04-01T00:00:00Z to 2016-04-01T23:59:59Z',
      '  company-y.example (sts): 5326 successful, 303 failed (5.4% failed)',
      '    certificate-expired: 100 (mx mx1.mail.company-y.example)',
      '    starttls-not-supported: 200 (mx mx2.mail.company-y.example, ip 203.0.113.56)',
      '    validation-failure: 3 (mx mx-backup.mail.company-y.example, ip 203.0.113.58)',
      '  warning [tlsrpt-report-mx-host-string] policies[0].policy.mx-host is a string; erratum 6241 makes it an array of strings (RFC 8460 §4.4, erratum 6241)',
      '',
    ].join('\n'),
  );
  assert.doesNotMatch(r.stdout, /total of/, 'no totals for one report');
});

test('--json: an array, one object per report, exactly the core summary plus file', { timeout: 60_000 }, () => {
  const r = json(['rfc8460-example.json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.reports.length, 1);
  const [report] = r.reports;
  assert.deepEqual(Object.keys(report), ['file', 'organization', 'reportId', 'dateRange', 'policies', 'problems']);
  assert.deepEqual(sansFile(report), { ...EXAMPLE.summary, problems: report.problems });
  assert.equal(report.file, 'rfc8460-example.json');
  assert.deepEqual(report.problems.map((p) => p.code), EXAMPLE.problems);
  assert.deepEqual(Object.keys(report.problems[0]).sort(), ['code', 'column', 'line', 'message', 'rfc', 'severity']);
  assert.deepEqual(Object.keys(report.policies[0]), ['policyDomain', 'policyType', 'successful', 'failed', 'failures']);
  assert.deepEqual(Object.keys(report.policies[0].failures[0]), ['resultType', 'count', 'receivingMxHostname', 'receivingIp']);
  assert.deepEqual(sansFile(report), readTlsRptReport(EXAMPLE_JSON.toString('utf8')), 'what the core reads, nothing added or dropped');
});

test('the same report gzipped, and recognised by content whatever its name', { timeout: 60_000 }, () => {
  const gz = gzipSync(EXAMPLE_JSON);
  const files = [tmpFile('example.json.gz', gz), tmpFile('example.gz', gz), tmpFile('example.json', gz), tmpFile('report.bin', gz)];
  const r = json(files);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.reports.map((x) => x.file), files);
  for (const x of r.reports) assert.deepEqual(sansFile(x), { ...EXAMPLE.summary, problems: x.problems });
});

test('inside a report mail per RFC 8460 §5.3 (multipart/report, base64 application/tlsrpt+gzip)', { timeout: 60_000 }, () => {
  const mail = readFileSync(join(MAIL, 'rfc8460-example.eml'), 'latin1');
  assert.match(mail, /Content-Type: multipart\/report; report-type="tlsrpt";\r\n\s+boundary=/, 'the fixture is what it says');
  assert.match(mail, /filename="company-x\.example!company-y\.example!1459468800!1459555199\.json\.gz"/);
  const fromJson = json(['rfc8460-example.json']).reports[0];
  const r = json(['rfc8460-example.eml']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.reports.length, 1);
  assert.deepEqual(sansFile(r.reports[0]), sansFile(fromJson));
  // LF line ends read the same.
  const lf = tmpFile('lf.eml', mail.replace(/\r\n/g, '\n'));
  assert.deepEqual(sansFile(json([lf]).reports[0]), sansFile(fromJson));
});

test('a forwarded report: multipart/mixed wrapping the multipart/report, LF, a QP note', { timeout: 60_000 }, () => {
  const r = json(['forwarded-mixed.eml']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.reports.length, 1);
  assert.deepEqual(sansFile(r.reports[0]), sansFile(json(['rfc8460-example.json']).reports[0]));
});

test("a large provider's shape (string mx-host, zone-less times, no sending-mta-ip): read, problems shown", { timeout: 60_000 }, () => {
  const expected = [
    'tlsrpt-report-date-no-zone',
    'tlsrpt-report-date-no-zone',
    'tlsrpt-report-mx-host-string',
    'tlsrpt-report-sending-ip-missing',
    'tlsrpt-report-sending-ip-missing',
  ];
  const r = mtasts(['provider-shaped.json', 'provider-qp.eml']);
  assert.equal(r.code, 0, r.stderr);
  const codes = [...r.stdout.matchAll(/^ {2}warning \[([a-z0-9-]+)\] /gm)].map((m) => m[1]);
  assert.deepEqual(codes, [...expected, ...expected], 'the same problems from the .json and the quoted-printable +json mail');
  assert.match(r.stdout, /^provider-qp\.eml: Big Mail Provider, report 133590528000000000\+company-y\.example, 2024-05-01T00:00:00Z to 2024-05-01T23:59:59Z$/m);
  assert.match(r.stdout, /^ {4}sts-policy-fetch-error: 2$/m, 'a failure without MX or IP');
  const j = json(['provider-shaped.json', 'provider-qp.eml']);
  assert.deepEqual(sansFile(j.reports[0]), sansFile(j.reports[1]));
  assert.equal(j.reports[0].dateRange.start, '2024-05-01T00:00:00Z', 'zone-less read as UTC');
});

test('several reports: the totals per policy domain and result type at the end', { timeout: 60_000 }, () => {
  const r = mtasts(['rfc8460-example.json', 'rfc8460-example.eml', 'provider-shaped.json']);
  assert.equal(r.code, 0, r.stderr);
  const tail = r.stdout.slice(r.stdout.indexOf('total of'));
  assert.equal(
    tail,
    'total of 3 reports:\n' +
      '  company-y.example: 3 reports, 28863 successful, 648 failed (2.2% failed): starttls-not-supported 400, certificate-expired 200, certificate-host-mismatch 40, validation-failure 6, sts-policy-fetch-error 2\n',
  );
  assert.equal(r.stdout.indexOf('total of'), r.stdout.lastIndexOf('total of'));
});

test('a gzip bomb (100 MiB of zeros, gzipped) is refused with a named error, never inflated whole', { timeout: 60_000 }, async () => {
  const bomb = join(tmp, 'bomb.json.gz');
  await new Promise((resolve, reject) => {
    const gz = createGzip({ level: 9 });
    const chunks = [];
    gz.on('data', (c) => chunks.push(c));
    gz.on('end', () => resolve(writeFileSync(bomb, Buffer.concat(chunks))));
    gz.on('error', reject);
    const zeros = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 100; i++) gz.write(zeros);
    gz.end();
  });
  // The same bomb as the gzip part of a report mail.
  const b64 = readFileSync(bomb).toString('base64').replace(/.{76}/g, '$&\n');
  const mail = tmpFile('bomb.eml', `Content-Type: multipart/report; report-type=tlsrpt; boundary=b\n\n--b\nContent-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\n\n${b64}\n--b--\n`);
  const r = mtasts([bomb, mail, 'rfc8460-example.json']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  for (const [i, file] of [bomb, mail].entries()) {
    const m = ERROR_LINE.exec(lines[i]);
    assert.ok(m, lines[i]);
    assert.equal(m[1], file);
    assert.equal(m[2], 'tlsrpt-gzip-too-large');
  }
  assert.match(r.stdout, /^rfc8460-example\.json: Company-X/m, 'the good file is still read');
});

test('broken files among good ones: one error line each, the others read, exit 1', { timeout: 60_000 }, () => {
  const truncated = tmpFile('truncated.json', EXAMPLE_JSON.subarray(0, 200));
  const badGzip = tmpFile('bad.json.gz', gzipSync(EXAMPLE_JSON).subarray(0, 100));
  const noReport = tmpFile('no-report.eml', 'From: a@example\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nhello\n--x--\n');
  const cut = tmpFile('cut.eml', readFileSync(join(MAIL, 'rfc8460-example.eml'), 'latin1').replace(/------=_NextPart_000_024E_01CC9B0A\.AFE54C00--\r\n$/, ''));
  const text = tmpFile('notes.txt', 'just some notes\n');
  const empty = tmpFile('empty.json', '');
  const notUtf8 = tmpFile('latin1.json', Buffer.from('{"organization-name": "Soci\xe9t\xe9"}', 'latin1'));
  const missing = join(tmp, 'missing.json');
  const r = mtasts(['rfc8460-example.json', truncated, badGzip, noReport, cut, text, empty, notUtf8, missing, 'provider-qp.eml']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const errors = r.stderr.trimEnd().split('\n').map((line) => {
    const m = ERROR_LINE.exec(line);
    assert.ok(m, `error line format: ${line}`);
    return [m[1], m[2]];
  });
  assert.deepEqual(errors, [
    [truncated, 'tlsrpt-report-not-json'],
    [badGzip, 'tlsrpt-gzip-invalid'],
    [noReport, 'tlsrpt-mail-no-report'],
    [cut, 'mime-final-boundary-missing'],
    [text, 'tlsrpt-input-unknown'],
    [empty, 'tlsrpt-input-empty'],
    [notUtf8, 'tlsrpt-input-not-utf8'],
    [missing, 'tlsrpt-input-unreadable'],
  ]);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  assert.match(r.stdout, /^rfc8460-example\.json: Company-X/m);
  assert.match(r.stdout, /^provider-qp\.eml: Big Mail Provider/m);
  assert.match(r.stdout, /^total of 2 reports:$/m);
  // With --json, standard output is still just the array of the reports read.
  const j = json(['rfc8460-example.json', truncated]);
  assert.equal(j.code, 1);
  assert.deepEqual(j.reports.map((x) => x.file), ['rfc8460-example.json']);
  assert.match(j.stderr, /\[tlsrpt-report-not-json\]/);
});

test("'-' reads standard input (JSON, gzip or mail)", { timeout: 60_000 }, () => {
  for (const input of [EXAMPLE_JSON, gzipSync(EXAMPLE_JSON), readFileSync(join(MAIL, 'rfc8460-example.eml'))]) {
    const r = json(['-'], { input });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.reports.length, 1);
    assert.equal(r.reports[0].file, '<stdin>');
    assert.deepEqual(sansFile(r.reports[0]), { ...EXAMPLE.summary, problems: r.reports[0].problems });
  }
});

test('usage: no file, an unknown option, - twice exit 2 with one line; the usage text lists every flag', { timeout: 60_000 }, async () => {
  for (const args of [[], ['--jsn', 'x.json'], ['-', '-']]) {
    const r = mtasts(args);
    assert.equal(r.code, 2, `${args}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^mtasts: [^\n]+\n$/, `one line: ${r.stderr}`);
  }
  // `mtasts report read --help` is answered by main.js with report.js's usage before read's run is
  // reached (see the report of this branch), so read's own text is checked as the module exports it.
  const { usage } = await import(pathToFileURL(join(PKG, 'js', 'cli', 'report-read.js')).href);
  for (const flag of ['--json', '-h, --help', "'-'", 'FILE...', 'exit status']) assert.ok(usage.includes(flag), `usage mentions ${flag}`);
});

test("round trip with the core's builder: buildTlsRptReports → gzip → report read gives the same counts", { timeout: 60_000 }, () => {
  const cases = JSON.parse(readFileSync(join(VECTORS, 'tlsrpt-report-build.json'), 'utf8')).filter((c) => !c.expect?.error);
  assert.ok(cases.length > 0);
  const files = [];
  const built = [];
  for (const c of cases) {
    for (const report of buildTlsRptReports({ ...c.options, results: c.results })) {
      files.push(tmpFile(report.fileName.replaceAll('!', '_'), gzipSync(report.json)));
      built.push({ ...report, results: c.results.filter((x) => x.policyDomain === report.policyDomain) });
    }
  }
  assert.ok(built.length >= 2, 'several reports built');
  const r = json(files);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.reports.length, built.length);
  for (const [i, report] of built.entries()) {
    const read = r.reports[i];
    const source = JSON.parse(report.json);
    assert.equal(read.reportId, report.reportId);
    assert.deepEqual(read.problems, [], `${report.fileName}: a report we build has no problems`);
    assert.deepEqual(
      read.policies.map((p) => [p.policyDomain, p.successful, p.failed, p.failures.reduce((n, f) => n + f.count, 0)]),
      source.policies.map((p) => [
        p.policy['policy-domain'],
        p.summary['total-successful-session-count'],
        p.summary['total-failure-session-count'],
        (p['failure-details'] ?? []).reduce((n, f) => n + f['failed-session-count'], 0),
      ]),
    );
    // The session counts the builder was given are the counts read.
    const given = (ok) => report.results.filter((x) => (x.result === 'success') === ok).reduce((n, x) => n + (x.count ?? 1), 0);
    const sum = (key) => read.policies.reduce((n, p) => n + p[key], 0);
    assert.deepEqual([sum('successful'), sum('failed')], [given(true), given(false)], report.fileName);
  }
  const human = mtasts(files);
  assert.match(human.stdout, new RegExp(`^total of ${built.length} reports:$`, 'm'));
});

test('mail variants: a single-part report mail, and (interop) an application/gzip part named *.json.gz', { timeout: 60_000 }, () => {
  const b64 = gzipSync(EXAMPLE_JSON).toString('base64');
  const single = tmpFile('single.eml', `From: a@example\nContent-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\n\n${b64}\n`);
  const labelled = tmpFile(
    'octet.eml',
    `From: a@example\nContent-Type: multipart/report; report-type=tlsrpt; boundary=b\n\n--b\nContent-Type: text/plain\n\nreport\n--b\nContent-Type: application/gzip\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename="x!company-y.example!1459468800!1459555199.json.gz"\n\n${b64}\n--b--\n`,
  );
  const unlabelled = tmpFile('octet-noname.eml', `From: a@example\nContent-Type: application/gzip\nContent-Transfer-Encoding: base64\n\n${b64}\n`);
  const r = json([single, labelled, unlabelled]);
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual(r.reports.map((x) => x.file), [single, labelled]);
  for (const x of r.reports) assert.deepEqual(sansFile(x), { ...EXAMPLE.summary, problems: x.problems });
  assert.match(r.stderr, /^.*octet-noname\.eml: error \[tlsrpt-mail-no-report\] .*\(its parts: application\/gzip\)$/m, 'without the §5.3 file name a gzip part is not taken for a report');
});
