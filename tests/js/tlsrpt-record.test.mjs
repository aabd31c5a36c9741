// The RFC 8460 §3 `_smtp._tls` record through the built package: the shared vectors
// (tests/vectors/tlsrpt-record.json, also run natively by tests/tlsrpt_record.rs) through the Node
// entry and the browser entry, the shape of the results, and the argument checks.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, PKG, assertBuilt } from './built-package.mjs';

assertBuilt();
const node = await import(join(PKG, 'js/node/index.js'));
const browser = await import(join(PKG, 'js/browser/index.js'));
await browser.init(readFileSync(join(PKG, 'wasm/mtasts_bg.wasm')));
const vectors = JSON.parse(readFileSync(join(ROOT, 'tests/vectors/tlsrpt-record.json'), 'utf8'));

for (const [entry, m] of [['node', node], ['browser', browser]]) {
  function thrown(fn) {
    try {
      fn();
    } catch (e) {
      return e;
    }
    return undefined;
  }

  function checkError(fn, want, name) {
    const err = thrown(fn);
    assert.ok(err, `${name}: expected an error`);
    assert.ok(err instanceof m.MtaStsError && err instanceof Error, `${name}: an MtaStsError`);
    for (const [k, v] of Object.entries(want)) assert.equal(err[k], v, `${name}: ${k} (${err.message})`);
    return err;
  }

  test(`${entry}: tlsrpt record vectors`, { timeout: 60_000 }, () => {
    assert.ok(vectors.records.length >= 40);
    for (const c of vectors.records) {
      const lint = m.lintTlsRptRecord(c.input);
      if (c.expect.record) {
        assert.deepEqual(m.parseTlsRptRecord(c.input), c.expect.record, c.name);
        assert.deepEqual(m.selectTlsRptRecord([[c.input]]), c.expect.record, `${c.name}: selected`);
        assert.deepEqual(lint.record, c.expect.record, `${c.name}: lint agrees`);
      } else {
        const err = checkError(() => m.parseTlsRptRecord(c.input), c.expect.error, c.name);
        assert.equal(err.rfc, 'RFC 8460 §3', c.name);
        assert.equal(err.tlsrpt, 'validation-failure', c.name);
        assert.equal(err.temporary, false, c.name);
        assert.equal(lint.record, null, `${c.name}: lint gives no record`);
        assert.equal(lint.diagnostics.find((d) => d.severity === 'error').code, err.problem, `${c.name}: first error`);
      }
      if (c.lint) assert.deepEqual(lint.diagnostics.map((d) => d.code), c.lint, `${c.name}: lint codes`);
      for (const d of lint.diagnostics) {
        assert.ok(['error', 'warning'].includes(d.severity), c.name);
        assert.match(d.code, /^tlsrpt-record-[a-z]+(-[a-z]+)*$/, c.name);
        assert.ok(d.message.length > 0 && d.line === 1 && d.column >= 1, c.name);
        assert.equal(d.rfc, 'RFC 8460 §3', c.name);
      }
    }
  });

  test(`${entry}: tlsrpt record names`, { timeout: 60_000 }, () => {
    for (const c of vectors.names) {
      const lint = m.lintTlsRptRecord(c.input, c.dnsName);
      assert.deepEqual(lint.diagnostics.map((d) => d.code), c.lint, c.name);
      assert.equal(lint.record === null, c.lint.length > 0, `${c.name}: a wrong name is an error`);
    }
  });

  test(`${entry}: tlsrpt select vectors`, { timeout: 60_000 }, () => {
    for (const c of vectors.select) {
      if ('record' in c.expect) assert.deepEqual(m.selectTlsRptRecord(c.input), c.expect.record, c.name);
      else checkError(() => m.selectTlsRptRecord(c.input), c.expect.error, c.name);
    }
  });

  test(`${entry}: the tlsrpt functions check their arguments`, { timeout: 60_000 }, () => {
    const bad = [
      ['parseTlsRptRecord', () => m.parseTlsRptRecord(42), /^parseTlsRptRecord: txt must be a string, found number$/],
      ['parseTlsRptRecord', () => m.parseTlsRptRecord(), /found undefined$/],
      ['selectTlsRptRecord', () => m.selectTlsRptRecord('v=TLSRPTv1; rua=mailto:a@b.c'), /records must be an array .* found string$/],
      ['selectTlsRptRecord', () => m.selectTlsRptRecord(['v=TLSRPTv1']), /records\[0\] must be an array of strings, found string$/],
      ['selectTlsRptRecord', () => m.selectTlsRptRecord([[1]]), /records\[0\]\[0\] must be a string, found number$/],
      ['lintTlsRptRecord', () => m.lintTlsRptRecord(null), /txt must be a string, found null$/],
      ['lintTlsRptRecord', () => m.lintTlsRptRecord('v=TLSRPTv1', 7), /name must be a string, found number$/],
    ];
    for (const [fn, call, message] of bad) {
      const err = checkError(call, { code: 'invalid-argument' }, fn);
      assert.match(err.message, message, fn);
    }
    // A hostile record: an error, not a trap, and bounded lint output.
    const commas = `v=TLSRPTv1; rua=${','.repeat(100_000)}`;
    checkError(() => m.parseTlsRptRecord(commas), { code: 'tlsrpt-record-invalid', problem: 'tlsrpt-record-rua-invalid' }, 'commas');
    assert.ok(m.lintTlsRptRecord(commas).diagnostics.length <= 202);
  });

  test(`${entry}: errorCodes() lists the tlsrpt record codes`, { timeout: 60_000 }, () => {
    const byCode = new Map(m.errorCodes().map((c) => [c.code, c]));
    for (const code of ['tlsrpt-record-invalid', 'tlsrpt-record-multiple']) {
      assert.equal(byCode.get(code)?.rfc, 'RFC 8460 §3', code);
      assert.equal(byCode.get(code).tlsrpt, 'validation-failure', code);
      assert.equal(byCode.get(code).temporary, false, code);
    }
  });
}

test('browser entry: the tlsrpt functions throw not-initialized before init()', { timeout: 60_000 }, () => {
  const url = pathToFileURL(join(PKG, 'js/browser/index.js')).href;
  const script = `const m = await import(${JSON.stringify(url)});
    for (const f of ['parseTlsRptRecord', 'selectTlsRptRecord', 'lintTlsRptRecord']) {
      try { m[f]('v=TLSRPTv1'); console.log(f, 'returned'); } catch (e) { console.log(f, e.code); }
    }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), [
    'parseTlsRptRecord not-initialized',
    'selectTlsRptRecord not-initialized',
    'lintTlsRptRecord not-initialized',
  ]);
});
