// The hostile-peer matrix, policy-host side (issue 14 §5): an HTTPS policy host (hostile-policy-host.mjs,
// TLS with a valid certificate for mta-sts.<domain>, raw HTTP written by hand) that trickles, lies
// about Content-Length, sends gzip, a BOM, NULs, headers without end, a chunked body without end, a
// redirect loop, a reset mid-body, HTTP/1.0 without a length, another media type — met by
// resolvePolicy and by `mtasts check --json`. For each: a named error (policy-* codes) or the policy,
// within the overall fetch timer (RFC 8461 §3.3: the fetch is bounded in time) and the 64 KiB cap
// (§3.3: bounded in size; the host stops reading, so what the server could push is bounded), one
// request only (no redirect followed, no retry), and a cached policy keeps applying (§5.1).
// Run: scripts/build && node --test tests/js/hostile-policy-host.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CLI, PKG, assertBuilt } from './built-package.mjs';
import { POLICY, startHostilePolicyHost } from './hostile-policy-host.mjs';

assertBuilt();
const { createPolicyResolver, errorCodes, memoryStore } = await import(pathToFileURL(join(PKG, 'js/node/index.js')));
const { startLab } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));
const CODES = new Set(errorCodes().map((e) => e.code));

const DOMAIN = 'enforce-valid.test'; // the lab publishes its TXT record; its policy host is ours here
const FETCH_TIMEOUT = 2000; // ms, the overall timer of one fetch (connect, TLS, headers, body)
const CAP = 64 * 1024;

/** behaviour → [the outcome: 'found' or the error code, the RFC 8461 rule, why] */
const MATRIX = {
  good: ['found', '§3.3', 'a well-behaved host'],
  'trickle-body': ['policy-fetch-timeout', '§3.3', 'a byte a second: the overall timer ends the fetch'],
  'trickle-headers': ['policy-fetch-timeout', '§3.3', 'the status line a byte a second'],
  'length-more': ['policy-truncated', '§3.3', 'Content-Length over what came: cut off'],
  'length-less': ['policy-fetch-error', '§3.3', 'Content-Length under what came: bytes after the body are not HTTP'],
  'length-huge': ['policy-too-large', '§3.3', 'a declared length over the cap is refused before reading'],
  'length-twice': ['policy-fetch-error', '§3.3', 'two Content-Lengths that disagree are not HTTP'],
  'gzip-announced': ['policy-invalid', '§3.2', 'gzip though none was asked for: not a policy text'],
  'gzip-unannounced': ['policy-invalid', '§3.2', 'gzip bytes as text/plain'],
  bom: ['policy-invalid', '§3.2', 'a byte order mark before "version"'],
  nul: ['policy-invalid', '§3.2', 'NUL bytes in a value'],
  'headers-never-end': ['policy-fetch-timeout', '§3.3', 'one header line, then silence'],
  'headers-endless': ['policy-fetch-error', '§3.3', 'header lines without end: over the HTTP parser limit'],
  'chunked-forever': ['policy-too-large', '§3.3', 'a chunked body without end: cut at the cap'],
  'redirect-loop': ['policy-redirect', '§3.3', 'redirects MUST NOT be followed'],
  'reset-mid-body': ['policy-truncated', '§3.3', 'a reset in the middle of the body'],
  'reset-after-headers': ['policy-truncated', '§3.3', 'a reset after the headers'],
  'http10-no-length': ['found', '§3.3', 'HTTP/1.0, the body ends with the connection: a whole answer'],
  'text-html': ['policy-content-type', '§3.2', 'the media type must be text/plain'],
  'no-content-type': ['policy-content-type', '§3.2', 'no media type at all'],
  garbage: ['policy-fetch-error', '§3.3', 'not HTTP'],
  silent: ['policy-fetch-timeout', '§3.3', 'nothing after the handshake'],
};

