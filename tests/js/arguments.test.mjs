// Every public function of the package, given values of the wrong type, answers MtaStsError
// `invalid-argument` naming the function, the argument and what it found — never a trap of the wasm
// module ("RuntimeError: memory access out of bounds") or a TypeError. Through the Node entry and
// the browser entry (issue 8).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PKG, ROOT, assertBuilt } from './built-package.mjs';

assertBuilt();
const node = await import(join(PKG, 'js/node/index.js'));
const browser = await import(join(PKG, 'js/browser/index.js'));
await browser.init(readFileSync(join(PKG, 'wasm/mtasts_bg.wasm')));
// Not exported by the entries, but public to the package's own JS (the resolver, the relay).
const core = await import(join(PKG, 'js/core.js'));

const der = new Uint8Array(readFileSync(join(ROOT, 'tests/pki', 'mx-rsa.der')));
const ca = new Uint8Array(readFileSync(join(ROOT, 'tests/pki', 'ca-rsa.der')));
const POLICY_TEXT = 'version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 86400\n';

// The values of the wrong type tried at every argument that takes a string.
const NOT_STRINGS = [42, undefined, null, {}, [], true];

/**
 * (function name, call with the bad value in place, bad values, what the message says) per
 * argument. `found` is the word the message ends with for each bad value.
 */
function table(m) {
  const policy = () => m.parsePolicy(POLICY_TEXT); // a fresh parsed policy (it carries its matcher)
  const patternsOrPolicy = [42, undefined, null, {}, 'mail.example.com', true, [42], { mx: 'mail.example.com' }, { mx: [null] }];
  return [
    ['parseRecord', 'txt', (v) => m.parseRecord(v), NOT_STRINGS],
    ['selectRecord', 'records', (v) => m.selectRecord(v), [42, undefined, null, {}, 'v=STSv1; id=1', [42], [[42]], [['v=STSv1; ', {}]]]],
    ['lintRecord', 'txt', (v) => m.lintRecord(v), NOT_STRINGS],
    ['lintRecord', 'name', (v) => m.lintRecord('v=STSv1; id=1', v), [7, null, {}, [], false]],
    ['parsePolicy', 'text', (v) => m.parsePolicy(v), [...NOT_STRINGS, [1], new ArrayBuffer(4)]],
    ['lintPolicy', 'text', (v) => m.lintPolicy(v), [...NOT_STRINGS, [1], new ArrayBuffer(4)]],
    // {} is an object, so formatPolicy({}) is policy-invalid (no mode), tested below.
    ['formatPolicy', 'policy', (v) => m.formatPolicy(v), [42, undefined, null, [], POLICY_TEXT, true]],
    ['matchMx', 'patternsOrPolicy', (v) => m.matchMx(v, 'mail.example.com'), patternsOrPolicy],
    ['matchMx', 'host', (v) => m.matchMx(['mail.example.com'], v), [25, ...NOT_STRINGS]],
    ['matchMx', 'host (parsed policy)', (v) => m.matchMx(policy(), v), [25, ...NOT_STRINGS]],
    ['matchMxList', 'patternsOrPolicy', (v) => m.matchMxList(v, ['mail.example.com']), patternsOrPolicy],
    ['matchMxList', 'patternsOrPolicy (no hosts)', (v) => m.matchMxList(v, []), patternsOrPolicy],
    ['matchMxList', 'hosts', (v) => m.matchMxList(['mail.example.com'], v), [42, undefined, null, {}, 'mail.example.com', [42], ['a.example', null]]],
    ['matchMxList', 'hosts (parsed policy)', (v) => m.matchMxList(policy(), v), [42, undefined, null, {}, 'mail.example.com', [42], ['a.example', null]]],
    ['verifyCertificate', 'chain', (v) => m.verifyCertificate(v, 'mx1.example.test', { roots: [der] }), [42, undefined, null, {}, der, [42], [der, 'pem']]],
    ['verifyCertificate', 'host', (v) => m.verifyCertificate([der], v, { roots: [der] }), NOT_STRINGS],
    [
      'verifyCertificate',
      'options',
      (v) => m.verifyCertificate([der], 'mx1.example.test', v),
      [42, null, [], 'roots', { roots: [der], now: 'yesterday' }, { roots: [der], now: new Date(NaN) }, { roots: 42 }, { roots: [der, 42] }, { roots: [der], ring: 'yes' }],
    ],
    ['normalizeDomain', 'domain', (v) => core.normalizeDomain(v), NOT_STRINGS],
  ];
}

