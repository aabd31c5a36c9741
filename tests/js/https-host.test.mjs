// The Node HTTPS host against local HTTPS servers with a test PKI made by the openssl CLI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { createHttpsHost, policyTrustAnchors, classifyFetchError } from '../../js/node/https.js';

const HOST = 'mta-sts.example.test';
const URL_ = `https://${HOST}/.well-known/mta-sts.txt`;
const POLICY = 'version: STSv1\nmode: enforce\nmx: mx1.example.test\nmax_age: 86400\n';

let dir;
const pki = {};

function openssl(...args) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(name) {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '3650', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
}

function makeLeaf(name, dnsName, ca, days = '365') {
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${dnsName}`);
  writeFileSync(join(dir, `${name}.ext`),
    `subjectAltName=DNS:${dnsName}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-set_serial',
    String(Math.floor(Math.random() * 1e9)), '-out', `${name}.crt`, '-days', days, '-extfile', `${name}.ext`);
}

function makeSelfSigned(name, dnsName) {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '365', '-subj', `/CN=${dnsName}`,
    '-addext', `subjectAltName=DNS:${dnsName}`);
}

const read = (f) => readFileSync(join(dir, f), 'utf8');

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mtasts-https-'));
  makeCa('ca');
  makeCa('ca2');
  makeLeaf('good', HOST, 'ca');
  makeLeaf('wrongname', 'mta-sts.other.test', 'ca');
  makeLeaf('expired', HOST, 'ca', '-1'); // notAfter a day before notBefore: expired now
  makeLeaf('good2', HOST, 'ca2');
  makeSelfSigned('self', HOST);
  for (const n of ['ca', 'ca2', 'good', 'wrongname', 'expired', 'good2', 'self']) {
    pki[n] = { cert: read(`${n}.crt`), key: read(`${n}.key`) };
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

// Every name resolves to 127.0.0.1: this test is about HTTPS, not DNS (dns-host.test.mjs covers that).
function loopbackLookup(hostname, options, callback) {
  if (typeof options === 'function') [callback, options] = [options, {}];
  process.nextTick(() => (options?.all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4)));
}

async function startServer(certName, handler) {
  const server = https.createServer({ cert: pki[certName].cert, key: pki[certName].key }, handler);
  const seen = { connections: 0, requests: [] };
  server.on('secureConnection', () => seen.connections++);
  server.on('connection', () => (seen.tcp = (seen.tcp ?? 0) + 1));
  server.on('request', (req) => seen.requests.push({ url: req.url, headers: req.headers, servername: req.socket.servername }));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}

function hostFor(port, extra = {}) {
  return createHttpsHost({ lookup: loopbackLookup, ca: pki.ca.cert, policyPort: port, ...extra });
}

const servePolicy = (type, body) => (req, res) => {
  res.writeHead(200, { 'Content-Type': type });
  res.end(body);
};

test('200 text/plain: status, content type, body bytes; request sent as RFC 8461 §3.3 asks', { timeout: 180_000 }, async () => {
  const s = await startServer('good', servePolicy('text/plain', POLICY));
  try {
    const r = await hostFor(s.port).get(URL_);
    assert.equal(r.ok, true);
    assert.equal(r.status, 200);
    assert.equal(r.contentType, 'text/plain');
    assert.equal(r.location, null);
    assert.ok(r.body instanceof Uint8Array);
    assert.equal(new TextDecoder().decode(r.body), POLICY);
    const [req] = s.seen.requests;
    assert.equal(req.url, '/.well-known/mta-sts.txt');
    assert.equal(req.servername, HOST, 'SNI is the policy host');
    assert.match(req.headers['user-agent'], /^mtasts\/\d+\.\d+\.\d+/);
    assert.equal(req.headers['cache-control'], 'no-cache');
    assert.equal(req.headers.host, `${HOST}:${s.port}`);
  } finally {
    await s.close();
  }
});

test('content type is returned as sent', { timeout: 180_000 }, async () => {
  const s = await startServer('good', servePolicy('TEXT/HTML; charset=UTF-8', '<html>'));
  try {
    const r = await hostFor(s.port).get(URL_);
    assert.equal(r.ok, true);
    assert.equal(r.contentType, 'TEXT/HTML; charset=UTF-8');
  } finally {
    await s.close();
  }
});

