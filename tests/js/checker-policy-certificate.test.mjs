// The policy host's certificate (issue 10, item 1): the Node HTTPS host hands back the peer chain
// (DER, leaf first) with Node's verdict on it, also when that verdict is "untrusted"; an untrusted
// host gets no request (the fetch ends at the handshake, as rejectUnauthorized would end it);
// `check --json` (and so the page, which deep-equals it in checker-page.test.mjs) shows the
// certificate's names, issuer, expiry and verdict for mta-sts.<domain>; the policy helper passes
// the chain as base64 and never resolves the policy host a second time.
// Run: scripts/build && node --test tests/js/checker-policy-certificate.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, assertBuilt } from './built-package.mjs';

assertBuilt();
const { startLab } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));
const { memoryStore } = await import(pathToFileURL(join(PKG, 'js/node/index.js')));
const { createHttpsHost } = await import(pathToFileURL(join(PKG, 'js/node/https.js')));
const { createNodeHosts } = await import(pathToFileURL(join(PKG, 'js/node/resolve.js')));
const { checkDomain } = await import(pathToFileURL(join(PKG, 'js/cli/check-domain.js')));
const { createPolicyHelper } = await import(pathToFileURL(join(PKG, 'js/serve/policy-helper.js')));
const { createHelperHttps } = await import(pathToFileURL(join(PKG, 'js/check/helper-hosts.js')));

let lab;
before(async () => {
  lab = await startLab();
});
after(async () => {
  await lab?.stop();
});

const hostOptions = () => ({ dnsServers: [lab.dns.server], dnsTimeout: 2000, ca: lab.caPem, policyPort: lab.policyPort, timeout: 5000 });
const check = (domain) => checkDomain(domain, { ...createNodeHosts(hostOptions()), store: memoryStore(), probe: false });

