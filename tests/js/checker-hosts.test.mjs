// The checker page's hosts without a browser (js/check/): the probe transcript of the server's
// helper replayed into the core gives probeMx's result field for field, and a transcript that does
// not fit (another step, cut short, an unknown answer, another host) is probe-transcript-mismatch;
// the DoH host reads hostile answers (truncated, looping pointers, overrunning strings, HTTP
// errors) as temporary failures, never as "no record"; the leaf's display fields read from DER
// equal node:crypto's.
// Run: scripts/build && node --test tests/js/checker-hosts.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, assertBuilt } from './built-package.mjs';
import { startScriptedMx } from './scripted-mx.mjs';

assertBuilt();
const { startLab } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));
await import(pathToFileURL(join(PKG, 'js/node/index.js')));
const { probeMx } = await import(pathToFileURL(join(PKG, 'js/node/probe-mx.js')));
const { createDnsHost } = await import(pathToFileURL(join(PKG, 'js/node/dns.js')));
const { createProbeHelper } = await import(pathToFileURL(join(PKG, 'js/serve/probe-helper.js')));
const { replayProbe } = await import(pathToFileURL(join(PKG, 'js/check/probe-replay.js')));
const { createDohDns, encodeQuery } = await import(pathToFileURL(join(PKG, 'js/check/doh-dns.js')));
const { leafForDisplay } = await import(pathToFileURL(join(PKG, 'js/check/x509-display.js')));

const HOST = 'mx1.enforce-valid.test';
const POLICY = { version: 'STSv1', mode: 'enforce', maxAge: 86400, mx: ['mx1.enforce-valid.test', 'mx2.enforce-valid.test'], extensions: {} };
let lab, mx, dns;

before(async () => {
  lab = await startLab();
  mx = await startScriptedMx({ cert: lab.certFor(HOST) });
  dns = createDnsHost({ servers: [lab.dns.server], timeout: 2000, tries: 1 });
});
after(async () => {
  await mx?.close();
  await lab?.stop();
});

const roots = () => Promise.resolve([lab.caPem]);

describe('probe transcript replay', () => {
  test('the replay equals probeMx for the same host, policy and MX (valid and mismatched names)', async () => {
    const helper = createProbeHelper({ dns, heloName: 'checker.test', port: mx.port, roots: [lab.caPem], allowPrivate: true });
    for (const host of [HOST, 'mx2.enforce-valid.test']) {
      const transcript = await helper('enforce-valid.test', host);
      const replayed = await replayProbe(host, transcript, { domain: 'enforce-valid.test', policy: POLICY, policyId: 'x', roots });
      const direct = await probeMx(host, { dns, heloName: 'checker.test', port: mx.port, roots: [lab.caPem], domain: 'enforce-valid.test', policy: POLICY, policyId: 'x', allowPrivate: true });
      assert.deepEqual(replayed, direct, host);
    }
  });

  test('a transcript that does not fit is probe-transcript-mismatch', async () => {
    const helper = createProbeHelper({ dns, heloName: 'checker.test', port: mx.port, roots: [lab.caPem], allowPrivate: true });
    const t = await helper('enforce-valid.test', HOST);
    const copy = () => structuredClone(t);
    const tampered = {
      'another host': { ...copy(), host: 'mx2.enforce-valid.test' },
      'cut short': { ...copy(), events: t.events.slice(0, 3) },
      'another step': { ...copy(), events: t.events.map((e, i) => (i === 1 ? { ...e, step: 'starttls' } : e)) },
      'other bytes sent': { ...copy(), events: t.events.map((e) => (e.step === 'send' ? { ...e, data: btoa('MAIL FROM:<x@y>\r\n') } : e)) },
      'unknown answer': { ...copy(), events: t.events.map((e, i) => (i === 0 ? { ...e, answer: { call: 'free', args: [] } } : e)) },
      'no events': { ...copy(), events: null },
    };
    for (const [why, transcript] of Object.entries(tampered)) {
      await assert.rejects(replayProbe(HOST, transcript, { domain: 'enforce-valid.test', policy: POLICY, roots }), { code: 'probe-transcript-mismatch' }, why);
    }
  });

  test('the leaf display fields from DER equal node:crypto', () => {
    const at = new Date();
    for (const names of [[HOST], ['a.example.test', '*.b.example.test', 'c.example.test']]) {
      const der = new Uint8Array(lab.issueCert({ names }).certDer);
      const x = new X509Certificate(der);
      const expected = Date.parse(x.validTo);
      assert.deepEqual(leafForDisplay(der, at), { subjectAltNames: names, notAfter: new Date(expected).toISOString(), daysLeft: Math.floor((expected - at.getTime()) / 86_400_000) });
    }
    assert.deepEqual(leafForDisplay(new Uint8Array([0x30, 0x82, 0xff]), at), { subjectAltNames: [], notAfter: null, daysLeft: null });
  });
});

describe('DoH host, hostile answers', () => {
  const answering = (bytes, status = 200) => createDohDns({ url: 'http://doh.invalid/dns-query', fetch: async () => new Response(bytes, { status }) });
  const header = (rcode, an) => [0, 0, 0x81, 0x80 | rcode, 0, 1, 0, an, 0, 0, 0, 0];
  const question = [...encodeQuery('x.test', 'TXT').slice(12)];

  test('truncated, looping and overrunning answers are temporary EBADRESP, never "no record"', async () => {
    const bad = {
      truncated: new Uint8Array([0, 0, 0x81]),
      'answer count with no answer': new Uint8Array([...header(0, 1), ...question]),
      'pointer loop': new Uint8Array([...header(0, 1), ...question, 0xc0, 29, 0, 16, 0, 1, 0, 0, 0, 0, 0, 2, 1, 65]),
      'TXT string overruns': new Uint8Array([...header(0, 1), ...question, 0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 0, 0, 2, 9, 65]),
    };
    for (const [why, bytes] of Object.entries(bad)) {
      const r = await answering(bytes).resolveTxt('x.test');
      assert.deepEqual([r.ok, r.kind, r.detail], [false, 'temporary', 'EBADRESP'], why);
    }
  });

  test('RCODEs and HTTP errors keep the Node host answer shapes', async () => {
    const nx = await answering(new Uint8Array([...header(3, 0), ...question])).resolveTxt('x.test');
    assert.deepEqual(nx, { ok: false, kind: 'none', detail: 'ENOTFOUND', message: 'no such record for x.test: ENOTFOUND' });
    const empty = await answering(new Uint8Array([...header(0, 0), ...question])).resolveMx('x.test');
    assert.deepEqual([empty.kind, empty.detail], ['none', 'ENODATA']);
    const servfail = await answering(new Uint8Array([...header(2, 0), ...question])).resolveTxt('x.test');
    assert.deepEqual([servfail.kind, servfail.detail], ['temporary', 'ESERVFAIL']);
    const http = await answering(new Uint8Array(0), 502).resolveTxt('x.test');
    assert.deepEqual([http.kind, http.detail], ['temporary', 'ESERVFAIL']);
    const unreachable = await createDohDns({ url: 'http://x', fetch: async () => Promise.reject(new TypeError('fetch failed')) }).resolveTxt('x.test');
    assert.deepEqual([unreachable.kind, unreachable.detail], ['temporary', 'ECONNREFUSED']);
  });
});