test('404 is returned as data with an empty body, and the local address of the connection (RFC 8460 §4.4)', { timeout: 180_000 }, async () => {
  const s = await startServer('good', (req, res) => {
    res.writeHead(404, { 'Content-Type': 'text/html' });
    res.end('<h1>not found</h1>');
  });
  try {
    const r = await hostFor(s.port).get(URL_);
    const { certificate, ...rest } = r;
    assert.deepEqual({ ...rest, body: [...r.body] }, { ok: true, status: 404, contentType: 'text/html', location: null, body: [], localAddress: '127.0.0.1' });
    // The policy host's chain (DER, leaf first) and Node's verdict on it, for display.
    assert.equal(certificate.trusted, true);
    assert.ok(certificate.chain.length >= 1 && certificate.chain.every((c) => c instanceof Uint8Array && c[0] === 0x30));
  } finally {
    await s.close();
  }
});

test('301 is not followed: status and Location are returned, one request made', { timeout: 180_000 }, async () => {
  let target = 0;
  const t = await startServer('good', (req, res) => {
    target++;
    servePolicy('text/plain', POLICY)(req, res);
  });
  const s = await startServer('good', (req, res) => {
    res.writeHead(301, { Location: `https://${HOST}:${t.port}/.well-known/mta-sts.txt` });
    res.end();
  });
  try {
    const r = await hostFor(s.port).get(URL_);
    assert.equal(r.ok, true);
    assert.equal(r.status, 301);
    assert.equal(r.location, `https://${HOST}:${t.port}/.well-known/mta-sts.txt`);
    assert.equal(r.body.length, 0);
    assert.equal(s.seen.requests.length, 1);
    assert.equal(target, 0, 'the redirect target was never asked');
  } finally {
    await s.close();
    await t.close();
  }
});

function bigBodyServer(withLength) {
  const TOTAL = 10 * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const state = { sent: 0, finished: false };
  state.closed = new Promise((resolveClosed) => {
    state.handler = (req, res) => {
      res.writeHead(200, withLength ? { 'Content-Type': 'text/plain', 'Content-Length': TOTAL } : { 'Content-Type': 'text/plain' });
      res.on('finish', () => (state.finished = true));
      res.on('close', () => resolveClosed());
      const pump = () => {
        while (state.sent < TOTAL && !res.destroyed) {
          state.sent += chunk.length;
          if (!res.write(chunk)) return res.once('drain', pump);
        }
        if (state.sent >= TOTAL) res.end();
      };
      pump();
    };
  });
  return state;
}

test('a 10 MB streamed body is cut at maxBytes: too-large, the server sees the client leave', { timeout: 180_000 }, async () => {
  const big = bigBodyServer(false);
  const s = await startServer('good', (req, res) => big.handler(req, res));
  try {
    const r = await hostFor(s.port).get(URL_);
    assert.equal(r.ok, false);
    assert.equal(r.kind, 'too-large');
    assert.equal(r.detail, 'ERR_BODY_TOO_LARGE');
    await big.closed;
    assert.equal(big.finished, false, 'the server could not finish sending the 10 MB');
  } finally {
    await s.close();
  }
});

test('a declared Content-Length over maxBytes is refused before reading', { timeout: 180_000 }, async () => {
  const big = bigBodyServer(true);
  const s = await startServer('good', (req, res) => big.handler(req, res));
  try {
    const r = await hostFor(s.port).get(URL_);
    assert.equal(r.kind, 'too-large');
    await big.closed;
    assert.equal(big.finished, false);
  } finally {
    await s.close();
  }
});

test('a body of exactly maxBytes is accepted', { timeout: 180_000 }, async () => {
  const s = await startServer('good', servePolicy('text/plain', Buffer.alloc(1000, 'x')));
  try {
    const r = await hostFor(s.port, { maxBytes: 1000 }).get(URL_);
    assert.equal(r.ok, true);
    assert.equal(r.body.length, 1000);
    const over = await hostFor(s.port, { maxBytes: 999 }).get(URL_);
    assert.equal(over.kind, 'too-large');
  } finally {
    await s.close();
  }
});