/** An HTTPS server on loopback with `cert` that counts the requests it gets. */
async function countingServer(cert) {
  const server = https.createServer({ key: cert.keyPem, cert: cert.chainPem }, (req, res) => {
    server.requests += 1;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('version: STSv1\nmode: enforce\nmx: mx1.example.test\nmax_age: 86400\n');
  });
  server.requests = 0;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

describe('the policy host certificate', () => {
  test('check --json: a valid certificate shows its names, issuer and expiry, verdict ok', { timeout: 60_000 }, async () => {
    const report = await check('enforce-valid.test');
    const c = report.policy.certificate;
    assert.equal(c.ok, true);
    assert.equal(c.code, null);
    assert.deepEqual(c.subjectAltNames, ['mta-sts.enforce-valid.test']);
    // The issuer as read from the DER equals node:crypto's view of the lab CA's subject.
    assert.equal(c.issuer, new X509Certificate(lab.caPem).subject.split('\n').join(', '));
    assert.match(c.notAfter, /^\d{4}-\d\d-\d\dT/);
    assert.ok(c.daysLeft > 0);
  });

  test('an untrusted CA and a certificate for another name: the chain is still shown, with the reason', { timeout: 60_000 }, async () => {
    const untrusted = await check('policy-untrusted-cert.test');
    assert.equal(untrusted.policy.fetch.answered, false);
    assert.equal(untrusted.policy.fetch.kind, 'certificate');
    assert.equal(untrusted.policy.certificate.ok, false);
    assert.equal(untrusted.policy.certificate.code, untrusted.policy.fetch.detail);
    assert.deepEqual(untrusted.policy.certificate.subjectAltNames, ['mta-sts.policy-untrusted-cert.test']);
    assert.ok(untrusted.errors.some((e) => e.code === 'policy-webpki-invalid'));

    const wrongName = await check('policy-wrong-name-cert.test');
    const c = wrongName.policy.certificate;
    assert.equal(c.ok, false);
    assert.equal(c.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    assert.match(c.message, /mta-sts\.policy-wrong-name-cert\.test/);
    assert.deepEqual(c.subjectAltNames, ['www.policy-wrong-name-cert.test']);
    assert.ok(wrongName.errors.some((e) => e.code === 'policy-webpki-invalid'));
  });

  test('no handshake (no policy host): no certificate', { timeout: 60_000 }, async () => {
    const report = await check('policy-host-missing.test');
    assert.equal(report.policy.certificate, null);
  });

  test('an untrusted or misnamed policy host receives no request; a trusted one does', { timeout: 60_000 }, async () => {
    const cases = [
      ['untrusted CA', lab.issueCert({ names: ['mta-sts.x.test'], ca: 'untrusted' }), 'certificate', 0],
      ['self-signed', lab.issueCert({ names: ['mta-sts.x.test'], ca: 'self' }), 'certificate', 0],
      ['another name', lab.issueCert({ names: ['www.x.test'] }), 'certificate', 0],
      ['expired', lab.issueCert({ names: ['mta-sts.x.test'], notBefore: new Date(Date.now() - 20 * 86400e3), notAfter: new Date(Date.now() - 86400e3) }), 'certificate', 0],
      ['valid', lab.issueCert({ names: ['mta-sts.x.test'] }), null, 1],
    ];
    for (const [name, cert, kind, requests] of cases) {
      const server = await countingServer(cert);
      try {
        const lookup = (host, options, callback) => {
          if (typeof options === 'function') return options(null, '127.0.0.1', 4);
          return options?.all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4);
        };
        const host = createHttpsHost({ ca: lab.caPem, policyPort: server.address().port, timeout: 5000, lookup });
        const r = await host.get('https://mta-sts.x.test/.well-known/mta-sts.txt');
        if (kind) {
          assert.equal(r.ok, false, name);
          assert.equal(r.kind, kind, name);
          assert.equal(r.certificate.trusted, false, name);
        } else {
          assert.equal(r.ok, true, name);
          assert.equal(r.status, 200, name);
          assert.equal(r.certificate.trusted, true, name);
        }
        assert.ok(r.certificate.chain.length >= 1, `${name}: the chain is returned`);
        assert.equal(Buffer.from(r.certificate.chain[0]).toString('base64'), new X509Certificate(cert.chainPem).raw.toString('base64'), `${name}: leaf first`);
        if (name === 'expired') assert.match(r.message, /certificate has expired/);
        assert.equal(server.requests, requests, `${name}: requests the policy host received`);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    }
  });

  test('the policy helper: the chain as base64, decoded by the page host; no second resolution', { timeout: 60_000 }, async () => {
    const { dns } = createNodeHosts(hostOptions());
    const helper = createPolicyHelper({ dns, httpsOptions: { ca: lab.caPem, policyPort: lab.policyPort, timeout: 5000 }, allowPrivate: true });
    const answer = await helper('policy-wrong-name-cert.test');
    assert.equal(answer.ok, false);
    assert.equal(answer.localAddress, undefined, 'the server does not tell its own address');
    assert.equal(typeof answer.certificate.chain[0], 'string');
    const page = createHelperHttps({ base: '', fetch: async () => new Response(JSON.stringify(answer), { headers: { 'content-type': 'application/json' } }) });
    const seen = await page.get('https://mta-sts.policy-wrong-name-cert.test/.well-known/mta-sts.txt');
    assert.ok(seen.certificate.chain[0] instanceof Uint8Array);
    assert.equal(seen.certificate.trusted, false);
    // A chain that is not base64 is no chain (the page shows no certificate), not a crash.
    const hostile = createHelperHttps({ base: '', fetch: async () => new Response(JSON.stringify({ ...answer, certificate: { trusted: true, chain: ['%%%', 7] } })) });
    assert.deepEqual((await hostile.get('https://mta-sts.x.test/.well-known/mta-sts.txt')).certificate.chain, []);

    // A resolution that failed is failed again, never asked a second time (which could point
    // the fetch at an address that was not checked).
    let lookups = 0;
    const flaky = { ...dns, resolveAddresses: async () => ({ ok: false, kind: 'temporary', detail: 'ETIMEOUT', message: 'timed out' }), lookup: (...args) => (lookups++, dns.lookup(...args)) };
    const refused = await createPolicyHelper({ dns: flaky, httpsOptions: { ca: lab.caPem, policyPort: lab.policyPort, timeout: 5000 }, allowPrivate: true })('enforce-valid.test');
    assert.equal(refused.ok, false);
    assert.equal(refused.kind, 'dns');
    assert.equal(refused.detail, 'ETIMEOUT');
    assert.equal(lookups, 0);
  });
});
