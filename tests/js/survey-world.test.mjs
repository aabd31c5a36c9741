// `mtasts survey` over lab worlds (js/lab/world.js): every category lands with its exact count,
// with and without the MX probe, the original study's 102-provider table, the CSV, and the
// summary a person reads. Run: node --test tests/js/survey-world.test.mjs
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, worldFiles, worldFlags, runCli, jsonLines, countBy } from './survey-lab.mjs';
import { PKG } from './built-package.mjs';

const { classify } = await import(join(PKG, 'js/survey/classify.js'));

const worlds = [];
after(() => Promise.all(worlds.map((w) => w.stop())));
const world = async (options) => {
  const w = await startWorld(options);
  worlds.push(w);
  return w;
};

test('every category, probed: each domain in the category its kind declares, exact counts', { timeout: 600_000 }, async () => {
  const w = await world({ domains: 54, mix: 'all', probe: true }); // every kind 3 times
  const files = worldFiles(w);
  const out = join(files.dir, 'results.jsonl');
  const csv = join(files.dir, 'results.csv');
  const r = await runCli(['survey', files.list, '--out', out, '--csv', csv, '--quiet', '--concurrency', '20', ...worldFlags(w, files, { probe: true })]);
  assert.equal(r.code, 0, r.stderr);
  const results = jsonLines(readFileSync(out, 'utf8'));
  assert.equal(results.length, 54);
  const expected = w.expected();
  assert.deepEqual(countBy(results, (x) => x.survey.category), expected.category);
  // Each category is in the list at least once: the world covers all of them.
  for (const c of ['no-record', 'record-not-mta-sts', 'record-invalid', 'record-multiple', 'dns-temporary', 'policy-http-status', 'policy-webpki-invalid', 'policy-content-type', 'policy-redirect', 'policy-fetch-timeout', 'policy-fetch-error', 'policy-invalid', 'valid', 'mx-outside-policy', 'mx-certificate', 'mx-starttls']) {
    assert.ok(expected.category[c] > 0, `the world has ${c}`);
  }
  const byDomain = new Map(results.map((x) => [x.domain, x]));
  for (const d of w.domains) {
    const got = byDomain.get(d.domain);
    const c = classify(got);
    assert.equal(c.category, d.expect.category, `${d.domain} (${d.kind})`);
    assert.equal(c.mode, d.expect.mode, `${d.domain} mode`);
    assert.equal(c.maxAge, d.expect.maxAge, `${d.domain} max_age`);
    assert.equal(c.tlsrpt, d.expect.tlsrpt, `${d.domain} TLS-RPT`);
  }
  // The probe ran: STARTTLS and the certificate verdict are in the check object.
  const starttls = results.find((x) => x.survey.category === 'mx-starttls');
  assert.equal(starttls.mx[0].probe.starttls, false);
  const cert = results.find((x) => x.survey.category === 'mx-certificate');
  assert.equal(cert.mx[0].probe.certificate.code, 'certificate-host-mismatch');
  const valid = results.find((x) => x.survey.category === 'valid' && x.policy.mode === 'enforce');
  assert.equal(valid.mx[0].probe.certificate.ok, true);
  assert.match(valid.mx[0].probe.tlsVersion, /^TLSv1\.[23]$/);
  // A temporary failure was tried again (--retries 2) and is never "no record".
  const temporary = results.filter((x) => x.survey.category === 'dns-temporary');
  assert.ok(temporary.every((x) => x.survey.attempts === 3 && x.record.status === 'temperror'));
  // The CSV has one row per domain, with the same categories.
  const rows = readFileSync(csv, 'utf8').trim().split('\r\n');
  assert.equal(rows[0], 'domain,category,has_record,mode,max_age,tlsrpt,id,mx_hosts,errors');
  assert.equal(rows.length, 55);
  assert.deepEqual(countBy(rows.slice(1), (line) => line.split(',')[1]), expected.category);
});

