// The relay sending its own TLS reports (`--tlsrpt-send`, js/relay/tlsrpt-sender.js): real
// deliveries through the relay to lab domains on a moved clock, then after the UTC day ends and
// the random delay: the report POSTed to the domain's https: endpoint (RFC 8460 §5.4), a 500
// retried after the backoff, an endpoint that keeps failing given up 24 h after its first failure,
// each once (the ledger); and the CLI flags, with a relay process that sends yesterday's reports.
// Run: scripts/build && node --test tests/js/relay-tlsrpt-send.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { PKG, CLI } from './built-package.mjs';
import { startEndpoint } from './tlsrpt-endpoint.mjs';
import { startRelayWorld } from './relay-world.mjs';

const { readTlsRptReport } = await import(pathToFileURL(join(PKG, 'js/node/index.js')));
const { fileTlsrptLog } = await import(pathToFileURL(join(PKG, 'js/relay/tlsrpt-log.js')));

const RUA_HOST = 'mta-sts.enforce-valid.test'; // a lab name on 127.0.0.1
const MIN = 60_000;
const HOUR = 60 * MIN;

let w;
let flaky;
let down;
let flakyStatus = 500;
before(async () => {
  w = await startRelayWorld();
  const cert = w.lab.issueCert({ names: [RUA_HOST] });
  flaky = await startEndpoint(cert, () => flakyStatus);
  down = await startEndpoint(cert, () => 503);
  w.lab.update('enforce-valid', {
    extraTxt: {
      '_smtp._tls.enforce-valid.test': [[`v=TLSRPTv1; rua=https://${RUA_HOST}:${flaky.port}/r`]],
      '_smtp._tls.testing-valid.test': [[`v=TLSRPTv1; rua=https://${RUA_HOST}:${down.port}/r`]],
    },
  });
});
after(async () => {
  await Promise.all([flaky?.close(), down?.close()]);
  await w?.stop();
});

