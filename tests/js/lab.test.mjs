// The lab (js/lab/): its DNS answers for every scenario — from the embedded server, real dnsmasq and
// real unbound — its HTTPS policy responses and certificates, and that it stops without leaving
// anything behind. Run: node --test tests/js/lab.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import dgram from 'node:dgram';
import dns from 'node:dns';
import https from 'node:https';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { startLab, scenarios } from '../../js/lab/index.js';
import { findProgram } from '../../js/lab/peer-process.js';

const LAB_INDEX = fileURLToPath(new URL('../../js/lab/index.js', import.meta.url));
const ERROR_CODES = new Set([
  'dns-temporary', 'record-multiple', 'record-invalid', 'policy-fetch-error', 'policy-fetch-timeout',
  'policy-http-status', 'policy-redirect', 'policy-too-large', 'policy-content-type',
  'policy-webpki-invalid', 'policy-invalid',
]);
const REQUIRED = [
  'enforce-valid', 'testing-valid', 'none', 'no-record', 'record-but-404', 'multiple-records',
  'invalid-record', 'policy-redirect', 'policy-500', 'policy-wrong-content-type', 'policy-too-large',
  'policy-slow', 'policy-untrusted-cert', 'policy-wrong-name-cert', 'policy-invalid-syntax',
  'draft-json-policy', 'mx-not-in-policy', 'dns-timeout', 'id-rotated', 'split-record', 'draft-name', 'servfail',
];

/** A count of each kind of active resource, to compare before and after. */
function resources() {
  const counts = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

function resolverFor(server, timeout = 3000) {
  const r = new dns.promises.Resolver({ timeout, tries: 1 });
  r.setServers([server]);
  return r;
}

async function errorCode(promise) {
  try {
    await promise;
  } catch (err) {
    return err.code;
  }
  return 'no error';
}

const sortedJoined = (records) => records.map((strings) => strings.join('')).sort();

/**
 * Checks what `server` answers for one scenario against the catalogue. `faultCodes` says how the
 * server shows the scenario's DNS fault ({ timeout, servfail } → Node error code).
 */
async function checkScenarioDns(server, lab, s, faultCodes) {
  const r = resolverFor(server);
  const txtName = `_mta-sts.${s.domain}`;
  if (s.dnsFault) {
    const expected = faultCodes[s.dnsFault];
    // A short timeout only where the query is meant to go unanswered.
    const fr = expected === 'ETIMEOUT' ? resolverFor(server, 300) : r;
    assert.equal(await errorCode(fr.resolveTxt(txtName)), expected, `${s.name}: TXT fault`);
  } else if (s.txt.length === 0 || s.txtName) {
    assert.equal(await errorCode(r.resolveTxt(txtName)), 'ENOTFOUND', `${s.name}: no TXT at ${txtName}`);
  } else {
    const got = await r.resolveTxt(txtName);
    assert.deepEqual(sortedJoined(got), sortedJoined(s.txt), `${s.name}: TXT strings joined`);
    for (const strings of got) for (const str of strings) assert.ok(Buffer.byteLength(str) <= 255);
  }
  if (s.txtName) assert.deepEqual(sortedJoined(await r.resolveTxt(s.txtName)), sortedJoined(s.txt));

  const mx = (await r.resolveMx(s.domain)).sort((a, b) => a.priority - b.priority);
  assert.deepEqual(mx.map((m) => [m.priority, m.exchange]), s.mx.map((m) => [m.priority, m.host]), `${s.name}: MX`);
  for (const m of s.mx) {
    assert.deepEqual(await r.resolve4(m.host), ['127.0.0.1'], `${m.host} A`);
    assert.deepEqual(await r.resolve6(m.host), ['::1'], `${m.host} AAAA`);
  }
  if (s.policy) assert.deepEqual(await r.resolve4(`mta-sts.${s.domain}`), [lab.host]);
  else assert.equal(await errorCode(r.resolve4(`mta-sts.${s.domain}`)), 'ENOTFOUND');
}

async function checkZoneEdges(server) {
  const r = resolverFor(server);
  assert.equal(await errorCode(r.resolve4('no-such-scenario.test')), 'ENOTFOUND', 'unknown name in the zone');
  assert.equal(await errorCode(r.resolve4('example.com')), 'EREFUSED', 'name outside the zone');
  assert.equal(await errorCode(r.resolveMx('mx1.enforce-valid.test')), 'ENODATA', 'wrong type');
}

/** GET https://mta-sts.<domain><path> through the lab, resolving every name to the lab. */
function get(lab, domain, { path = '/.well-known/mta-sts.txt', ca = lab.caPem, maxBytes = 1 << 20, stopAfterChunks } = {}) {
  return new Promise((resolve, reject) => {
    const family = net.isIPv6(lab.host) ? 6 : 4;
    const req = https.get({
      host: `mta-sts.${domain}`,
      port: lab.policyPort,
      path,
      ca,
      agent: false,
      lookup: (_name, opts, cb) => (opts.all ? cb(null, [{ address: lab.host, family }]) : cb(null, lab.host, family)),
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks = [];
      let bytes = 0;
      const done = (ended) => {
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString(), bytes, ended, chunks: chunks.length });
        res.destroy();
      };
      res.on('data', (c) => {
        bytes += c.length;
        if (bytes <= maxBytes) chunks.push(c);
        if (bytes > maxBytes || (stopAfterChunks && chunks.length >= stopAfterChunks)) done(false);
      });
      res.on('end', () => done(true));
      res.on('error', () => {});
    });
  });
}

