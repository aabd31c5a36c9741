// Hostile input through the built package: strings and bytes (Uint8Array, Buffer) get named errors,
// bounded lint output, and never crash the wasm module.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PKG, assertBuilt } from './built-package.mjs';

assertBuilt();
const m = await import(join(PKG, 'js/node/index.js'));

const problemOf = (fn) => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof m.MtaStsError);
    return `${e.code}/${e.problem ?? ''}`;
  }
  return 'no error';
};

test('a 1 MB line', { timeout: 180_000 }, () => {
  const text = `version: STSv1\nmode: enforce\nmx: ${'a'.repeat(1 << 20)}\nmax_age: 86400\n`;
  assert.equal(problemOf(() => m.parsePolicy(text)), 'policy-invalid/policy-mx-invalid');
  assert.equal(problemOf(() => m.parsePolicy(Buffer.from(text))), 'policy-invalid/policy-mx-invalid');
  assert.equal(problemOf(() => m.parseRecord(`v=STSv1; id=${'x'.repeat(1 << 20)}`)), 'record-invalid/record-id-invalid');
});

test('100k lines', { timeout: 180_000 }, () => {
  const lint = m.lintPolicy('junk\n'.repeat(100_000));
  assert.equal(lint.diagnostics.at(-1).code, 'lint-truncated');
  assert.ok(lint.diagnostics.length <= 202); // 200, the first error if it came later, the note
  const many = `version: STSv1\nmode: enforce\nmax_age: 86400\n${'mx: a.example\n'.repeat(100_000)}`;
  assert.equal(m.parsePolicy(many).mx.length, 100_000);
});

test('NUL and invalid UTF-8 bytes', { timeout: 180_000 }, () => {
  assert.equal(problemOf(() => m.parsePolicy(new Uint8Array([0x76, 0, 0xff]))), 'policy-invalid/policy-encoding');
  const err = (() => { try { m.parsePolicy(Buffer.from('version: STSv1\nmode: \xc3\x28\n', 'latin1')); } catch (e) { return e; } })();
  assert.equal(err.problem, 'policy-encoding');
  assert.deepEqual([err.line, err.column], [2, 7]);
  assert.equal(problemOf(() => m.parsePolicy('version: STSv1\0\n')), 'policy-invalid/policy-version-invalid');
  assert.equal(m.lintPolicy(new Uint8Array(4096).fill(0xff)).diagnostics[0].code, 'policy-encoding');
  assert.equal(problemOf(() => m.parseRecord('\0\0')), 'record-invalid/record-version');
  // Lone surrogates in JS strings are replaced, not crashed on.
  assert.equal(problemOf(() => m.parseRecord('v=STSv1; id=\ud800')), 'record-invalid/record-id-invalid');
});

test('the module still works after all of the above', { timeout: 180_000 }, () => {
  assert.equal(m.parsePolicy('version: STSv1\nmode: none\nmax_age: 86400\n').mode, 'none');
});
