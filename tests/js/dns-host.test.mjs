// The Node DNS host against a tiny DNS server run by this test on 127.0.0.1 (hand-made packets):
// answers, the none/temporary classification, and the `lookup` function used by net/http.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import http from 'node:http';
import { createDnsHost } from '../../js/node/dns.js';
import { createHttpsHost } from '../../js/node/https.js';

const TYPE = { A: 1, MX: 15, TXT: 16, AAAA: 28 };
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 };

// The zone. `rcode` answers every type with that code; `drop` never answers.
const ZONE = {
  '_mta-sts.example.test': { TXT: [['v=STSv1; id=2024']] },
  '_mta-sts.split.test': { TXT: [['v=STSv1; ', 'id=split1'], ['other record']] },
  'example.test': { MX: [{ priority: 10, exchange: 'mx1.example.test' }, { priority: 20, exchange: 'mx2.example.test' }] },
  'mx1.example.test': { A: ['127.0.0.1'], AAAA: ['::1'] },
  'v4only.test': { A: ['127.0.0.2'] },
  'v6only.test': { AAAA: ['::1'] },
  'only-in-test-dns.test': { A: ['127.0.0.1'] },
  'nodata.test': { A: ['127.0.0.1'] },
  'servfail.test': { rcode: 'SERVFAIL' },
  'refused.test': { rcode: 'REFUSED' },
  'silent.test': { drop: true },
  'half-servfail.test': { A: [], AAAAfail: 'SERVFAIL' },
};

function encodeName(name) {
  const parts = name.split('.').filter(Boolean);
  const bufs = parts.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')]));
  return Buffer.concat([...bufs, Buffer.from([0])]);
}

function rr(type, rdata) {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0); // pointer to the question name
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(1, 4); // IN
  head.writeUInt32BE(60, 6);
  head.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, rdata]);
}

function rdataFor(type, value) {
  switch (type) {
    case TYPE.A:
      return Buffer.from(value.split('.').map(Number));
    case TYPE.AAAA: {
      const b = Buffer.alloc(16);
      const [h, t] = value.split('::');
      const hs = h ? h.split(':') : [];
      const ts = t !== undefined && t ? t.split(':') : [];
      const groups = [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
      groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
      return b;
    }
    case TYPE.MX: {
      const p = Buffer.alloc(2);
      p.writeUInt16BE(value.priority, 0);
      return Buffer.concat([p, encodeName(value.exchange)]);
    }
    case TYPE.TXT:
      return Buffer.concat(value.map((s) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)])));
    default:
      throw new Error('type');
  }
}

function startDnsServer() {
  const sock = dgram.createSocket('udp4');
  const queries = [];
  sock.on('message', (msg, rinfo) => {
    // Header (12 bytes), then the question: labels, type, class.
    let off = 12;
    const labels = [];
    while (msg[off] !== 0) {
      labels.push(msg.subarray(off + 1, off + 1 + msg[off]).toString('ascii'));
      off += msg[off] + 1;
    }
    off += 1;
    const qtype = msg.readUInt16BE(off);
    off += 4;
    const qname = labels.join('.').toLowerCase();
    queries.push({ name: qname, type: qtype });
    const zone = ZONE[qname];
    if (zone?.drop) return;
    let rcode = RCODE.NOERROR;
    const answers = [];
    if (!zone) rcode = RCODE.NXDOMAIN;
    else if (zone.rcode) rcode = RCODE[zone.rcode];
    else if (qtype === TYPE.AAAA && zone.AAAAfail) rcode = RCODE[zone.AAAAfail];
    else {
      const tname = Object.keys(TYPE).find((k) => TYPE[k] === qtype);
      for (const v of zone[tname] ?? []) answers.push(rr(qtype, rdataFor(qtype, v)));
    }
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0);
    const rd = msg.readUInt16BE(2) & 0x0100;
    const opcode = msg.readUInt16BE(2) & 0x7800;
    header.writeUInt16BE(0x8000 | opcode | 0x0400 | rd | 0x0080 | rcode, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    sock.send(Buffer.concat([header, msg.subarray(12, off), ...answers]), rinfo.port, rinfo.address);
  });
  return new Promise((resolve) => {
    sock.bind(0, '127.0.0.1', () => resolve({ sock, queries, server: `127.0.0.1:${sock.address().port}` }));
  });
}