let lab;
let host;
let dir;
before(async () => {
  lab = await startLab();
  host = await startHostilePolicyHost({ certFor: (name) => lab.certFor(name) });
  dir = mkdtempSync(join(tmpdir(), 'mtasts-hostile-policy-'));
  writeFileSync(join(dir, 'ca.pem'), lab.caPem);
});
after(async () => {
  await host?.close();
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const resolverOf = (store = memoryStore()) =>
  createPolicyResolver({ dnsServers: [lab.dns.server], dnsTimeout: 500, ca: lab.caPem, policyPort: host.port, timeout: FETCH_TIMEOUT, store, recheckAfter: 0 });

async function settleOpen() {
  for (let i = 0; i < 50 && host.open > 0; i++) await new Promise((r) => setTimeout(r, 20));
}

for (const [act, [want, rule, why]] of Object.entries(MATRIX)) {
  test(`RFC 8461 ${rule}: ${act} (${why}) → ${want}`, { timeout: 30_000 }, async () => {
    host.act = act;
    const requests = host.requests;
    const sent = host.bytesSent;
    const t0 = performance.now();
    const r = await resolverOf().resolve(DOMAIN);
    const ms = performance.now() - t0;
    await settleOpen();
    const pushed = host.bytesSent - sent;
    const codes = r.errors.map((e) => e.code);
    console.log(`# ${act}: ${r.status} ${JSON.stringify(codes)} in ${Math.round(ms)} ms; the host wrote ${pushed} bytes, ${host.open} connections left open`);
    if (want === 'found') {
      assert.equal(r.status, 'found', `${act}: ${JSON.stringify(r.errors)}`);
      assert.deepEqual(r.policy.mx, ['mx1.policy-host.test']);
    } else {
      assert.notEqual(r.status, 'found', act);
      assert.equal(r.policy, null, `${act}: no policy from a bad answer`);
      assert.deepEqual(codes, [want], `${act}: ${JSON.stringify(r.errors)}`);
    }
    for (const e of r.errors) {
      assert.ok(CODES.has(e.code), `${act}: ${e.code} is catalogued`);
      assert.match(e.rfc, /^RFC 8461 §3\.[23]$/, `${act}: the rule is cited`);
      assert.ok(['sts-policy-fetch-error', 'sts-policy-invalid'].includes(e.tlsrpt), `${act}: TLS-RPT ${e.tlsrpt}`);
    }
    // One request: no redirect followed, nothing retried.
    assert.equal(host.requests - requests, 1, `${act}: exactly one request`);
    // Bounded time: the overall timer, not a timer per byte (a trickle would otherwise run for minutes).
    assert.ok(ms < FETCH_TIMEOUT + 1500, `${act}: ${Math.round(ms)} ms is within the fetch timer`);
    // Bounded memory: the client stopped reading at the cap and closed; what the host could push
    // is the cap plus what the sockets buffer, not the endless stream.
    assert.ok(pushed < CAP + 4 * 1024 * 1024, `${act}: the host pushed ${pushed} bytes`);
    assert.equal(host.open, 0, `${act}: the connection was closed`);
  });
}

test('RFC 8461 §5.1, §10.2: with a cached policy every hostile answer keeps the cached policy applying', { timeout: 120_000 }, async () => {
  // A policy of the lab's own TXT id, cached from a good fetch; then every refresh meets a hostile host.
  const resolver = resolverOf();
  host.act = 'good';
  assert.equal((await resolver.resolve(DOMAIN)).status, 'found');
  for (const [act, [want]] of Object.entries(MATRIX)) {
    if (want === 'found') continue;
    host.act = act;
    const r = await resolver.resolve(DOMAIN, { refresh: true });
    assert.equal(r.status, 'cached', `${act}: ${r.status}`);
    assert.equal(r.policy.mode, 'enforce', act);
    assert.deepEqual(r.errors.map((e) => e.code), [want], act);
  }
  host.act = 'good';
});

/** `mtasts check --json` against the lab's DNS and the hostile host (memory store, no MX probe). */
function check() {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'check', DOMAIN, '--json', '--store', 'memory', '--no-probe', '--timeout', String(FETCH_TIMEOUT), '--dns-timeout', '500',
        '--dns-server', lab.dns.server, '--ca-file', join(dir, 'ca.pem'), '--policy-port', String(host.port)],
      { timeout: 30_000 },
      (err, stdout, stderr) => resolve({ err, stdout, stderr }),
    );
  });
}

test('mtasts check --json names the same error for each hostile answer', { timeout: 300_000 }, async () => {
  const rows = [];
  for (const [act, [want]] of Object.entries(MATRIX)) {
    host.act = act;
    const { stdout, stderr } = await check();
    let report;
    try {
      report = JSON.parse(stdout);
    } catch {
      assert.fail(`${act}: check printed no JSON: ${stdout.slice(0, 300)} ${stderr.slice(0, 300)}`);
    }
    const codes = report.errors.map((e) => e.code);
    rows.push(`${act}: ${report.policy.status} ${codes.join(',')}`);
    for (const c of codes) assert.ok(CODES.has(c), `${act}: ${c} is catalogued`);
    if (want === 'found') {
      assert.equal(report.policy.status, 'found', `${act}: ${JSON.stringify(report.errors)}`);
      assert.deepEqual(report.policy.mx, ['mx1.policy-host.test'], act);
    } else {
      assert.notEqual(report.policy.status, 'found', act);
      assert.ok(codes.includes(want), `${act}: ${JSON.stringify(report.errors).slice(0, 400)}`);
      assert.equal(report.ok, false, `${act}: check does not call the setup ok`);
    }
  }
  host.act = 'good';
  console.log(`# check --json: ${rows.join('; ')}`);
});