test('a server trickling its body hits the overall timeout', { timeout: 180_000 }, async () => {
  let closed;
  const clientGone = new Promise((r) => (closed = r));
  const s = await startServer('good', (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    const t = setInterval(() => res.write('v'), 20);
    res.on('close', () => {
      clearInterval(t);
      closed();
    });
  });
  try {
    const r = await hostFor(s.port, { timeout: 300 }).get(URL_);
    assert.equal(r.ok, false);
    assert.equal(r.kind, 'timeout');
    await clientGone;
  } finally {
    await s.close();
  }
});

test('a server that never answers the request hits the overall timeout', { timeout: 180_000 }, async () => {
  const s = await startServer('good', () => {});
  try {
    const r = await hostFor(s.port, { timeout: 200 }).get(URL_);
    assert.equal(r.kind, 'timeout');
  } finally {
    await s.close();
  }
});

test('self-signed certificate is a certificate failure', { timeout: 180_000 }, async () => {
  const s = await startServer('self', servePolicy('text/plain', POLICY));
  try {
    const r = await hostFor(s.port).get(URL_);
    assert.equal(r.ok, false);
    assert.equal(r.kind, 'certificate');
    assert.equal(r.detail, 'DEPTH_ZERO_SELF_SIGNED_CERT');
    assert.equal(r.localAddress, '127.0.0.1', 'the failure carries the local address (RFC 8460 §4.4 sending-mta-ip)');
    assert.equal(s.seen.requests.length, 0, 'no request is sent over an unverified connection');
  } finally {
    await s.close();
  }
});

test('certificate for another name is a certificate failure', { timeout: 180_000 }, async () => {
  const s = await startServer('wrongname', servePolicy('text/plain', POLICY));
  try {
    const r = await hostFor(s.port).get(URL_);
    assert.equal(r.kind, 'certificate');
    assert.equal(r.detail, 'ERR_TLS_CERT_ALTNAME_INVALID');
    assert.equal(s.seen.requests.length, 0);
  } finally {
    await s.close();
  }
});

test('expired certificate is a certificate failure', { timeout: 180_000 }, async () => {
  const s = await startServer('expired', servePolicy('text/plain', POLICY));
  try {
    const r = await hostFor(s.port).get(URL_);
    assert.equal(r.kind, 'certificate');
    assert.equal(r.detail, 'CERT_HAS_EXPIRED');
  } finally {
    await s.close();
  }
});

test('without the extra ca the test CA is not trusted', { timeout: 180_000 }, async () => {
  const s = await startServer('good', servePolicy('text/plain', POLICY));
  try {
    const r = await createHttpsHost({ lookup: loopbackLookup, policyPort: s.port }).get(URL_);
    assert.equal(r.kind, 'certificate');
    assert.match(r.detail, /^UNABLE_TO_(GET_ISSUER_CERT_LOCALLY|VERIFY_LEAF_SIGNATURE)$/);
  } finally {
    await s.close();
  }
});

test('extra CAs are added to the system roots, not put in their place', { timeout: 180_000 }, () => {
  const anchors = policyTrustAnchors([pki.ca.cert, pki.ca2.cert]);
  for (const root of tls.rootCertificates) assert.ok(anchors.includes(root));
  assert.ok(anchors.includes(pki.ca.cert));
  assert.ok(anchors.includes(pki.ca2.cert));
  assert.equal(policyTrustAnchors(undefined), undefined, "no extra ca: Node's default store");
  const fromEnv = process.env.NODE_EXTRA_CA_CERTS ? 1 : 0; // the default store's file, kept too
  assert.equal(policyTrustAnchors(pki.ca.cert).length, tls.rootCertificates.length + fromEnv + 1);
});