let dnsServer;
let host;
before(async () => {
  dnsServer = await startDnsServer();
  host = createDnsHost({ servers: [dnsServer.server], timeout: 200, tries: 1 });
});
after(() => dnsServer.sock.close());

test('TXT: one record of two strings kept apart, several records returned', { timeout: 180_000 }, async () => {
  const r = await host.resolveTxt('_mta-sts.split.test');
  assert.equal(r.ok, true);
  assert.deepEqual(
    r.records.map((x) => x.join('|')).sort(),
    ['other record', 'v=STSv1; |id=split1'],
  );
  const one = await host.resolveTxt('_mta-sts.example.test');
  assert.deepEqual(one, { ok: true, records: [['v=STSv1; id=2024']] });
});

test('NXDOMAIN is none/ENOTFOUND', { timeout: 180_000 }, async () => {
  const r = await host.resolveTxt('_mta-sts.nowhere.test');
  assert.equal(r.ok, false);
  assert.equal(r.kind, 'none');
  assert.equal(r.detail, 'ENOTFOUND');
  assert.match(r.message, /nowhere\.test/);
});

test('NODATA (name exists, no record of the type) is none/ENODATA', { timeout: 180_000 }, async () => {
  const r = await host.resolveTxt('nodata.test');
  assert.deepEqual({ ok: r.ok, kind: r.kind, detail: r.detail }, { ok: false, kind: 'none', detail: 'ENODATA' });
});

test('SERVFAIL is temporary', { timeout: 180_000 }, async () => {
  const r = await host.resolveTxt('servfail.test');
  assert.deepEqual({ ok: r.ok, kind: r.kind, detail: r.detail }, { ok: false, kind: 'temporary', detail: 'ESERVFAIL' });
});

test('REFUSED is temporary', { timeout: 180_000 }, async () => {
  const r = await host.resolveTxt('refused.test');
  assert.deepEqual({ ok: r.ok, kind: r.kind, detail: r.detail }, { ok: false, kind: 'temporary', detail: 'EREFUSED' });
});

test('no answer at all is temporary (ETIMEOUT), not "no record"', { timeout: 180_000 }, async () => {
  const r = await host.resolveTxt('silent.test');
  assert.deepEqual({ ok: r.ok, kind: r.kind, detail: r.detail }, { ok: false, kind: 'temporary', detail: 'ETIMEOUT' });
});

test('an unreachable name server is temporary', { timeout: 180_000 }, async () => {
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  const dead = createDnsHost({ servers: [`127.0.0.1:${port}`], timeout: 200, tries: 1 });
  const r = await dead.resolveTxt('_mta-sts.example.test');
  assert.equal(r.ok, false);
  assert.equal(r.kind, 'temporary');
});

test('MX records', { timeout: 180_000 }, async () => {
  const r = await host.resolveMx('example.test');
  assert.equal(r.ok, true);
  assert.deepEqual(
    r.records.sort((a, b) => a.priority - b.priority),
    [{ exchange: 'mx1.example.test', priority: 10 }, { exchange: 'mx2.example.test', priority: 20 }],
  );
  const none = await host.resolveMx('nowhere.test');
  assert.equal(none.kind, 'none');
});

test('addresses: A and AAAA together; either alone is enough', { timeout: 180_000 }, async () => {
  const both = await host.resolveAddresses('mx1.example.test');
  assert.deepEqual(both, { ok: true, addresses: [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }] });
  assert.deepEqual(await host.resolveAddresses('v6only.test'), { ok: true, addresses: [{ address: '::1', family: 6 }] });
  assert.deepEqual(await host.resolveAddresses('v4only.test'), { ok: true, addresses: [{ address: '127.0.0.2', family: 4 }] });
});