test('catalogue: every required scenario, well formed, with a fixed error code', { timeout: 180_000 }, () => {
  const names = scenarios.map((s) => s.name);
  assert.equal(new Set(names).size, names.length, 'names are unique');
  for (const name of REQUIRED) assert.ok(names.includes(name), `scenario ${name}`);
  for (const s of scenarios) {
    assert.equal(s.domain, `${s.name}.test`);
    assert.ok(['found', 'none', 'temperror'].includes(s.expect.status), `${s.name} expect.status`);
    if (s.expect.errorCode) assert.ok(ERROR_CODES.has(s.expect.errorCode), `${s.name}: ${s.expect.errorCode}`);
    if (s.expect.status === 'found') assert.ok(['enforce', 'testing', 'none'].includes(s.expect.mode));
    if (s.expect.status === 'temperror') assert.equal(s.expect.errorCode, 'dns-temporary');
    for (const host of Object.keys(s.expect.mxMatch ?? {})) assert.ok(s.mx.some((m) => m.host === host));
  }
});

test('startLab refuses to listen anywhere but loopback', { timeout: 180_000 }, async () => {
  await assert.rejects(startLab({ host: '0.0.0.0' }), /loopback only/);
});

for (const host of ['127.0.0.1', '::1']) {
  test(`start and stop on ${host} leave no socket, timer or process behind`, { timeout: 180_000 }, async (t) => {
    const before = resources();
    let lab;
    try {
      lab = await startLab({ host });
    } catch (err) {
      if (host === '::1' && err.code === 'EADDRNOTAVAIL') return t.skip('no IPv6 loopback here');
      throw err;
    }
    // Exercise the parts that hold handles: DNS over UDP, a trickling and a streaming response.
    await resolverFor(lab.dns.server).resolveTxt('_mta-sts.enforce-valid.test');
    await get(lab, 'policy-slow.test', { stopAfterChunks: 1 });
    await get(lab, 'policy-too-large.test', { maxBytes: 100000 });
    await lab.stop();
    // Client-side closes (ours, not the lab's) finish within a few turns of the event loop.
    let after = resources();
    for (let turn = 0; turn < 10 && Object.entries(after).some(([k, n]) => n > (before[k] ?? 0)); turn++) {
      await new Promise((r) => setImmediate(r));
      after = resources();
    }
    for (const [kind, n] of Object.entries(after)) assert.ok(n <= (before[kind] ?? 0), `${kind}: ${before[kind] ?? 0} before, ${n} after`);
  });
}