test('after the day and the random delay: sent once, a 500 retried after the backoff, a dead endpoint given up after 24 h', { timeout: 180_000 }, async () => {
  const today = new Date().toISOString().slice(0, 10);
  const midnight = Date.parse(`${today}T00:00:00Z`) + 24 * HOUR;
  let now = Date.parse(`${today}T10:00:00Z`);
  const r = await w.startTestRelay(
    { store: `file:${join(w.dir, 'store-send')}`, tlsrptSend: { organization: 'Lab Relay', contact: 'mailto:ops@relay.test', maxDelay: 3600, checkEvery: 86_400, retryBase: 300 } },
    { clock: () => now, random: () => 0.5 },
  );
  for (const to of ['a@enforce-valid.test', 'b@enforce-valid.test', 'c@testing-valid.test']) {
    const { err } = await w.send(r, { to: [to] });
    assert.equal(err, undefined, `delivered to ${to}`);
  }
  const sender = r.relay.sender;
  assert.ok(sender, 'the relay runs a sender');

  // The day is not over: nothing is sent. After midnight, before the delay (0.5 × 1 h): nothing.
  await sender.runNow();
  now = midnight + 29 * MIN;
  await sender.runNow();
  assert.equal(flaky.got.length + down.got.length, 0);

  // After the delay: one POST each, both fail (500, 503): deferred.
  now = midnight + 31 * MIN;
  await sender.runNow();
  assert.equal(flaky.got.length, 1);
  assert.equal(down.got.length, 1);
  assert.equal(flaky.got[0].contentType, 'application/tlsrpt+gzip');
  const summary = readTlsRptReport(gunzipSync(flaky.got[0].body).toString('utf8'));
  assert.equal(summary.organization, 'Lab Relay');
  assert.deepEqual(summary.policies.map((p) => [p.policyDomain, p.successful, p.failed]), [['enforce-valid.test', 2, 0]]);
  assert.ok(r.logs.some((l) => l.event === 'tlsrpt-report' && l.outcome === 'deferred' && l.domain === 'enforce-valid.test' && l.code === 'tlsrpt-send-http-status'));

  // Within the backoff (5 min): nothing is tried again.
  now += 2 * MIN;
  await sender.runNow();
  assert.equal(flaky.got.length + down.got.length, 2);

  // After it: tried again; the flaky endpoint now takes the report.
  flakyStatus = 200;
  now += 4 * MIN;
  await sender.runNow();
  assert.equal(flaky.got.length, 2);
  assert.equal(down.got.length, 2);
  assert.ok(r.logs.some((l) => l.event === 'tlsrpt-report' && l.outcome === 'sent' && l.domain === 'enforce-valid.test'));

  // 24 h after its first failure the dead endpoint is given up (and logged as an error); the
  // flaky one is never sent twice; after that the day is done.
  for (const step of [1, 3, 9, 18, 25]) {
    now = midnight + 31 * MIN + step * HOUR;
    await sender.runNow();
  }
  assert.equal(flaky.got.length, 2);
  assert.ok(down.got.length >= 4 && down.got.length <= 7, `retried with backoff, ${down.got.length} tries`);
  const gaveUp = r.logs.filter((l) => l.event === 'tlsrpt-report' && l.outcome === 'given-up');
  assert.deepEqual(gaveUp.map((l) => [l.domain, l.level]), [['testing-valid.test', 'error']]);
  const tries = down.got.length;
  now += 48 * HOUR;
  await sender.runNow();
  assert.equal(down.got.length, tries);

  const ledger = readFileSync(join(w.dir, 'store-send', 'tlsrpt-sent', `${today}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const last = (d) => ledger.filter((l) => l.policyDomain === d).at(-1).outcome;
  assert.equal(last('enforce-valid.test'), 'sent');
  assert.equal(last('testing-valid.test'), 'given-up');
  const metrics = await r.relay.metrics.registry.metrics();
  assert.match(metrics, /mtasts_relay_tlsrpt_reports_total\{outcome="sent"\} 1\b/);
  assert.match(metrics, /mtasts_relay_tlsrpt_reports_total\{outcome="given-up"\} 1\b/);
  await r.relay.close();
});

function mtasts(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30000 }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

test('mtasts relay --tlsrpt-send: a relay process sends yesterday\'s recorded reports at start (delay 0)', { timeout: 180_000 }, async () => {
  const store = join(w.dir, 'store-cli');
  mkdirSync(store, { recursive: true });
  const yesterday = new Date(Date.now() - 24 * HOUR).toISOString().slice(0, 10);
  await fileTlsrptLog(join(store, 'tlsrpt')).record('enforce-valid.test', {
    at: `${yesterday}T12:00:00Z`, policyType: 'sts', policyId: 'x1', mode: 'enforce',
    policyStrings: ['version: STSv1', 'mode: enforce', 'mx: mx1.enforce-valid.test', 'max_age: 86400'], mxPatterns: ['mx1.enforce-valid.test'],
    count: 1, kind: 'session', mx: 'mx1.enforce-valid.test', address: '127.0.0.1', sendingIp: '127.0.0.1', result: 'certificate-expired', code: 'certificate-expired',
  });
  const before = flaky.got.length;
  flakyStatus = 200;
  const child = spawn(process.execPath, [CLI, 'relay', '--listen', '127.0.0.1:0', '--store', `file:${store}`, '--helo', 'relay.test',
    '--dns-server', w.lab.dns.server, '--ca-file', w.caFile, '--tlsrpt-send', '--tlsrpt-send-delay', '0', '--tlsrpt-org', 'Lab Relay', '--tlsrpt-contact', 'mailto:ops@relay.test'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  try {
    for (let i = 0; i < 200 && !out.includes('"tlsrpt-report"'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(out, /"event":"tlsrpt-report".*"outcome":"sent"/, out);
    assert.equal(flaky.got.length, before + 1);
    const summary = readTlsRptReport(gunzipSync(flaky.got.at(-1).body).toString('utf8'));
    assert.deepEqual(summary.policies[0].failures.map((f) => [f.resultType, f.count]), [['certificate-expired', 1]]);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});

test('--tlsrpt-send needs a file store, an organization and a contact; its flags need it', { timeout: 180_000 }, async () => {
  const base = ['relay', '--listen', '127.0.0.1:0', '--helo', 'relay.test'];
  const cases = [
    [[...base, '--store', 'memory', '--tlsrpt-send', '--tlsrpt-org', 'O', '--tlsrpt-contact', 'c@x.test'], /needs a file store/],
    [[...base, '--store', `file:${w.dir}/s2`, '--tlsrpt-send', '--tlsrpt-contact', 'c@x.test'], /tlsrpt-org is needed/],
    [[...base, '--store', `file:${w.dir}/s2`, '--tlsrpt-send', '--tlsrpt-org', 'O'], /tlsrpt-contact is needed/],
    [[...base, '--tlsrpt-org', 'O'], /need --tlsrpt-send/],
    [[...base, '--store', `file:${w.dir}/s2`, '--tlsrpt-send', '--tlsrpt-org', 'O', '--tlsrpt-contact', 'c', '--tlsrpt-send-delay', 'soon'], /tlsrpt-send-delay needs a number of seconds/],
  ];
  for (const [args, message] of cases) {
    const run = await mtasts(args);
    assert.equal(run.code, 2, `${args.join(' ')}\n${run.stdout}${run.stderr}`);
    assert.match(run.stderr, message);
  }
});