test('addresses: none only when both are none; a temporary failure wins over none', { timeout: 180_000 }, async () => {
  const none = await host.resolveAddresses('nowhere.test');
  assert.equal(none.kind, 'none');
  const half = await host.resolveAddresses('half-servfail.test'); // A: NODATA, AAAA: SERVFAIL
  assert.equal(half.ok, false);
  assert.equal(half.kind, 'temporary');
  assert.equal(half.detail, 'ESERVFAIL');
});

function lookupP(name, options) {
  return new Promise((resolve) => {
    const cb = (err, a, f) => resolve({ err, a, f });
    if (options === undefined) host.lookup(name, cb);
    else host.lookup(name, options, cb);
  });
}

test('lookup: callback shapes of dns.lookup (all, family, numeric)', { timeout: 180_000 }, async () => {
  assert.deepEqual(await lookupP('mx1.example.test'), { err: null, a: '127.0.0.1', f: 4 });
  assert.deepEqual(await lookupP('mx1.example.test', { family: 6 }), { err: null, a: '::1', f: 6 });
  assert.deepEqual(await lookupP('mx1.example.test', 6), { err: null, a: '::1', f: 6 });
  assert.deepEqual(await lookupP('mx1.example.test', { all: true }), {
    err: null,
    a: [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }],
    f: undefined,
  });
  assert.deepEqual(await lookupP('mx1.example.test', { all: true, family: 4 }), {
    err: null,
    a: [{ address: '127.0.0.1', family: 4 }],
    f: undefined,
  });
  const before = dnsServer.queries.length;
  assert.deepEqual(await lookupP('127.0.0.9', {}), { err: null, a: '127.0.0.9', f: 4 });
  assert.deepEqual(await lookupP('::1', { all: true }), { err: null, a: [{ address: '::1', family: 6 }], f: undefined });
  assert.equal(dnsServer.queries.length, before, 'numeric addresses are not queried');
});

test('lookup: errors carry code, hostname and the none/temporary kind', { timeout: 180_000 }, async () => {
  const nx = await lookupP('nowhere.test', {});
  assert.equal(nx.err.code, 'ENOTFOUND');
  assert.equal(nx.err.hostname, 'nowhere.test');
  assert.equal(nx.err.dnsKind, 'none');
  const sf = await lookupP('servfail.test', { all: true });
  assert.equal(sf.err.code, 'ESERVFAIL');
  assert.equal(sf.err.dnsKind, 'temporary');
});

test('lookup drives net.connect and http.get through this resolver only', { timeout: 180_000 }, async () => {
  // A name that only this test's DNS server knows: the OS resolver could not find it.
  const server = http.createServer((req, res) => res.end(`hello ${req.headers.host}`));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  try {
    const before = dnsServer.queries.filter((q) => q.name === 'only-in-test-dns.test').length;
    const sock = net.connect({ host: 'only-in-test-dns.test', port, lookup: host.lookup });
    await new Promise((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    assert.equal(sock.remoteAddress, '127.0.0.1');
    sock.destroy();
    const body = await new Promise((resolve, reject) => {
      http
        .get({ host: 'only-in-test-dns.test', port, lookup: host.lookup, agent: false }, (res) => {
          let s = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (s += d));
          res.on('end', () => resolve(s));
        })
        .on('error', reject);
    });
    assert.equal(body, `hello only-in-test-dns.test:${port}`);
    const after = dnsServer.queries.filter((q) => q.name === 'only-in-test-dns.test').length;
    assert.ok(after > before, 'the test DNS server was asked');
  } finally {
    server.close();
  }
});

test('https host: a name the resolver cannot find is a dns failure', { timeout: 180_000 }, async () => {
  const https = createHttpsHost({ lookup: host.lookup, timeout: 5000 });
  const r = await https.get('https://mta-sts.nowhere.test/.well-known/mta-sts.txt');
  assert.equal(r.ok, false);
  assert.equal(r.kind, 'dns');
  assert.equal(r.detail, 'ENOTFOUND');
});