test('extra ca keeps NODE_EXTRA_CA_CERTS (part of the default store) trusted too', { timeout: 180_000 }, async () => {
  // A child process whose default store holds ca2 (NODE_EXTRA_CA_CERTS) and which passes ca as the
  // extra ca: servers under both CAs must be trusted.
  const s1 = await startServer('good', servePolicy('text/plain', 'one'));
  const s2 = await startServer('good2', servePolicy('text/plain', 'two'));
  const script = `
    import { createHttpsHost } from ${JSON.stringify(new URL('../../js/node/https.js', import.meta.url).href)};
    const lookup = (h, o, cb) => { if (typeof o === 'function') cb = o, o = {};
      process.nextTick(() => o.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)); };
    const ca = ${JSON.stringify(pki.ca.cert)};
    const out = [];
    for (const port of [${s1.port}, ${s2.port}]) {
      const r = await createHttpsHost({ lookup, ca, policyPort: port }).get(${JSON.stringify(URL_)});
      out.push(r.ok ? new TextDecoder().decode(r.body) : r.kind + ':' + r.detail);
    }
    console.log(JSON.stringify(out));`;
  try {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'ca2.crt') },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const code = await new Promise((r) => child.on('close', r));
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(out), ['one', 'two']);
  } finally {
    await s1.close();
    await s2.close();
  }
});

test('policyPort is honoured; without it the fetch goes to port 443, not to the test server', { timeout: 180_000 }, async () => {
  const s = await startServer('good', servePolicy('text/plain', POLICY));
  try {
    const r = await createHttpsHost({ lookup: loopbackLookup, ca: pki.ca.cert, timeout: 2000 }).get(URL_);
    assert.equal(r.ok, false);
    assert.equal(s.seen.tcp ?? 0, 0);
    const ok = await hostFor(s.port).get(URL_);
    assert.equal(ok.ok, true);
    assert.equal(s.seen.tcp, 1);
  } finally {
    await s.close();
  }
});

test('connection refused is a connect failure', { timeout: 180_000 }, async () => {
  const probe = net.createServer();
  await new Promise((r) => probe.listen(0, '127.0.0.1', r));
  const port = probe.address().port;
  await new Promise((r) => probe.close(r));
  const r = await hostFor(port).get(URL_);
  assert.equal(r.ok, false);
  assert.equal(r.kind, 'connect');
  assert.equal(r.detail, 'ECONNREFUSED');
});

test('a server that does not speak TLS is a tls failure', { timeout: 180_000 }, async () => {
  const plain = http.createServer((req, res) => res.end('plain'));
  await new Promise((r) => plain.listen(0, '127.0.0.1', r));
  try {
    const r = await hostFor(plain.address().port).get(URL_);
    assert.equal(r.ok, false);
    assert.equal(r.kind, 'tls');
  } finally {
    plain.closeAllConnections();
    await new Promise((r) => plain.close(r));
  }
});