describe('a running lab', () => {
  let lab;
  before(async () => {
    lab = await startLab();
  });
  after(() => lab?.stop());

  test('exposes the API shapes the other parts rely on', { timeout: 180_000 }, () => {
    assert.equal(lab.dns.server, `127.0.0.1:${lab.dns.port}`);
    assert.ok(lab.policyPort > 0);
    assert.match(lab.caPem, /^-----BEGIN CERTIFICATE-----/);
    assert.ok(lab.caCertDer instanceof Uint8Array);
    assert.ok(new X509Certificate(lab.caPem).ca);
  });

  describe('embedded DNS answers every scenario', () => {
    for (const s of scenarios) {
      test(s.name, { timeout: 180_000 }, { timeout: 180_000 }, () => checkScenarioDns(lab.dns.server, lab, s, { timeout: 'ETIMEOUT', servfail: 'ESERVFAIL' }));
    }
    test('unknown names, outside names, wrong types', { timeout: 180_000 }, () => checkZoneEdges(lab.dns.server));
  });

  test('long-record: a string over 255 octets arrives split in two', { timeout: 180_000 }, async () => {
    const [record] = await resolverFor(lab.dns.server).resolveTxt('_mta-sts.long-record.test');
    assert.deepEqual(record.map((s) => s.length), [255, record.join('').length - 255]);
  });

  test('an answer too big for UDP is truncated and comes whole over TCP', { timeout: 180_000 }, async () => {
    const many = Array.from({ length: 12 }, (_, i) => [`v=TLSRPTv1; rua=mailto:reports-${i}@example.test; ${'x'.repeat(40)}`]);
    lab.update('enforce-valid', { extraTxt: { '_smtp._tls.enforce-valid.test': many } });
    try {
      const got = await resolverFor(lab.dns.server).resolveTxt('_smtp._tls.enforce-valid.test');
      assert.deepEqual(sortedJoined(got), sortedJoined(many));
    } finally {
      lab.reset('enforce-valid');
    }
  });

  test('garbage datagrams are dropped and the server keeps answering', { timeout: 180_000 }, async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise((r) => sock.send(Buffer.from([1, 2, 3]), lab.dns.port, '127.0.0.1', r));
    await new Promise((r) => sock.send(Buffer.alloc(40, 0xff), lab.dns.port, '127.0.0.1', r));
    sock.close();
    assert.deepEqual(await resolverFor(lab.dns.server).resolve4('mx1.enforce-valid.test'), ['127.0.0.1']);
  });

  describe('HTTPS policy responses', () => {
    const plain = scenarios.filter((s) => s.policy && !s.policy.stream && !s.policy.trickle && !s.policy.cert);
    for (const s of plain) {
      test(s.name, { timeout: 180_000 }, { timeout: 180_000 }, async () => {
        const before = lab.requests[s.domain];
        const res = await get(lab, s.domain);
        assert.equal(res.status, s.policy.status);
        assert.equal(res.headers['content-type'], s.policy.contentType);
        assert.equal(res.body, s.policy.body);
        if (s.policy.location) assert.equal(res.headers.location, s.policy.location);
        assert.equal(lab.requests[s.domain], before + 1, 'the request is counted');
      });
    }

    test('other paths answer 404', { timeout: 180_000 }, async () => {
      assert.equal((await get(lab, 'enforce-valid.test', { path: '/' })).status, 404);
    });

    test('policy-untrusted-cert fails Node verification, and passes with its own CA', { timeout: 180_000 }, async () => {
      await assert.rejects(get(lab, 'policy-untrusted-cert.test'), (err) => err.code !== undefined);
      const res = await get(lab, 'policy-untrusted-cert.test', { ca: lab.untrustedCaPem });
      assert.equal(res.status, 200);
    });

    test('policy-wrong-name-cert fails Node verification for the name', { timeout: 180_000 }, async () => {
      await assert.rejects(get(lab, 'policy-wrong-name-cert.test'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    });

    test('policy-too-large streams more than 1 MiB', { timeout: 180_000 }, async () => {
      const res = await get(lab, 'policy-too-large.test', { maxBytes: 1 << 20 });
      assert.equal(res.status, 200);
      assert.ok(res.bytes > 1 << 20 && !res.ended, `read ${res.bytes} bytes`);
      assert.match(res.body, /^version: STSv1\n/);
    });

    test('policy-slow sends its headers, then single bytes', { timeout: 180_000 }, async () => {
      const res = await get(lab, 'policy-slow.test', { stopAfterChunks: 3 });
      assert.equal(res.status, 200);
      assert.equal(res.ended, false);
      assert.ok(res.bytes <= 6, `${res.bytes} bytes in 3 chunks`);
      assert.ok('version: STSv1'.startsWith(res.body), res.body);
    });
  });

  test('id-rotated: rotate() changes the TXT id and the policy body', { timeout: 180_000 }, async () => {
    const r = resolverFor(lab.dns.server);
    const txt = async () => (await r.resolveTxt('_mta-sts.id-rotated.test'))[0].join('');
    assert.equal(await txt(), 'v=STSv1; id=rot1');
    const first = (await get(lab, 'id-rotated.test')).body;
    assert.deepEqual(lab.rotate('id-rotated'), { id: 'rot2', mode: 'enforce' });
    assert.equal(await txt(), 'v=STSv1; id=rot2');
    const second = (await get(lab, 'id-rotated.test')).body;
    assert.notEqual(second, first);
    assert.match(second, /mode: enforce/);
    assert.deepEqual(lab.rotate('id-rotated'), { id: 'rot3', mode: 'testing' });
    lab.reset('id-rotated');
    assert.equal(await txt(), 'v=STSv1; id=rot1');
    assert.throws(() => lab.rotate('enforce-valid'), /no rotations/);
  });

  test('certFor and issueCert make certificates the lab CA signs (or not)', { timeout: 180_000 }, () => {
    const ca = new X509Certificate(lab.caPem);
    const mx = lab.certFor('mx1.enforce-valid.test');
    const leaf = new X509Certificate(mx.certPem);
    assert.equal(leaf.subjectAltName, 'DNS:mx1.enforce-valid.test');
    assert.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey));
    assert.equal(mx.chainPem, mx.certPem + lab.caPem);
    assert.match(mx.keyPem, /PRIVATE KEY/);
    assert.equal(new X509Certificate(lab.certFor('mta-sts.policy-wrong-name-cert.test').certPem).subjectAltName, 'DNS:www.policy-wrong-name-cert.test');

    const expired = lab.issueCert({ names: ['mx1.a.test', '*.b.test'], notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2021-01-01T00:00:00Z') });
    const e = new X509Certificate(expired.certPem);
    assert.equal(e.subjectAltName, 'DNS:mx1.a.test, DNS:*.b.test');
    assert.equal(new Date(e.validTo).toISOString(), '2021-01-01T00:00:00.000Z');
    const untrusted = new X509Certificate(lab.issueCert({ names: ['mx1.a.test'], ca: 'untrusted' }).certPem);
    assert.equal(untrusted.verify(ca.publicKey), false);
  });

  test('dnsmasqArgs and unboundConf describe the same zone', { timeout: 180_000 }, () => {
    const args = lab.dnsmasqArgs({ port: 5353, pidFile: '/tmp/x.pid' });
    assert.ok(args.includes('--txt-record=_mta-sts.split-record.test,v=STSv1; ,id=split1'));
    assert.ok(args.includes('--mx-host=enforce-valid.test,mx1.enforce-valid.test,10'));
    assert.ok(args.includes(`--server=/_mta-sts.dns-timeout.test/127.0.0.1#${lab.dns.port}`));
    const conf = lab.unboundConf({ port: 5356 });
    assert.match(conf, /local-data: '_mta-sts\.split-record\.test\. 1 IN TXT "v=STSv1; " "id=split1"'/);
    assert.match(conf, /stub-zone:\n  name: "_mta-sts\.servfail\.test\."/);
  });

  test('the same zone through real dnsmasq', { timeout: 180_000, skip: !findProgram('dnsmasq') && 'dnsmasq not installed (apt-get install dnsmasq-base)' }, async () => {
    const peer = await lab.startDnsmasq();
    try {
      for (const s of scenarios) await checkScenarioDns(peer.server, lab, s, { timeout: 'ETIMEOUT', servfail: 'ESERVFAIL' });
      await checkZoneEdges(peer.server);
    } finally {
      await peer.stop();
    }
    assert.throws(() => process.kill(peer.pid, 0), { code: 'ESRCH' }, 'dnsmasq is gone');
  });

  test('the same zone through real unbound, with a genuine SERVFAIL', { timeout: 180_000, skip: !findProgram('unbound') && 'unbound not installed (apt-get install unbound)' }, async () => {
    const peer = await lab.startUnbound();
    try {
      // unbound cannot stay silent: its 'timeout' names also answer SERVFAIL (still dns-temporary).
      for (const s of scenarios) await checkScenarioDns(peer.server, lab, s, { timeout: 'ESERVFAIL', servfail: 'ESERVFAIL' });
      await checkZoneEdges(peer.server);
    } finally {
      await peer.stop();
    }
    assert.throws(() => process.kill(peer.pid, 0), { code: 'ESRCH' }, 'unbound is gone');
  });

  test('peers started by the lab are stopped by lab.stop()', { timeout: 180_000, skip: !findProgram('dnsmasq') && 'dnsmasq not installed' }, async () => {
    const other = await startLab();
    const peer = await other.startDnsmasq();
    await other.stop();
    assert.throws(() => process.kill(peer.pid, 0), { code: 'ESRCH' });
  });
});

// Standard ports (53, 443) only inside a private network namespace of our own.
const unshareWorks = await new Promise((resolve) => {
  if (!findProgram('unshare') || !findProgram('ip')) return resolve(false);
  execFile('unshare', ['-n', 'sh', '-c', 'ip link set lo up'], { timeout: 10000 }, (err) => resolve(!err));
});

test('standardPorts: DNS on 53 and HTTPS on 443 inside `unshare -n`', { timeout: 180_000, skip: !unshareWorks && 'unshare -n is not permitted here' }, async () => {
  const script = `
    import { startLab } from ${JSON.stringify(LAB_INDEX)};
    import dns from 'node:dns';
    import https from 'node:https';
    const lab = await startLab({ standardPorts: true });
    try {
      const r = new dns.promises.Resolver({ timeout: 3000, tries: 1 });
      r.setServers(['127.0.0.1']);
      const txt = (await r.resolveTxt('_mta-sts.enforce-valid.test'))[0].join('');
      const status = await new Promise((resolve, reject) => {
        https.get({ host: 'mta-sts.enforce-valid.test', path: '/.well-known/mta-sts.txt', ca: lab.caPem,
          lookup: (n, o, cb) => r.resolve4(n).then((a) => o.all ? cb(null, [{ address: a[0], family: 4 }]) : cb(null, a[0], 4), cb) },
          (res) => { res.resume(); resolve(res.statusCode); }).on('error', reject);
      });
      console.log(JSON.stringify({ dnsPort: lab.dns.port, policyPort: lab.policyPort, txt, status }));
    } finally { await lab.stop(); }`;
  const out = await new Promise((resolve, reject) => {
    execFile('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$0" --input-type=module -e "$1"', process.execPath, script], { timeout: 60000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
  assert.deepEqual(JSON.parse(out), { dnsPort: 53, policyPort: 443, txt: 'v=STSv1; id=20240101T000000', status: 200 });
});
