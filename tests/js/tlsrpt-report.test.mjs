// The TLS-RPT aggregate report (RFC 8460 §4) through both entries of the built package: the
// shared vectors (tests/vectors/tlsrpt-report-{build,read}.json, also run by
// tests/tlsrpt_report.rs), byte-identical output for shuffled input, hostile input and argument
// checks. One core: the same bytes and the same summaries as the native run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, PKG, assertBuilt } from './built-package.mjs';

assertBuilt();
const node = await import(join(PKG, 'js/node/index.js'));
const browser = await import(join(PKG, 'js/browser/index.js'));
await browser.init(readFileSync(join(PKG, 'wasm/mtasts_bg.wasm')));
const load = (name) => JSON.parse(readFileSync(join(ROOT, 'tests/vectors', name), 'utf8'));
const textOf = (c) => (c.text !== undefined ? c.text : JSON.stringify(c.report, null, 2));

for (const [entry, m] of [['node', node], ['browser', browser]]) {
  function error(fn) {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof m.MtaStsError, `an MtaStsError: ${e}`);
      return e;
    }
    assert.fail('expected an error');
  }

  test(`${entry}: build vectors give the pinned reports, byte for byte, in any order`, { timeout: 60_000 }, () => {
    const cases = load('tlsrpt-report-build.json');
    let built = 0;
    for (const c of cases) {
      const options = { ...c.options, results: c.results };
      if (c.expect.error) {
        const e = error(() => m.buildTlsRptReports(options));
        assert.equal(e.code, c.expect.error, c.name);
        continue;
      }
      const reports = m.buildTlsRptReports(options);
      assert.deepEqual(reports, c.expect.reports, c.name);
      built += reports.length;
      const shuffled = [...c.results].reverse();
      for (let i = 0; i < shuffled.length; i++) {
        shuffled.push(shuffled.shift());
        assert.deepEqual(m.buildTlsRptReports({ ...c.options, results: shuffled }), reports, `${c.name}: rotation ${i}`);
      }
      // Split counters from two processes merge by addition.
      const split = c.results.flatMap((r) => ((r.count ?? 1) > 1 ? [{ ...r, count: 1 }, { ...r, count: r.count - 1 }] : [r]));
      assert.ok(split.length > c.results.length);
      assert.deepEqual(m.buildTlsRptReports({ ...c.options, results: split }), reports, `${c.name}: split`);
      for (const r of reports) {
        const back = m.readTlsRptReport(r.json);
        assert.deepEqual(back.problems, [], `${c.name}: read back`);
        assert.equal(back.reportId, r.reportId);
        assert.ok(!r.json.includes('null'), 'no nulls');
      }
    }
    assert.ok(built >= 2);
  });

  test(`${entry}: read vectors (the RFC 8460 §4.9 example, provider shapes, broken reports)`, { timeout: 60_000 }, () => {
    const cases = load('tlsrpt-report-read.json');
    assert.ok(cases.length >= 20);
    for (const c of cases) {
      if (c.expect.error) {
        const e = error(() => m.readTlsRptReport(textOf(c)));
        assert.equal(e.code, c.expect.error, c.name);
        assert.equal(e.rfc, 'RFC 8460 §4', c.name);
        assert.equal(e.temporary, false, c.name);
        continue;
      }
      const { problems, ...summary } = m.readTlsRptReport(textOf(c));
      assert.deepEqual(summary, c.expect.summary, c.name);
      assert.deepEqual(problems.map((p) => p.code), c.expect.problems, `${c.name}: problems`);
      for (const p of problems) {
        assert.equal(p.severity, 'warning');
        assert.match(p.rfc, /^RFC 8460 §4/);
        assert.equal(typeof p.message, 'string');
      }
    }
    const rfc = m.readTlsRptReport(textOf(cases[0]));
    assert.deepEqual([rfc.policies[0].successful, rfc.policies[0].failed], [5326, 303]);
  });

  test(`${entry}: hostile input gives named errors`, { timeout: 60_000 }, () => {
    const huge = `{"policies":[]}${' '.repeat(16 * 1024 * 1024)}`;
    assert.equal(error(() => m.readTlsRptReport(huge)).code, 'tlsrpt-report-too-large');
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    assert.equal(error(() => m.readTlsRptReport(deep)).code, 'tlsrpt-report-too-deep');
    assert.equal(error(() => m.readTlsRptReport('{"policies": [}')).code, 'tlsrpt-report-not-json');
    assert.equal(error(() => m.readTlsRptReport('[]')).code, 'tlsrpt-report-not-object');
  });

  test(`${entry}: arguments of the wrong type are invalid-argument`, { timeout: 60_000 }, () => {
    const ok = { organization: 'Org', contact: 'tlsrpt@org.example', submitter: 'org.example', day: '2026-12-01', results: [] };
    assert.deepEqual(m.buildTlsRptReports(ok), []);
    const bad = [
      [null, 'options must be an object'],
      [{ ...ok, organization: 1 }, 'options.organization must be a string'],
      [{ ...ok, day: new Date() }, 'options.day must be a string'],
      [{ ...ok, results: {} }, 'options.results must be an array'],
      [{ ...ok, results: [null] }, 'options.results[0] must be an object'],
      [{ ...ok, results: [{ policyDomain: 'example.com', result: 'success' }] }, 'options.results'],
      [{ ...ok, results: [{ policyDomain: 'example.com', policy: { type: 'tlsa' }, result: 'success' }] }, 'options.results'],
      [{ ...ok, results: [{ policyDomain: 'example.com', policy: { type: 'sts' }, result: 'success', count: -1 }] }, 'options.results'],
    ];
    for (const [options, message] of bad) {
      const e = error(() => m.buildTlsRptReports(options));
      assert.equal(e.code, 'invalid-argument', message);
      assert.ok(e.message.includes(message), `${e.message} names ${message}`);
    }
    for (const v of [undefined, 42, new Uint8Array(2), {}]) {
      assert.equal(error(() => m.readTlsRptReport(v)).code, 'invalid-argument');
    }
  });

  test(`${entry}: errorCodes() lists the report errors`, { timeout: 60_000 }, () => {
    const codes = new Map(m.errorCodes().map((c) => [c.code, c]));
    for (const code of ['tlsrpt-report-too-large', 'tlsrpt-report-not-json', 'tlsrpt-report-too-deep', 'tlsrpt-report-not-object', 'tlsrpt-report-field-missing',
      'tlsrpt-report-wrong-type', 'tlsrpt-report-count-invalid', 'tlsrpt-report-date-invalid', 'tlsrpt-report-result-type-invalid', 'tlsrpt-report-input-invalid']) {
      assert.ok(codes.has(code), code);
      assert.equal(codes.get(code).rfc, 'RFC 8460 §4');
      assert.equal(codes.get(code).tlsrpt, 'validation-failure');
    }
  });
}
