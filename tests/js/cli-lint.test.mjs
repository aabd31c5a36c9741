// `mtasts lint` as a user runs it: exit codes (0 ok, 1 errors, 2 usage/local), the one-line
// diagnostic format, --json, standard input and --record. Runs the CLI of the built package.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, EXAMPLES, assertBuilt } from './built-package.mjs';

assertBuilt();

function mtasts(args, { input, stdin = 'pipe', cwd = EXAMPLES, env = {} } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    input,
    stdio: [stdin, 'pipe', 'pipe'],
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '', ...env },
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const DIAGNOSTIC_LINE = /^(\S+):(\d+):(\d+): (error|warning) \[([a-z0-9]+(?:-[a-z0-9]+)*)\] (.+?)(?: \((RFC \d+ §[\d.]+)\))?$/;
const GOOD = 'version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n';
const BAD = 'version: STSv1\nmode: report\nmx: mail.example.com\nmax_age: 604800\n';

function assertNoStack(text) {
  assert.doesNotMatch(text, /^\s+at /m, 'no stack trace');
}

test('a valid policy file exits 0 and says valid', { timeout: 60_000 }, () => {
  const r = mtasts(['lint', 'enforce.txt']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^enforce\.txt: valid \(mode enforce, max_age 604800, 2 mx patterns\): 0 errors/m);
  assert.doesNotMatch(r.stdout, /\berror \[/);
  assert.equal(r.stderr, '');
});

test('CRLF policy file is valid too', { timeout: 60_000 }, () => {
  const r = mtasts(['lint', 'testing.txt']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /valid \(mode testing/);
});

test('an invalid policy exits 1 with one line per diagnostic and a summary', { timeout: 60_000 }, () => {
  const r = mtasts(['lint', 'draft-mode-report.txt']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  const diagnostics = lines.slice(0, -1);
  assert.ok(diagnostics.length >= 2, `mode and max_age are both wrong:\n${r.stdout}`);
  for (const line of diagnostics) {
    const m = DIAGNOSTIC_LINE.exec(line);
    assert.ok(m, `diagnostic line format: ${line}`);
    assert.equal(m[1], 'draft-mode-report.txt');
  }
  const mode = diagnostics.map((l) => DIAGNOSTIC_LINE.exec(l)).find((m) => m[2] === '2');
  assert.ok(mode, 'a diagnostic on line 2 (mode: report)');
  assert.equal(mode[4], 'error');
  assert.equal(mode[7], 'RFC 8461 §3.2');
  assert.match(mode[6], /report/, 'the message says what was found');
  assert.match(lines.at(-1), /^draft-mode-report\.txt: invalid: \d+ errors?, \d+ warnings?$/);
});

test('warnings alone exit 0 (max_age under one day)', { timeout: 60_000 }, () => {
  const r = mtasts(['lint', '-'], { input: 'version: STSv1\nmode: testing\nmx: mail.example.com\nmax_age: 3600\n' });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^<stdin>:\d+:\d+: warning \[[a-z0-9-]+\] /m);
  assert.match(r.stdout, /valid .*: 0 errors, [1-9]\d* warnings?$/m);
});

test('--json prints the lint result: policy and diagnostics', { timeout: 60_000 }, () => {
  const good = mtasts(['lint', '--json', 'enforce.txt']);
  assert.equal(good.code, 0, good.stderr);
  const ok = JSON.parse(good.stdout);
  assert.deepEqual(Object.keys(ok).sort(), ['diagnostics', 'policy']);
  assert.deepEqual(ok.policy, {
    version: 'STSv1',
    mode: 'enforce',
    maxAge: 604800,
    mx: ['mail.example.com', '*.mx.example.net'],
    extensions: {},
  });
  assert.deepEqual(ok.diagnostics, []);

  const bad = mtasts(['lint', 'draft-mode-report.txt', '--json']);
  assert.equal(bad.code, 1);
  const result = JSON.parse(bad.stdout);
  assert.equal(result.policy, null);
  assert.ok(result.diagnostics.length >= 2);
  for (const d of result.diagnostics) {
    assert.deepEqual(Object.keys(d).sort(), ['code', 'column', 'line', 'message', 'rfc', 'severity']);
    assert.match(d.code, /^[a-z0-9]+(-[a-z0-9]+)*$/);
    assert.ok(d.severity === 'error' || d.severity === 'warning');
    assert.ok(Number.isInteger(d.line) && d.line >= 1, `line of ${d.code}`);
    assert.ok(Number.isInteger(d.column) && d.column >= 1, `column of ${d.code}`);
  }
  assert.ok(result.diagnostics.some((d) => d.severity === 'error' && d.line === 2));
});

test('- reads the policy from standard input', { timeout: 60_000 }, () => {
  const good = mtasts(['lint', '-'], { input: GOOD });
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /^<stdin>: valid/m);
  const bad = mtasts(['lint', '-'], { input: BAD });
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /^<stdin>:2:\d+: error \[/m);
});

test('bytes that are not UTF-8, and NUL, are named errors, not crashes', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtasts-lint-'));
  try {
    const file = join(dir, 'binary.txt');
    writeFileSync(file, Buffer.concat([Buffer.from('version: STSv1\nmode: enf'), Buffer.from([0xff, 0x00, 0xfe]), Buffer.from('\n')]));
    const r = mtasts(['lint', file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, / error \[[a-z0-9-]+\] /);
    assertNoStack(r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The most lint reads (js/cli/lint.js MAX_INPUT_BYTES), far above the 64 KiB policy limit.
const MIB = 1024 * 1024;
const LIMIT_MESSAGE = /larger than 1048576 bytes \(1 MiB\), the most lint reads; an MTA-STS policy may be at most 65536 bytes \(64 KiB, RFC 8461 §3\.3\)/;

test('an endless file (/dev/zero) is refused at 1 MiB with a message naming the limit, exit 2', { timeout: 60_000 }, () => {
  const r = mtasts(['lint', '/dev/zero']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^mtasts: \/dev\/zero is larger than/);
  assert.match(r.stderr, LIMIT_MESSAGE);
  assert.equal(r.stdout, '');
  assertNoStack(r.stderr);
});

test('endless standard input is refused at 1 MiB too', { timeout: 60_000 }, () => {
  const zero = openSync('/dev/zero', 'r');
  try {
    const r = mtasts(['lint', '-'], { stdin: zero });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^mtasts: standard input is larger than/);
    assert.match(r.stderr, LIMIT_MESSAGE);
  } finally {
    closeSync(zero);
  }
});

test('exactly 1 MiB is linted; one byte more is refused (file and standard input)', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtasts-lint-'));
  try {
    const head = 'version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n';
    const file = join(dir, 'big.txt');
    writeFileSync(file, head + '#'.repeat(MIB - head.length));
    const r = mtasts(['lint', file]);
    assert.notEqual(r.code, 2, r.stderr);
    assert.equal(r.stderr, '');
    writeFileSync(file, head + '#'.repeat(MIB - head.length + 1));
    const over = mtasts(['lint', file]);
    assert.equal(over.code, 2);
    assert.match(over.stderr, LIMIT_MESSAGE);
    const piped = mtasts(['lint', '-'], { input: head + '#'.repeat(MIB - head.length + 1) });
    assert.equal(piped.code, 2);
    assert.match(piped.stderr, LIMIT_MESSAGE);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--record lints a TXT record', { timeout: 60_000 }, () => {
  const good = mtasts(['lint', '--record', 'v=STSv1; id=2024']);
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /^record: valid \(id 2024\)/m);

  const json = JSON.parse(mtasts(['lint', '--json', '--record', 'v=STSv1; id=2024']).stdout);
  assert.deepEqual(json, { record: { version: 'STSv1', id: '2024', extensions: {} }, diagnostics: [] });

  const bad = mtasts(['lint', '--record', 'v=STSv1; id=has space']);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /^record:1:\d+: error \[record-[a-z-]+\] .* \(RFC 8461 §3\.1\)$/m);
});

test('--record with --name checks the name (draft-era _mta_sts)', { timeout: 60_000 }, () => {
  const r = mtasts(['lint', '--json', '--record', 'v=STSv1; id=2024', '--name', '_mta_sts.example.com']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const { diagnostics } = JSON.parse(r.stdout);
  assert.ok(diagnostics.some((d) => d.code === 'record-draft-name'), JSON.stringify(diagnostics));
  const human = mtasts(['lint', '--record', 'v=STSv1; id=2024', '--name', '_mta_sts.example.com']);
  assert.match(human.stdout, /^_mta_sts\.example\.com:/m);
});

test('a missing file is one line on stderr and exit 2', { timeout: 60_000 }, () => {
  const r = mtasts(['lint', 'policy.txt'], { cwd: tmpdir() });
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'mtasts: cannot read policy.txt: no such file\n');
  assert.equal(r.stdout, '');
});

test('usage errors exit 2 with one line and no stack trace', { timeout: 60_000 }, () => {
  for (const args of [
    ['lint'],
    ['lint', '--bogus', 'x'],
    ['lint', '--record'],
    ['lint', 'a.txt', 'b.txt'],
    ['lint', '--record', 'v=STSv1; id=1', 'enforce.txt'],
    ['lint', '--name', 'x', 'enforce.txt'],
    ['frobnicate'],
    ['--bogus'],
  ]) {
    const r = mtasts(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /^mtasts: [^\n]+\n$/, `${args.join(' ')}: one line`);
    assertNoStack(r.stderr);
  }
});

test('no arguments: overview on stderr, exit 2; --help: exit 0', { timeout: 60_000 }, () => {
  const none = mtasts([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^usage: mtasts <command>/);
  const help = mtasts(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^\s+lint\s+/m);
  for (const args of [['lint', '--help'], ['help', 'lint'], ['lint', '-h']]) {
    const r = mtasts(args);
    assert.equal(r.code, 0, args.join(' '));
    assert.match(r.stdout, /^usage: mtasts lint/);
  }
  assert.match(mtasts(['--version']).stdout, /^mtasts \d+\.\d+\.\d+\n$/);
});

test('no colour when stdout is not a terminal', { timeout: 60_000 }, () => {
  const r = mtasts(['lint', 'draft-mode-report.txt'], { env: { NO_COLOR: '' } });
  assert.doesNotMatch(r.stdout, /\x1b\[/);
});

test('--tlsrpt lints a TLS-RPT record (RFC 8460 §3)', { timeout: 60_000 }, () => {
  const good = mtasts(['lint', '--tlsrpt', 'v=TLSRPTv1; rua=mailto:tlsrpt@example.com']);
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.equal(good.stdout, 'record: valid (rua mailto:tlsrpt@example.com): 0 errors, 0 warnings\n');
  const json = JSON.parse(mtasts(['lint', '--json', '--tlsrpt', 'v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/t']).stdout);
  assert.deepEqual(json, {
    record: { version: 'TLSRPTv1', rua: ['mailto:a@example.com', 'https://r.example.com/t'], extensions: {} },
    diagnostics: [],
  });
  const bad = mtasts(['lint', '--tlsrpt', 'v=TLSRPTv1; rua=tlsrpt@example.com']);
  assert.equal(bad.code, 1, bad.stdout + bad.stderr);
  const lines = bad.stdout.trimEnd().split('\n');
  const m = DIAGNOSTIC_LINE.exec(lines[0]);
  assert.ok(m, `diagnostic line format: ${lines[0]}`);
  assert.deepEqual([m[1], m[2], m[3], m[4], m[5], m[7]], ['record', '1', '17', 'error', 'tlsrpt-record-rua-invalid', 'RFC 8460 §3']);
  assert.match(m[6], /write mailto:tlsrpt@example\.com/);
  assert.equal(lines.at(-1), 'record: invalid: 1 error, 0 warnings');
});

test('--tlsrpt: warnings exit 0; draft-era inputs are named', { timeout: 60_000 }, () => {
  const ruf = mtasts(['lint', '--tlsrpt', 'v=TLSRPTv1; rua=mailto:a@example.com; ruf=mailto:a@example.com']);
  assert.equal(ruf.code, 0, ruf.stdout + ruf.stderr);
  assert.match(ruf.stdout, /^record:1:\d+: warning \[tlsrpt-record-draft-ruf\] .* \(RFC 8460 §3\)$/m);
  assert.match(ruf.stdout, /: valid \(rua mailto:a@example\.com\): 0 errors, 1 warning\n$/);
  const version = mtasts(['lint', '--tlsrpt', 'v=tlsrptv1; rua=mailto:a@example.com']);
  assert.equal(version.code, 1);
  assert.match(version.stdout, /\[tlsrpt-record-version\] .*case-sensitive/);
  const name = mtasts(['lint', '--json', '--tlsrpt', 'v=TLSRPTv1; rua=mailto:a@example.com', '--name', '_smtp-tlsrpt.example.com']);
  assert.equal(name.code, 1, name.stdout + name.stderr);
  const { record, diagnostics } = JSON.parse(name.stdout);
  assert.equal(record, null);
  assert.deepEqual(diagnostics.map((d) => d.code), ['tlsrpt-record-draft-name']);
  const human = mtasts(['lint', '--tlsrpt', 'v=TLSRPTv1; rua=mailto:a@example.com', '--name', '_smtp-tlsrpt.example.com']);
  assert.match(human.stdout, /^_smtp-tlsrpt\.example\.com: error \[tlsrpt-record-draft-name\] .*"_smtp\._tls\."/m);
  const right = mtasts(['lint', '--tlsrpt', 'v=TLSRPTv1; rua=mailto:a@example.com', '--name', '_smtp._tls.example.com']);
  assert.equal(right.code, 0, right.stdout);
  assert.match(right.stdout, /^_smtp\._tls\.example\.com: valid/);
});

test('--tlsrpt usage errors exit 2 with one line', { timeout: 60_000 }, () => {
  for (const args of [
    ['lint', '--tlsrpt'],
    ['lint', '--tlsrpt', 'v=TLSRPTv1; rua=mailto:a@example.com', 'enforce.txt'],
    ['lint', '--tlsrpt', 'v=TLSRPTv1; rua=mailto:a@example.com', '--record', 'v=STSv1; id=1'],
  ]) {
    const r = mtasts(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /^mtasts: [^\n]+\n$/, `${args.join(' ')}: one line`);
    assertNoStack(r.stderr);
  }
  assert.match(mtasts(['lint', '--help']).stdout, /--tlsrpt '<txt>' \[--name _smtp\._tls\.<domain>\]/);
});