function kind(v) {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function thrown(fn) {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

for (const [entry, m] of [['node', node], ['browser', browser]]) {
  test(`${entry}: every public function answers invalid-argument for values of the wrong type`, { timeout: 60_000 }, () => {
    let cases = 0;
    for (const [name, argument, call, values] of table(m)) {
      for (const value of values) {
        const err = thrown(() => call(value));
        const label = `${name} ${argument} = ${kind(value)} ${JSON.stringify(value) ?? String(value)}`;
        assert.ok(err !== undefined, `${label}: expected an error`);
        assert.ok(err instanceof m.MtaStsError, `${label}: MtaStsError, got ${err?.name}: ${err?.message}`);
        assert.equal(err.code, 'invalid-argument', `${label}: code (${err.message})`);
        assert.ok(err.message.startsWith(`${name}: `), `${label}: the message names the function: ${err.message}`);
        assert.match(err.message, / must be .*, found [a-z]+$/, `${label}: says what was expected and found`);
        cases++;
      }
    }
    assert.ok(cases > 100, `${cases} cases`);
  });

  test(`${entry}: the messages name the argument and what was found`, { timeout: 60_000 }, () => {
    // (call, message) — the exact wording for a few of the table's cases
    const cases = [
      [() => m.parseRecord(42), 'parseRecord: txt must be a string, found number'],
      [() => m.lintRecord('v=STSv1; id=1', 7), 'lintRecord: name must be a string, found number'],
      [() => m.matchMx(['a.example'], 25), 'matchMx: host must be a string, found number'],
      [() => m.matchMx(42, 'a.example'), 'matchMx: patternsOrPolicy must be an array of mx patterns or a policy with an mx array, found number'],
      [() => m.matchMx({ mx: ['a.example', 7] }, 'a.example'), 'matchMx: patternsOrPolicy.mx[1] must be a string, found number'],
      [() => m.parsePolicy(undefined), 'parsePolicy: text must be a string or a Uint8Array, found undefined'],
      [() => m.selectRecord([['v=STSv1; id=1'], 'x']), 'selectRecord: records[1] must be an array of strings, found string'],
      [() => m.matchMxList(['a.example'], ['a.example', null]), 'matchMxList: hosts[1] must be a string, found null'],
      [() => m.verifyCertificate([der], 'mx1.example.test', null), 'verifyCertificate: options must be an object, found null'],
      [() => core.normalizeDomain({}), 'normalizeDomain: domain must be a string, found object'],
    ];
    for (const [call, message] of cases) assert.equal(thrown(call)?.message, message);
  });

  test(`${entry}: arguments of the right type still reach the core (its own errors, its answers)`, { timeout: 60_000 }, () => {
    assert.equal(thrown(() => m.formatPolicy({}))?.code, 'policy-invalid', 'an object without a mode');
    assert.equal(thrown(() => m.parseRecord('v=STSv1; id=!'))?.code, 'record-invalid');
    assert.equal(thrown(() => m.matchMx(['*.*.example'], 'a.example'))?.code, 'mx-pattern-invalid');
    assert.equal(thrown(() => m.matchMxList(['a\nb.example'], []))?.code, 'mx-pattern-invalid', 'no hosts, invalid patterns');
    assert.equal(m.lintRecord('v=STSv1; id=1', undefined).record.id, '1', 'name may be left out');
    const ok = m.verifyCertificate([der], 'mx1.example.test', { roots: [ca], now: Date.parse('2028-01-01T00:00:00Z') });
    assert.equal(ok.ok, true, 'now as milliseconds');
    // After all the bad calls above the module still answers (no trap left it broken).
    assert.equal(m.matchMx(m.parsePolicy(POLICY_TEXT), 'mail.example.com'), true);
  });
}
