// The shared vector files (tests/vectors/*.json) through the built package in Node, with the same
// expectations as the native run (tests/vectors.rs): one core, one verdict.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, PKG, assertBuilt } from './built-package.mjs';

assertBuilt();
// The same vectors through both entries: Node's (wasm loaded at import, node:crypto signatures)
// and the browser's (init() first), so one core gives one verdict in either.
const node = await import(join(PKG, 'js/node/index.js'));
const browser = await import(join(PKG, 'js/browser/index.js'));
await browser.init(readFileSync(join(PKG, 'wasm/mtasts_bg.wasm')));
const load = (name) => JSON.parse(readFileSync(join(ROOT, 'tests/vectors', name), 'utf8'));
// A policy listing `patterns` (mode none when there are none: RFC 8461 §3.2 needs an mx line
// only in enforce and testing), as tests/vectors.rs builds it.
const mxPolicyText = (patterns) =>
  `version: STSv1\nmode: ${patterns.length ? 'enforce' : 'none'}\n${patterns.map((p) => `mx: ${p}\n`).join('')}max_age: 86400\n`;

for (const [entry, m] of [['node', node], ['browser', browser]]) {
  function input(c) {
    return c.input !== undefined ? c.input : new Uint8Array(Buffer.from(c.inputBase64, 'base64'));
  }

  function checkError(fn, want, name) {
    let err;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    assert.ok(err, `${name}: expected an error`);
    assert.ok(err instanceof m.MtaStsError, `${name}: MtaStsError`);
    assert.ok(err instanceof Error, `${name}: a real Error`);
    for (const [k, v] of Object.entries(want)) assert.equal(err[k], v, `${name}: ${k}`);
    return err;
  }

  test(`${entry}: ' + 'policy vectors`, { timeout: 60_000 }, () => {
    const cases = load('policy.json');
    assert.ok(cases.length > 50);
    for (const c of cases) {
      const text = input(c);
      const lint = m.lintPolicy(text);
      if (c.expect.policy) {
        const p = m.parsePolicy(text);
        assert.deepEqual(p, c.expect.policy, c.name);
        assert.deepEqual(m.parsePolicy(m.formatPolicy(p)), p, `${c.name}: round trip`);
        assert.deepEqual(lint.policy, p, `${c.name}: lint agrees`);
      } else {
        const err = checkError(() => m.parsePolicy(text), c.expect.error, c.name);
        assert.equal(lint.policy, null, `${c.name}: lint gives no policy`);
        assert.equal(lint.diagnostics.find((d) => d.severity === 'error').code, err.problem, `${c.name}: first error`);
      }
      if (c.lint) assert.deepEqual(lint.diagnostics.map((d) => d.code), c.lint, `${c.name}: lint codes`);
      for (const d of lint.diagnostics) {
        assert.ok(['error', 'warning'].includes(d.severity), c.name);
        assert.equal(typeof d.message, 'string');
        assert.ok(Number.isInteger(d.line) && Number.isInteger(d.column), c.name);
        assert.match(d.rfc, /^RFC 8461 §/, c.name);
      }
    }
  });

  test(`${entry}: ' + 'record vectors`, { timeout: 60_000 }, () => {
    for (const c of load('record.json')) {
      const lint = m.lintRecord(c.input);
      if (c.expect.record) {
        assert.deepEqual(m.parseRecord(c.input), c.expect.record, c.name);
        assert.deepEqual(m.selectRecord([[c.input]]), c.expect.record, `${c.name}: selected`);
        assert.deepEqual(lint.record, c.expect.record, `${c.name}: lint agrees`);
      } else {
        checkError(() => m.parseRecord(c.input), c.expect.error, c.name);
        assert.equal(lint.record, null, c.name);
      }
      if (c.lint) assert.deepEqual(lint.diagnostics.map((d) => d.code), c.lint, `${c.name}: lint codes`);
    }
  });

  test(`${entry}: ' + 'select vectors`, { timeout: 60_000 }, () => {
    for (const c of load('select.json')) {
      if ('record' in c.expect) assert.deepEqual(m.selectRecord(c.input), c.expect.record, c.name);
      else checkError(() => m.selectRecord(c.input), c.expect.error, c.name);
    }
  });

  test(`${entry}: ' + 'mx vectors, as patterns, as a policy and as a parsed policy`, { timeout: 60_000 }, () => {
    for (const c of load('mx.json')) {
      if (typeof c.expect === 'boolean') {
        assert.equal(m.matchMx(c.patterns, c.host), c.expect, c.name);
        assert.equal(m.matchMx({ mx: c.patterns }, c.host), c.expect, `${c.name} (policy)`);
        // A parsed policy carries the core's checked patterns, matched without the module for
        // hosts in normal form (js/core.js matchChecked): the same verdicts.
        const parsed = m.parsePolicy(mxPolicyText(c.patterns));
        assert.equal(m.matchMx(parsed, c.host), c.expect, `${c.name} (parsed policy)`);
        assert.deepEqual(m.matchMxList(parsed, [c.host, c.host]), [c.expect, c.expect], `${c.name} (matchMxList)`);
      } else {
        checkError(() => m.matchMx(c.patterns, c.host), { code: c.expect.error }, c.name);
      }
    }
  });

  test(`${entry}: ' + 'draft-era inputs are explained`, { timeout: 60_000 }, () => {
    const json = m.lintPolicy('{"version":"STSv1","mode":"report","mx":["*.mail.example.com"],"max_age":123456}');
    assert.match(json.diagnostics[0].message, /mode: testing \/ mx: \*\.mail\.example\.com \/ max_age: 123456/);
    const report = m.lintPolicy('version: STSv1\nmode: report\nmx: a.example\nmax_age: 86400\n');
    assert.match(report.diagnostics[0].message, /"testing"/);
    const name = m.lintRecord('v=STSv1; id=1', '_mta_sts.example.com');
    assert.deepEqual(name.diagnostics.map((d) => d.code), ['record-draft-name']);
  });

  test(`${entry}: ' + 'bad arguments get invalid-argument, not a crash`, { timeout: 60_000 }, () => {
    for (const bad of [undefined, null, 42, {}, [1]]) {
      checkError(() => m.parsePolicy(bad), { code: 'invalid-argument' }, String(bad));
    }
    checkError(() => m.selectRecord('nope'), { code: 'invalid-argument' }, 'selectRecord');
    checkError(() => m.matchMx(42, 'a.example'), { code: 'invalid-argument' }, 'matchMx');
    checkError(() => m.matchMx([1], 'a.example'), { code: 'invalid-argument' }, 'matchMx non-string');
    checkError(() => m.formatPolicy({ mode: 'enforce', maxAge: 86400, mx: ['a.example'], extensions: { x: 'a\nmode: none' } }), { code: 'policy-invalid' }, 'format injection');
    checkError(() => m.formatPolicy({ mode: 'sometimes', maxAge: 1, mx: [] }), { code: 'policy-invalid', problem: 'policy-mode-invalid' }, 'format mode');
  });
}

