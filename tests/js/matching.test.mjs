// MX matching through the package (RFC 8461 §4.1, issue 8): patterns given in lower case by every
// parse path, hosts that are not domain names matching nothing, policies that carry their
// checked patterns (and stop using them when their mx list changes), matchMxList, which must
// answer exactly what matchMx answers host by host, and a differential test: a parsed policy
// (matched in js/core.js for hosts in normal form) against the core's matcher for the same
// patterns, over random hosts. Through the Node entry and the browser entry.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PKG, assertBuilt } from './built-package.mjs';
import { seededRandom } from '../bench/policy-corpus.mjs';

assertBuilt();
const node = await import(join(PKG, 'js/node/index.js'));
const browser = await import(join(PKG, 'js/browser/index.js'));
await browser.init(readFileSync(join(PKG, 'wasm/mtasts_bg.wasm')));

// seededRandom (mulberry32, tests/bench/policy-corpus.mjs): a failure names a case that can be run again.

const policyText = (mx, extra = '') => `version: STSv1\nmode: enforce\n${extra}${mx.map((m) => `mx: ${m}\n`).join('')}max_age: 86400\n`;

// (patterns, host, expected, reason) — RFC 8461 §4.1
const TABLE = [
  [['mail.example.com'], 'mail.example.com', true, 'exact'],
  [['MAIL.Example.COM'], 'mail.example.com', true, 'pattern in capitals'],
  [['mail.example.com'], 'Mail.EXAMPLE.com.', true, 'host in capitals, trailing dot'],
  [['*.example.com'], 'mx1.example.com', true, 'wildcard, one label'],
  [['*.example.com'], 'example.com', false, 'wildcard needs a label'],
  [['*.example.com'], 'a.b.example.com', false, 'wildcard is exactly one label'],
  [['*.example.com'], '.example.com', false, 'empty first label: not a domain name'],
  [['mail.example.com'], 'mail..example.com', false, 'empty label: not a domain name'],
  [['mail.example.com'], '', false, 'empty host'],
  [['mail.example.com'], '.', false, 'the root only'],
  [['mail.example.com'], 'mail example.com', false, 'a space'],
  [['mail.example.com'], 'mail.example.com\n', false, 'a line feed'],
  [['a.example', '*.b.example'], 'x.b.example', true, 'second pattern'],
  [['mx.xn--bcher-kva.example'], 'mx.BÜCHER.example', true, 'U-label host'],
  [[], 'mail.example.com', false, 'no patterns'],
];