test('without --probe the probe-only kinds are valid policies, and no MX is contacted', { timeout: 600_000 }, async () => {
  const w = await world({ domains: 45, mix: 'all', probe: false });
  const files = worldFiles(w);
  const r = await runCli(['survey', files.list, '--out', '-', ...worldFlags(w, files)]);
  assert.equal(r.code, 0, r.stderr);
  const results = jsonLines(r.stdout);
  assert.equal(results.length, 45);
  assert.deepEqual(countBy(results, (x) => x.survey.category), w.expected().category);
  assert.ok(results.every((x) => x.mx.every((h) => h.probe === null)));
  // With --out - the summary goes to stderr.
  assert.match(r.stderr, /domains surveyed 45/);
});

test('seed-table: the original study — 102 providers, 9 with records all in testing mode, 2 non-MTA-STS TXT', { timeout: 600_000 }, async () => {
  const w = await world({ mix: 'seed-table', probe: false });
  const files = worldFiles(w);
  const r = await runCli(['survey', files.list, '--quiet', ...worldFlags(w, files)]);
  assert.equal(r.code, 0, r.stderr);
  const table = r.stdout.split('\n\n')[0].split('\n');
  assert.match(table[0], /^domain\s+TXT\s+policy$/);
  assert.equal(table.length, 103);
  assert.equal(table.filter((l) => /\s○\s+testing$/.test(l)).length, 9);
  assert.equal(table.filter((l) => /\s×\s+no policy \(record-not-mta-sts\)$/.test(l)).length, 2);
  assert.equal(table.filter((l) => /\s×\s+no policy$/.test(l)).length, 91);
  assert.match(r.stdout, /domains surveyed 102\n/);
  assert.match(r.stdout, /with an MTA-STS record \(v=STSv1 at _mta-sts\)\s+9\s+8\.8 %/);
  assert.match(r.stdout, /\n  testing\s+9\s+8\.8 %/);
  assert.match(r.stdout, /\n  enforce\s+0\s+0\.0 %/);
});

test('the input: comments, blank lines, CSV with a domain column, stdin, and a line that is no domain', { timeout: 600_000 }, async () => {
  const w = await world({ domains: 6, mix: 'enforce=1,no-record=1', probe: false });
  const files = worldFiles(w);
  const [a, b] = w.domains.map((d) => d.domain);
  const csvInput = `rank,Domain,notes\n1,${a.toUpperCase()}.,"first, with a comma"\n\n# a comment\n2,${b},x\n3,not a domain!,y\n`;
  const r = await runCli(['survey', '-', '--out', '-', '--quiet', ...worldFlags(w, files)], { input: csvInput });
  assert.equal(r.code, 0, r.stderr);
  const results = jsonLines(r.stdout);
  assert.deepEqual(results.map((x) => x.domain).sort(), [a, b, 'not a domain!'].sort());
  const invalid = results.find((x) => x.domain === 'not a domain!');
  assert.equal(invalid.error.code, 'domain-invalid');
  assert.equal(invalid.survey.category, 'input-invalid');
});

test('usage errors exit 2 with one line', { timeout: 600_000 }, async () => {
  for (const [args, message] of [
    [['survey'], /give one list of domains/],
    [['survey', '/nonexistent/list.txt'], /cannot read \/nonexistent\/list.txt: no such file/],
    [['survey', '-', '--shard', '4/3'], /--shard needs K\/N/],
    [['survey', '-', '--concurrency', '0'], /--concurrency needs a whole number/],
    [['survey', 'merge'], /give the JSON lines files/],
    [['lab', 'world', '--mix', 'bogus=1'], /mix: "bogus=1" is not kind=weight/],
  ]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
});

test('mtasts demo survey: the study table on a lab world, checked against it (exit 0)', { timeout: 600_000 }, async () => {
  const r = await runCli(['demo', 'survey']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((r.stdout.match(/^provider\d{3}\.test {2}○ {4}testing$/gm) ?? []).length, 9);
  assert.match(r.stdout, /✓ counted what the world holds: 102 providers, 9 with an MTA-STS record \(9 in testing mode\), 2 with a non-MTA-STS TXT at _mta-sts/);
});