test('a TLS 1.1-only server is refused (TLS 1.2 minimum)', { timeout: 180_000 }, async () => {
  const server = tls.createServer({ cert: pki.good.cert, key: pki.good.key, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' });
  server.on('tlsClientError', () => {});
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    const r = await hostFor(server.address().port).get(URL_);
    assert.equal(r.ok, false);
    assert.equal(r.kind, 'tls');
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('a failing lookup is a dns failure; a non-https url is a protocol failure', { timeout: 180_000 }, async () => {
  const failing = (h, o, cb) => {
    const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${h}`), { code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: h });
    process.nextTick(() => (typeof o === 'function' ? o : cb)(err));
  };
  const r = await createHttpsHost({ lookup: failing }).get(URL_);
  assert.deepEqual({ kind: r.kind, detail: r.detail }, { kind: 'dns', detail: 'ENOTFOUND' });
  const p = await createHttpsHost({ lookup: failing }).get('http://mta-sts.example.test/.well-known/mta-sts.txt');
  assert.equal(p.kind, 'protocol');
});

test('classification table', { timeout: 180_000 }, () => {
  const cases = [
    [{ code: 'CERT_HAS_EXPIRED' }, 'certificate', 'expired'],
    [{ code: 'CERT_NOT_YET_VALID' }, 'certificate', 'not yet valid'],
    [{ code: 'SELF_SIGNED_CERT_IN_CHAIN' }, 'certificate', 'untrusted root in chain'],
    [{ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'certificate', 'missing intermediate'],
    [{ code: 'ERR_SSL_WRONG_VERSION_NUMBER' }, 'tls', 'not TLS'],
    [{ code: 'EPROTO' }, 'tls', 'protocol error in the handshake'],
    [{ code: 'ECONNRESET' }, 'connect', 'reset'],
    [{ code: 'EHOSTUNREACH' }, 'connect', 'unreachable'],
    [{ code: 'ETIMEOUT', syscall: 'queryA' }, 'dns', 'resolver timeout'],
    [{ code: 'ECONNREFUSED', syscall: 'queryA' }, 'dns', 'resolver unreachable, not the policy host'],
    [Object.assign(new AggregateError([{ code: 'ECONNREFUSED' }]), {}), 'connect', 'happy eyeballs aggregate'],
    [{ code: 'HPE_INVALID_CONSTANT' }, 'protocol', 'bad http'],
  ];
  for (const [err, kind, why] of cases) assert.equal(classifyFetchError(err), kind, why);
});

// A policy host scripted byte by byte: it writes `script(socket)`'s response on the TLS stream and
// then ends (or resets) the connection, whatever HTTP says.
async function startRawServer(script) {
  let tcp; // the TCP socket under the latest TLS one, for a reset
  const server = tls.createServer({ cert: pki.good.cert, key: pki.good.key }, (socket) => {
    socket.on('error', () => {});
    const raw = tcp;
    socket.once('data', () => script(socket, raw));
  });
  server.on('connection', (socket) => {
    socket.on('error', () => {});
    tcp = socket;
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, close: () => new Promise((r) => server.close(r)) };
}
const HEAD = (fields) => `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n${fields}\r\n`;

test('a body that ends before its Content-Length is truncated (with the byte counts), not a connect failure', { timeout: 180_000 }, async () => {
  const s = await startRawServer((socket) => socket.end(`${HEAD('Content-Length: 1000\r\n')}${'x'.repeat(400)}`));
  try {
    const r = await hostFor(s.port).get(URL_);
    assert.equal(r.ok, false);
    assert.equal(r.kind, 'truncated');
    assert.equal(r.detail, 'ERR_BODY_TRUNCATED');
    assert.equal(r.received, 400);
    assert.equal(r.expected, 1000);
    assert.match(r.message, /400 of 1000 bytes/);
  } finally {
    await s.close();
  }
});

test('a chunked body without its last chunk is truncated; the expected length is unknown', { timeout: 180_000 }, async () => {
  const s = await startRawServer((socket) => socket.end(`${HEAD('Transfer-Encoding: chunked\r\n')}5\r\nhello\r\n`));
  try {
    const r = await hostFor(s.port).get(URL_);
    assert.equal(r.kind, 'truncated');
    assert.equal(r.received, 5);
    assert.equal(r.expected, null);
  } finally {
    await s.close();
  }
});

test('a connection reset mid-body is truncated too', { timeout: 180_000 }, async () => {
  const s = await startRawServer((socket, raw) => {
    socket.write(`${HEAD('Content-Length: 1000\r\n')}${'x'.repeat(10)}`, () => setTimeout(() => raw.resetAndDestroy(), 50));
  });
  try {
    const r = await hostFor(s.port).get(URL_);
    assert.equal(r.kind, 'truncated');
    assert.equal(r.expected, 1000);
    assert.ok(r.received <= 10);
  } finally {
    await s.close();
  }
});

test('without Content-Length the end of the connection ends the body (RFC 9112 §6.3): a policy', { timeout: 180_000 }, async () => {
  const s = await startRawServer((socket) => socket.end(`${HEAD('')}${POLICY}`));
  try {
    const r = await hostFor(s.port).get(URL_);
    assert.equal(r.ok, true);
    assert.equal(new TextDecoder().decode(r.body), POLICY);
  } finally {
    await s.close();
  }
});

test('more than maxBytes without Content-Length, then the connection ends: too-large, with the limit', { timeout: 180_000 }, async () => {
  const s = await startRawServer((socket) => socket.end(`${HEAD('')}${'x'.repeat(70_000)}`));
  try {
    const r = await hostFor(s.port).get(URL_);
    assert.equal(r.kind, 'too-large');
    assert.match(r.message, /exceeds 65536 bytes/);
  } finally {
    await s.close();
  }
});