for (const [entry, m] of [['node', node], ['browser', browser]]) {
  test(`${entry}: parsed mx patterns are lower case on every path`, { timeout: 60_000 }, () => {
    const mx = ['MAIL.Example.COM', '*.Backup.example.net', 'plain.example.org'];
    const want = ['mail.example.com', '*.backup.example.net', 'plain.example.org'];
    // A non-ASCII extension before the mx lines shifts UTF-16 offsets against UTF-8 bytes.
    const text = policyText(mx, 'x-note: café 😀 Ünïcode\n');
    assert.deepEqual(m.parsePolicy(text).mx, want, 'string');
    assert.deepEqual(m.parsePolicy(new TextEncoder().encode(text)).mx, want, 'bytes');
    assert.deepEqual(m.lintPolicy(text).policy.mx, want, 'lintPolicy');
    assert.deepEqual(m.parsePolicy(text).extensions, { 'x-note': 'café 😀 Ünïcode' }, 'extensions keep their case');
    assert.equal(m.formatPolicy({ mode: 'enforce', maxAge: 86400, mx: ['MX.Example.org'], extensions: {} }).includes('mx: mx.example.org\n'), true, 'formatPolicy');
  });

  test(`${entry}: matchMx and matchMxList on the RFC 8461 §4.1 table, as patterns, plain policy and parsed policy`, { timeout: 60_000 }, () => {
    for (const [patterns, host, want, why] of TABLE) {
      const parsed = patterns.length ? m.parsePolicy(policyText(patterns)) : { mx: [] };
      for (const [shape, p] of [['patterns', patterns], ['{ mx }', { mx: patterns }], ['parsed', parsed]]) {
        assert.equal(m.matchMx(p, host), want, `matchMx ${shape} ${JSON.stringify(host)}: ${why}`);
        assert.deepEqual(m.matchMxList(p, [host]), [want], `matchMxList ${shape} ${JSON.stringify(host)}: ${why}`);
      }
    }
  });

  test(`${entry}: matchMxList answers what matchMx answers, host by host`, { timeout: 60_000 }, () => {
    const patterns = ['mail.example.com', '*.example.net'];
    const hosts = ['mail.example.com', 'a.example.net', 'a.b.example.net', '', 'x..example.net', 'MAIL.example.com.', 'a\nb', 'mx.bücher.example'];
    // 70 hosts: more than one call's worth (31) of verdicts.
    const many = Array.from({ length: 70 }, (_, i) => (i % 3 ? `mx${i}.example.net` : `mx${i}.example.org`));
    const parsed = m.parsePolicy(policyText(patterns));
    for (const list of [hosts, many, [], ['only.example.net']]) {
      for (const p of [patterns, { mx: patterns }, parsed]) {
        assert.deepEqual(m.matchMxList(p, list), list.map((h) => m.matchMx(p, h)), `${list.length} hosts`);
      }
    }
    assert.throws(() => m.matchMxList(['*.*.example'], ['a.example']), { code: 'mx-pattern-invalid' });
  });

  test(`${entry}: a parsed policy whose mx list is changed is matched by its new list`, { timeout: 60_000 }, () => {
    const p = m.parsePolicy(policyText(['a.example']));
    assert.equal(m.matchMx(p, 'a.example'), true);
    p.mx.push('b.example');
    assert.equal(m.matchMx(p, 'b.example'), true, 'pushed');
    p.mx[0] = 'c.example';
    assert.equal(m.matchMx(p, 'a.example'), false, 'replaced in place');
    assert.deepEqual(m.matchMxList(p, ['a.example', 'c.example']), [false, true]);
    p.mx = ['d.example'];
    assert.equal(m.matchMx(p, 'c.example'), false, 'a new array');
    assert.equal(m.matchMx(p, 'd.example'), true);
    p.mx = ['*.*.example'];
    assert.throws(() => m.matchMx(p, 'a.example'), { code: 'mx-pattern-invalid' }, 'the new list is validated');
  });

  test(`${entry}: a parsed policy is a plain object, and keeps matching after thousands of parses`, { timeout: 60_000 }, () => {
    const text = policyText(['mx1.example.com', '*.example.net']);
    const p = m.parsePolicy(text);
    assert.deepEqual(Object.keys(p), ['version', 'mode', 'maxAge', 'mx', 'extensions']);
    assert.equal(Object.getPrototypeOf(p), Object.prototype);
    assert.deepEqual(JSON.parse(JSON.stringify(p)), p);
    const clone = structuredClone(p);
    assert.deepEqual(clone, p);
    assert.equal(m.matchMx(clone, 'a.example.net'), true, 'a clone carries no matcher and still matches');
    // Its patterns stay with the object: thousands of later parses change nothing.
    for (let i = 0; i < 3000; i++) m.parsePolicy(policyText([`other${i}.example.org`]));
    assert.equal(m.matchMx(p, 'mx1.example.com'), true);
    assert.equal(m.matchMx(p, 'other1.example.org'), false, 'not the patterns now in its old slot');
    assert.deepEqual(m.matchMxList(p, ['a.example.net', 'other2999.example.org', 'mx1.example.com']), [true, false, true]);
  });

  test(`${entry}: a parsed policy matches as the core's matcher does, over random hosts`, { timeout: 60_000 }, () => {
    const r = seededRandom(8461);
    const pick = (list) => list[Math.floor(r() * list.length)];
    const flipCase = (s) => [...s].map((c) => (r() < 0.3 ? c.toUpperCase() : c)).join('');
    // Pattern labels (A-labels), and host labels that are not in normal form or not host names:
    // capitals, a U-label, "*", a space, an underscore, characters whose toLowerCase is not
    // ASCII folding (KELVIN SIGN, dotted capital I), empty labels.
    const LABELS = ['mx', 'a', 'b1', 'x-y', 'xn--bcher-kva', 'example', 'com', 'mail'];
    const ODD = ['MX', 'Example', 'bücher', 'BÜCHER', '', '*', 'a b', '_x', 'ä', '\u212Aom', 'İ', 'ß', 'mx\n'];
    const labels = (n, from) => Array.from({ length: n }, () => pick(from));
    let agreed = { true: 0, false: 0, normal: 0 };
    for (let i = 0; i < 300; i++) {
      const patterns = Array.from({ length: 1 + Math.floor(r() * 4) }, () =>
        (r() < 0.4 ? '*.' : '') + labels(1 + Math.floor(r() * 3), LABELS).join('.'));
      const parsed = m.parsePolicy(policyText(patterns.map(flipCase)));
      const core = [...parsed.mx]; // a plain array: matched by the core's MxMatcher
      const hosts = [];
      for (let k = 0; k < 24; k++) {
        let host;
        if (k % 2 === 0) {
          // Near a pattern: its wildcard filled with one label (or none, or two), its case
          // flipped, a trailing dot or two.
          const p = pick(parsed.mx);
          const one = r() < 0.8 ? pick(LABELS) : pick(ODD);
          host = p.startsWith('*.') ? `${r() < 0.2 ? `${one}.${pick(LABELS)}` : r() < 0.1 ? '' : one}${p.slice(1)}` : p;
          if (host.startsWith('.')) host = host.slice(1);
          if (r() < 0.3) host = flipCase(host);
        } else {
          host = labels(1 + Math.floor(r() * 4), r() < 0.7 ? LABELS : [...LABELS, ...ODD]).join('.');
        }
        const dots = r();
        hosts.push(dots < 0.15 ? `${host}.` : dots < 0.2 ? `${host}..` : host);
      }
      const want = hosts.map((h) => m.matchMx(core, h));
      for (let k = 0; k < hosts.length; k++) {
        assert.equal(m.matchMx(parsed, hosts[k]), want[k], `${JSON.stringify(hosts[k])} vs ${JSON.stringify(parsed.mx)}`);
        agreed[want[k]]++;
        if (/^[a-z0-9_.-]*[^.]$/.test(hosts[k])) agreed.normal++;
      }
      assert.deepEqual(m.matchMxList(parsed, hosts), want, `matchMxList vs ${JSON.stringify(parsed.mx)}`);
    }
    // The test means something only if both verdicts, and hosts in normal form, are common.
    assert.ok(agreed.true > 1000 && agreed.false > 1000 && agreed.normal > 2000, JSON.stringify(agreed));
  });
}
