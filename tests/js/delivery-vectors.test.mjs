// The shared delivery vectors (tests/vectors/delivery.json) through the built package: the core's
// Delivery machine driven by the same scripted world as tests/delivery.rs (native), with the same
// expectations, through the Node entry (host crypto) and the browser entry (ring).
// Run: scripts/build && node --test tests/js/delivery-vectors.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, ROOT, assertBuilt } from './built-package.mjs';

assertBuilt();
const load = (p) => import(pathToFileURL(join(PKG, p)));
const node = await load('js/node/index.js');
const core = await load('js/core.js');
const { trustStoreFor } = await load('js/certificate.js');
const { hasSignatureHost } = await load('js/host-crypto.js');

/** 2028-01-01T00:00:00Z, when the tests/pki certificates are valid. */
const START_MS = Date.parse('2028-01-01T00:00:00Z');
const der = (name) => new Uint8Array(readFileSync(join(ROOT, 'tests/pki', `${name}.der`)));
const cases = JSON.parse(readFileSync(join(ROOT, 'tests/vectors/delivery.json'), 'utf8'));
const store = trustStoreFor([der('ca-rsa'), der('ca-ec')]);
const text = (server, key, fallback) => (typeof server?.[key] === 'string' ? server[key] : fallback);

function run(c, hostCrypto) {
  const policy = c.policy
    ? node.parsePolicy(`version: STSv1\nmode: ${c.policy.mode}\n${c.policy.mx.map((m) => `mx: ${m}\n`).join('')}max_age: 86400\n`)
    : null;
  const l = c.limits ?? {};
  const d = new core.Delivery('example.test', policy, policy ? 'vector1' : null, 'relay.example.org', 25, false, undefined, undefined, l.deadlineMs, undefined, l.replyMs, undefined);
  let now = START_MS;
  let dialled = 0;
  let server = null;
  let pending = [];
  const utf8 = new TextDecoder();
  try {
    for (let i = 0; i < 10_000; i++) {
      const step = d.poll(now);
      switch (step.step) {
        case 'resolve-mx':
          if (Array.isArray(c.mx)) d.onMx(c.mx.map((r) => r[0]), c.mx.map((r) => r[1]));
          else d.onMxFailed(c.mx, 'ETIMEOUT');
          break;
        case 'resolve-addresses': {
          const a = c.hosts[step.host];
          if (Array.isArray(a)) d.onAddresses(a);
          else d.onAddressesFailed(a ?? 'nxdomain', a === 'nodata' ? 'ENODATA' : 'ETIMEOUT');
          break;
        }
        case 'connect':
          dialled += 1;
          server = c.servers[step.address] ?? 'refuse';
          pending = [];
          if (typeof server === 'object') {
            pending.push(text(server, 'greeting', '220 mx ESMTP\r\n'));
            d.onConnected(null);
          } else if (server === 'silent') d.onConnected(null);
          else {
            now += 1;
            d.onConnectFailed('ECONNREFUSED');
          }
          break;
        case 'send': {
          assert.ok(step.data instanceof Uint8Array, 'bytes cross as bytes');
          const line = utf8.decode(step.data);
          if (typeof server === 'object' && server !== null) {
            if (line.startsWith('EHLO ')) pending.push(text(server, 'ehlo', '250-mx\r\n250 STARTTLS\r\n'));
            else if (line === 'STARTTLS\r\n') pending.push(text(server, 'starttls', '220 go\r\n'));
            else if (line.startsWith('HELO ')) pending.push('250 mx\r\n');
          }
          break;
        }
        case 'read':
          if (pending.length === 0) {
            now += step.timeoutMs;
            d.onTimeout();
          } else {
            now += 5;
            d.onData(new TextEncoder().encode(pending.shift()));
          }
          break;
        case 'starttls':
          now += 10;
          if (server.tls === 'fails') d.onTlsFailed('alert handshake failure');
          else d.onTls((server.tls?.chain ?? ['mx-rsa']).map(der), store, hostCrypto, 'TLSv1.3', null);
          break;
        case 'close':
          server = null;
          break;
        case 'ready':
          return { got: `ready ${step.ready.mx.host} ${step.ready.verdict} ${step.ready.trace.result}`, attempts: d.attempts().map((a) => a.result), dialled };
        case 'done':
          return { got: `done ${step.failure.error.code} ${step.failure.reply.code} ${step.failure.reply.enhanced}`, attempts: d.attempts().map((a) => a.result), dialled };
        default:
          throw new Error(`unknown step ${step.step}`);
      }
    }
    throw new Error('the delivery did not finish');
  } finally {
    d.free();
  }
}

for (const [how, hostCrypto] of [['host crypto', true], ['ring', false]]) {
  test(`delivery vectors (${how}): the same verdicts as the native core`, { timeout: 60_000 }, () => {
    assert.ok(cases.length >= 15);
    if (hostCrypto) assert.ok(hasSignatureHost(), 'the Node entry registers its crypto');
    for (const c of cases) {
      const e = c.expect;
      const want = e.ready ? `ready ${e.ready.mx} ${e.ready.verdict} ${e.ready.trace}` : `done ${e.done.code} ${e.done.reply[0]} ${e.done.reply[1]}`;
      const { got, attempts, dialled } = run(c, hostCrypto);
      assert.equal(got, want, c.name);
      assert.deepEqual(attempts, e.attempts, c.name);
      if (e.dialled !== undefined) assert.equal(dialled, e.dialled, c.name);
    }
  });
}

test('errorCodes() lists every code the vectors produce, each with its TLS-RPT type and RFC', { timeout: 60_000 }, () => {
  const list = node.errorCodes();
  const byCode = new Map(list.map((c) => [c.code, c]));
  assert.equal(byCode.size, list.length, 'one entry per code');
  for (const c of cases) {
    const codes = [...(c.expect.done ? [c.expect.done.code] : []), ...c.expect.attempts.filter((r) => r !== 'success' && r !== 'plaintext-fallback')];
    for (const code of codes) {
      assert.ok(byCode.has(code), `${c.name}: ${code} is in errorCodes()`);
      assert.match(byCode.get(code).rfc, /^RFC \d+/, code);
      assert.ok(byCode.get(code).tlsrpt, code);
    }
  }
  assert.equal(byCode.get('domain-not-found').temporary, false);
  assert.equal(byCode.get('delivery-failed').temporary, null, 'depends on the attempts');
});