test('certificate verdicts: node:crypto (Node entry) and ring (browser entry) agree', { timeout: 60_000 }, () => {
  const der = (name) => new Uint8Array(readFileSync(join(ROOT, 'tests/pki', `${name}.der`)));
  const roots = [der('ca-rsa'), der('ca-ec')];
  const now = new Date('2028-01-01T00:00:00Z');
  // (chain, host, when, expected code or 'ok') — the table of tests/cert.rs, through the package
  const cases = [
    [['mx-rsa'], 'mx1.example.test', now, 'ok'],
    [['mx-ec', 'int-ec'], 'a.wild.example.test', now, 'ok'],
    [['mx-ec', 'int-ec'], 'b.a.wild.example.test', now, 'certificate-host-mismatch'],
    [['mx-ec'], 'mx2.example.test', now, 'certificate-not-trusted'],
    [['mx-idn'], 'mx.bücher.example', now, 'ok'],
    [['cn-only'], 'mx1.example.test', now, 'certificate-host-mismatch'],
    [['client-only'], 'mx1.example.test', now, 'validation-failure'],
    [['other'], 'mx1.example.test', now, 'certificate-not-trusted'],
    [['mx-rsa'], 'mx1.example.test', new Date('2041-01-01T00:00:00Z'), 'certificate-expired'],
  ];
  for (const [names, host, when, want] of cases) {
    const chain = names.map(der);
    const viaNode = node.verifyCertificate(chain, host, { now: when, roots });
    // Both entries share one process here, where node:crypto is registered: ask for ring explicitly.
    const viaRing = browser.verifyCertificate(chain, host, { now: when, roots, ring: true });
    assert.equal(viaNode.ok ? 'ok' : viaNode.code, want, `${names} ${host} (node:crypto)`);
    assert.deepEqual(viaRing, viaNode, `${names} ${host} (ring)`);
  }
});
