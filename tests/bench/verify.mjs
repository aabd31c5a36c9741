// Benchmark (issue 4, item 5): RFC 8461 §4.2 chain verification and a whole verified connection.
// Prints figures; asserts nothing about time (the machine is shared).
//
//   node tests/bench/verify.mjs [--rounds 7] [--calls 200] [--connections 20] [--no-postfix]
//
// 1. Chain verification, µs per chain (root → intermediate → leaf, made with the openssl CLI for the
//    run): ECDSA P-256/SHA-256, ECDSA P-384/SHA-384, RSA-2048/SHA-256.
//      mtasts ring         verifyCertificate(chain, host, { roots, now, ring: true }): signatures by ring in wasm
//      mtasts host crypto  verifyCertificate(chain, host, { roots, now }): signatures by node:crypto (the Node default)
//      node X509           Node's own pieces, no path building: new X509Certificate for leaf and
//                          intermediate, leaf.verify(int.publicKey), int.verify(root.publicKey),
//                          checkHost and the validity dates (the root pre-parsed, as our TrustStore is)
//      node X509 pre-parsed  the same checks on X509Certificate objects made once: the two native
//                          signature checks and little else, a lower bound for any verifier
//      TLS handshake       for context, ms per handshake with a local tls.Server serving the chain,
//                          rejectUnauthorized true / false (their difference is below the noise here)
//    Target (issue 4): host crypto within 1.5× of Node's own verification.
// 2. One verified connection to a real Postfix MX on loopback (js/lab/postfix.js), ms per connection:
//      connectMx           policy from a warm store, MX and A/AAAA from the lab DNS, TCP, banner,
//                          EHLO, STARTTLS, Node TLS, core verification (host crypto)
//      plain tls.connect   net.connect to the same port, banner, EHLO, STARTTLS by hand, then
//                          tls.connect({ socket, servername, ca, rejectUnauthorized: true })
//      plain, no verify    the same with rejectUnauthorized: false
//    Skipped (with a message) when Postfix is not installed or we are not root.
// Cases run interleaved in rounds (a noisy neighbour slows all alike); medians are printed.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { median, sink, table, formatNumber, numberOption } from './measure.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PKG = path.join(ROOT, 'pkg');
const args = process.argv.slice(2);
const option = (name, fallback) => numberOption(name, fallback, args);
const ROUNDS = option('rounds', 7);
const CALLS = option('calls', 200);
const CONNECTIONS = option('connections', 20);
const HOST = 'mx1.bench.test';

const { verifyCertificate, connectMx, createPolicyResolver, memoryStore } = await import(pathToFileURL(path.join(PKG, 'js/node/index.js')));

// ---------- test chains (openssl CLI) ----------

const KINDS = {
  'ECDSA P-256': { key: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], digest: '-sha256' },
  'ECDSA P-384': { key: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'], digest: '-sha384' },
  'RSA-2048': { key: ['-newkey', 'rsa:2048'], digest: '-sha256' },
};

function makeChain(dir, label, { key, digest }) {
  const f = (name) => path.join(dir, `${label.replace(/\W/g, '')}-${name}`);
  const openssl = (...a) => execFileSync('openssl', a, { stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', ...key, digest, '-nodes', '-keyout', f('root.key'), '-out', f('root.pem'), '-days', '30',
    '-subj', `/CN=bench root ${label}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const issue = (name, issuer, subject, ext) => {
    openssl('req', '-new', ...key, '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', subject);
    writeFileSync(f(`${name}.ext`), ext);
    openssl('x509', '-req', digest, '-in', f(`${name}.csr`), '-CA', f(`${issuer}.pem`), '-CAkey', f(`${issuer}.key`),
      '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '30', '-extfile', f(`${name}.ext`));
  };
  issue('int', 'root', `/CN=bench intermediate ${label}`, 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n');
  issue('leaf', 'int', `/CN=${HOST}`, `subjectAltName=DNS:${HOST}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature${label.startsWith('RSA') ? ',keyEncipherment' : ''}\n`);
  const pem = (name) => readFileSync(f(`${name}.pem`), 'utf8');
  const der = (p) => new Uint8Array(new X509Certificate(p).raw);
  return {
    label,
    rootPem: pem('root'),
    chainPem: pem('leaf') + pem('int'),
    keyPem: readFileSync(f('leaf.key'), 'utf8'),
    chain: [der(pem('leaf')), der(pem('int'))],
    rootX509: new X509Certificate(pem('root')),
  };
}

// ---------- timing ----------

/** µs per call of each case, interleaved rounds, median. cases: [{ name, run() }] */
function usPerCall(cases) {
  const samples = new Map(cases.map((c) => [c.name, []]));
  for (let round = 0; round < ROUNDS + 1; round++) {
    const order = round % 2 ? [...cases].reverse() : cases;
    for (const c of order) {
      const start = performance.now();
      for (let i = 0; i < CALLS; i++) sink.keep(c.run());
      const us = ((performance.now() - start) * 1000) / CALLS;
      if (round > 0) samples.get(c.name).push(us); // round 0 warms up
    }
  }
  return new Map([...samples].map(([k, v]) => [k, median(v)]));
}

/** ms per run of each async case, interleaved rounds of `n` sequential runs, median of the runs. */
async function msPerRun(cases, n) {
  const samples = new Map(cases.map((c) => [c.name, []]));
  for (let round = 0; round < ROUNDS + 1; round++) {
    const order = round % 2 ? [...cases].reverse() : cases;
    for (const c of order) {
      for (let i = 0; i < n; i++) {
        const start = performance.now();
        await c.run();
        if (round > 0) samples.get(c.name).push(performance.now() - start);
      }
    }
  }
  return new Map([...samples].map(([k, v]) => [k, median(v)]));
}

// ---------- 1. chain verification ----------

function nodeX509Verify(c, now, parsed = null) {
  const leaf = parsed?.leaf ?? new X509Certificate(c.chain[0]);
  const int = parsed?.int ?? new X509Certificate(c.chain[1]);
  return (
    leaf.checkIssued(int) &&
    leaf.verify(int.publicKey) &&
    int.checkIssued(c.rootX509) &&
    int.verify(c.rootX509.publicKey) &&
    leaf.checkHost(HOST) === HOST &&
    Date.parse(leaf.validFrom) <= now &&
    now <= Date.parse(leaf.validTo) &&
    now <= Date.parse(int.validTo)
  );
}

async function tlsServer(c) {
  const server = tls.createServer({ key: c.keyPem, cert: c.chainPem }, (s) => s.on('error', () => {}).end());
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

function handshake(port, c, verify) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: HOST, ca: c.rootPem, rejectUnauthorized: verify, minVersion: 'TLSv1.2' });
    s.once('secureConnect', () => (s.destroy(), resolve()));
    s.once('error', reject);
  });
}

async function chainBenchmark(dir) {
  const rows = [['chain', 'ring µs', 'host crypto µs', 'node X509 µs', 'X509 pre-parsed µs', 'host/X509', 'host/pre-parsed', 'ring/host', 'TLS handshake ms']];
  for (const [label, kind] of Object.entries(KINDS)) {
    const c = makeChain(dir, label, kind);
    const now = new Date();
    const roots = [c.rootPem];
    for (const ring of [true, false]) {
      const r = verifyCertificate(c.chain, HOST, { roots, now, ring });
      if (!r.ok) throw new Error(`${label} (ring: ${ring}): the bench chain does not verify: ${r.code} ${r.message}`);
    }
    if (!nodeX509Verify(c, now.getTime())) throw new Error(`${label}: Node's X509 checks fail on the bench chain`);
    const parsed = { leaf: new X509Certificate(c.chain[0]), int: new X509Certificate(c.chain[1]) };
    const t = usPerCall([
      { name: 'ring', run: () => verifyCertificate(c.chain, HOST, { roots, now, ring: true }).ok },
      { name: 'host', run: () => verifyCertificate(c.chain, HOST, { roots, now }).ok },
      { name: 'x509', run: () => nodeX509Verify(c, now.getTime()) },
      { name: 'x509-parsed', run: () => nodeX509Verify(c, now.getTime(), parsed) },
    ]);
    const server = await tlsServer(c);
    const port = server.address().port;
    const hs = await msPerRun(
      [
        { name: 'verify', run: () => handshake(port, c, true) },
        { name: 'noverify', run: () => handshake(port, c, false) },
      ],
      Math.max(10, CALLS / 10),
    );
    await new Promise((r) => server.close(r));
    rows.push([
      label,
      formatNumber(t.get('ring'), 0),
      formatNumber(t.get('host'), 0),
      formatNumber(t.get('x509'), 0),
      formatNumber(t.get('x509-parsed'), 0),
      `${formatNumber(t.get('host') / t.get('x509'), 2)}x`,
      `${formatNumber(t.get('host') / t.get('x509-parsed'), 2)}x`,
      `${formatNumber(t.get('ring') / t.get('host'), 1)}x`,
      `${formatNumber(hs.get('verify'), 2)} / ${formatNumber(hs.get('noverify'), 2)}`,
    ]);
  }
  console.log(`chain verification (root → intermediate → leaf), median of ${ROUNDS} rounds of ${CALLS} calls`);
  console.log(table(rows));
  console.log('TLS handshake = median ms with rejectUnauthorized true / false (the verification is inside the noise).');
}

// ---------- 2. a verified connection to Postfix ----------

/** Reads SMTP replies from a plain socket: resolves the lines of the next complete reply. */
function replyReader(socket) {
  let buffer = '';
  let lines = [];
  let waiter = null;
  const ready = [];
  socket.on('data', (chunk) => {
    buffer += chunk.toString('latin1');
    let end;
    while ((end = buffer.indexOf('\r\n')) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      lines.push(line);
      if (/^\d{3}( |$)/.test(line)) {
        ready.push(lines);
        lines = [];
      }
    }
    if (waiter && ready.length) {
      const w = waiter;
      waiter = null;
      w(ready.shift());
    }
  });
  return () => new Promise((resolve) => (ready.length ? resolve(ready.shift()) : (waiter = resolve)));
}

/** STARTTLS by hand, then Node's own TLS and verification. */
async function plainStartTls(port, ca, verify) {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  const next = replyReader(socket);
  await next(); // 220 greeting
  socket.write('EHLO bench.test\r\n');
  const ehlo = await next();
  if (!ehlo.some((l) => /STARTTLS/i.test(l))) throw new Error('Postfix offers no STARTTLS');
  socket.write('STARTTLS\r\n');
  const go = await next();
  if (!go.at(-1).startsWith('220')) throw new Error(`STARTTLS refused: ${go.join(' ')}`);
  socket.removeAllListeners('data');
  await new Promise((resolve, reject) => {
    const s = tls.connect({ socket, servername: 'mx1.enforce-valid.test', ca, rejectUnauthorized: verify, minVersion: 'TLSv1.2' });
    s.once('secureConnect', () => (s.destroy(), resolve()));
    s.once('error', reject);
  });
  socket.destroy();
}

async function connectionBenchmark() {
  const { startLab, startPostfixMx, postfixAvailable } = await import(pathToFileURL(path.join(PKG, 'js/lab/index.js')));
  if (args.includes('--no-postfix')) return console.log('\nverified connection to Postfix: skipped (--no-postfix)');
  if (!postfixAvailable() || process.getuid?.() !== 0) {
    return console.log('\nverified connection to Postfix: skipped (needs postfix installed and root)');
  }
  const lab = await startLab();
  const mx = await startPostfixMx({ lab, domains: ['enforce-valid.test'], listeners: { valid: 0 } });
  try {
    const domain = 'enforce-valid.test';
    const options = {
      heloName: 'bench.test',
      dnsServers: [lab.dns.server],
      ca: lab.caPem,
      policyPort: lab.policyPort,
      smtpPort: mx.ports.valid,
      allowPrivate: true, // the lab MX is on loopback
    };
    // One resolver with one store: the policy is fetched once, as a relay would keep it.
    const resolver = createPolicyResolver({ ...options, store: memoryStore() });
    const viaConnectMx = async () => {
      const c = await connectMx(domain, { ...options, resolver });
      if (c.verdict !== 'deliver' || !c.tls.certificate.ok) throw new Error(`connectMx: ${c.verdict}`);
      c.socket.destroy();
    };
    await viaConnectMx(); // warms the policy cache
    const t = await msPerRun(
      [
        { name: 'connectMx', run: viaConnectMx },
        { name: 'plain', run: () => plainStartTls(mx.ports.valid, lab.caPem, true) },
        { name: 'plain-noverify', run: () => plainStartTls(mx.ports.valid, lab.caPem, false) },
      ],
      CONNECTIONS,
    );
    const ratio = (a, b) => `${formatNumber(t.get(a) / t.get(b), 2)}x`;
    console.log(`\nverified connection to a real Postfix MX (lab cert: ECDSA P-256 leaf ← lab CA), median of ${ROUNDS} rounds of ${CONNECTIONS} connections`);
    console.log(
      table([
        ['connection', 'ms', 'vs plain'],
        ['connectMx (DNS MX+A/AAAA, STARTTLS, core verification)', formatNumber(t.get('connectMx'), 2), ratio('connectMx', 'plain')],
        ['plain tls.connect, STARTTLS by hand, Node verification', formatNumber(t.get('plain'), 2), '1.00x'],
        ['plain tls.connect, no verification', formatNumber(t.get('plain-noverify'), 2), ratio('plain-noverify', 'plain')],
      ]),
    );
  } finally {
    await mx.stop();
    await lab.stop();
  }
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'mtasts-bench-pki-'));
try {
  console.log(`node ${process.version}, OpenSSL ${process.versions.openssl}, ${os.cpus().length} cpu(s): ${os.cpus()[0]?.model ?? ''}`);
  await chainBenchmark(dir);
  await connectionBenchmark();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
