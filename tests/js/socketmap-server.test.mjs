// `mtasts socketmap` (js/socketmap/) against a scripted Postfix-side client on the lab: pipelined
// requests answered in order, malformed netstrings close only that connection, slow and stalled
// clients, the request and reply limits, unix socket with mode, IPv6, graceful stop, the cache
// keeping a policy when DNS fails (RFC 8461 §10.2), the wildcard depth rule (§4.1), metrics.
// Run: scripts/build && node --test tests/js/socketmap-server.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, assertBuilt } from './built-package.mjs';

assertBuilt();
const load = (p) => import(pathToFileURL(join(PKG, p)));
const { startLab, policyText } = await load('js/lab/index.js');
const { startSocketmap } = await load('js/socketmap/daemon.js');
const { resolveSocketmapConfig } = await load('js/socketmap/config.js');
const { createLogger } = await load('js/relay/log.js');
const { memoryStore } = await load('js/stores/memory.js');

const frame = (s) => `${Buffer.byteLength(s)}:${s},`;

/** A Postfix-side client: writes raw bytes, reads netstring replies (its own small decoder). */
function client(address) {
  const socket = net.connect(address);
  let buf = Buffer.alloc(0);
  const replies = [];
  const waiters = [];
  let closed = false;
  const wake = () => {
    for (const w of [...waiters]) if (w.check()) waiters.splice(waiters.indexOf(w), 1);
  };
  socket.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const colon = buf.indexOf(':');
      if (colon < 0) break;
      const len = Number(buf.subarray(0, colon).toString());
      if (buf.length < colon + 1 + len + 1) break;
      assert.equal(buf[colon + 1 + len], 0x2c, 'each reply ends with ","');
      replies.push(buf.subarray(colon + 1, colon + 1 + len).toString());
      buf = buf.subarray(colon + 2 + len);
    }
    wake();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    wake();
  });
  const until = (fn) =>
    new Promise((resolve) => {
      const w = { check: () => (fn() ? (resolve(), true) : false) };
      if (!w.check()) waiters.push(w);
    });
  return {
    socket,
    replies,
    write: (data) => socket.write(data),
    ask: (...requests) => socket.write(requests.map(frame).join('')),
    /** Resolves the first n replies (or fewer if the server closes first). */
    async take(n) {
      await until(() => replies.length >= n || closed);
      return replies.slice(0, n);
    },
    closed: () => until(() => closed),
    isClosed: () => closed,
    end: () => socket.end(),
  };
}

async function start(lab, config = {}, extra = {}) {
  const c = resolveSocketmapConfig(
    {
      zones: { strict: { strict_testing: true }, attrs: { postfix_sts_attributes: true }, quick: { timeout: 0.3 } },
      ...config,
    },
    { listen: extra.listen ?? ['127.0.0.1:0'], dnsServers: [lab.dns.server], policyPort: lab.policyPort, refreshInterval: 0, answerTtl: extra.answerTtl },
  );
  const lines = [];
  const daemon = await startSocketmap(c, { ca: lab.caPem, store: extra.store ?? memoryStore(), logger: createLogger({ level: 'debug', stream: { write: (l) => lines.push(JSON.parse(l)) } }) });
  return { daemon, lines, address: daemon.addresses[0].path ? { path: daemon.addresses[0].path } : { host: daemon.addresses[0].host, port: daemon.addresses[0].port } };
}

const OK_ENFORCE = 'OK secure match=mx1.enforce-valid.test:mx2.enforce-valid.test servername=hostname';

describe('socketmap server on the lab', () => {
  let lab;
  let s;
  before(async () => {
    lab = await startLab();
    s = await start(lab);
  });
  after(async () => {
    await s?.daemon.stop();
    await lab?.stop();
  });

  test('pipelined requests are answered in order, slow and fast mixed', async () => {
    const c = client(s.address);
    c.ask('postfix enforce-valid.test', 'postfix [192.0.2.1]', 'postfix testing-valid.test', 'postfix .enforce-valid.test', 'bad', 'postfix Enforce-Valid.TEST.', 'postfix no-record.test', 'postfix none.test', 'postfix [mx1.mx-not-in-policy.test]:25');
    const got = await c.take(9);
    assert.deepEqual(got, [
      OK_ENFORCE,
      'NOTFOUND ',
      'NOTFOUND ', // testing is not enforced (RFC 8461 §5)
      'NOTFOUND ', // parent-domain lookup
      'PERM expected a request "name key": no space between the map name and the key',
      OK_ENFORCE, // case and trailing dot
      'NOTFOUND ', // no policy
      'NOTFOUND ', // mode none
      'NOTFOUND ', // [mx1.mx-not-in-policy.test] is a host with no policy of its own
    ]);
    assert.ok(!c.isClosed(), 'a PERM answer keeps the connection');
    c.end();
  });

  test('zones: strict_testing answers a testing wildcard policy with the matching MX hosts, never .domain', async () => {
    const c = client(s.address);
    c.ask('strict testing-valid.test', 'postfix testing-valid.test', 'other-map testing-valid.test');
    assert.deepEqual(await c.take(3), [
      'OK secure match=mx1.testing-valid.test:mx2.testing-valid.test servername=hostname',
      'NOTFOUND ',
      'NOTFOUND ', // an unknown map name gets the default zone
    ]);
    c.end();
  });

  test('a malformed netstring closes that connection only, after the replies already due', async () => {
    const a = client(s.address);
    const b = client(s.address);
    a.write(frame('postfix enforce-valid.test') + 'GET / HTTP/1.0\r\n\r\n');
    assert.deepEqual(await a.take(1), [OK_ENFORCE]);
    await a.closed();
    b.ask('postfix enforce-valid.test');
    assert.deepEqual(await b.take(1), [OK_ENFORCE]);
    assert.ok(!b.isClosed());
    for (const bad of ['99999999999:', '3:abcd,', ':,', '12345678901234:x']) {
      const c = client(s.address);
      c.write(bad);
      await c.closed();
      assert.deepEqual(c.replies, [], `${bad}: closed with nothing said`);
    }
    b.ask('postfix no-record.test');
    assert.deepEqual(await b.take(2), [OK_ENFORCE, 'NOTFOUND ']);
    b.end();
    assert.ok(s.lines.some((l) => l.event === 'socketmap-protocol-error' && l.code === 'socketmap-netstring-length'), 'logged with its code');
  });

  test('a client that half-closes after its requests still gets every reply, then the end', async () => {
    const c = client(s.address);
    c.ask('postfix no-record.test', 'postfix enforce-valid.test', 'postfix [192.0.2.7]');
    c.end();
    await c.closed();
    assert.deepEqual(c.replies, ['NOTFOUND ', OK_ENFORCE, 'NOTFOUND ']);
  });

  test('a request split into single bytes with pauses is answered; the connection stays usable', async () => {
    const c = client(s.address);
    const bytes = Buffer.from(frame('postfix enforce-valid.test'));
    for (const b of bytes) {
      c.write(Buffer.from([b]));
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(await c.take(1), [OK_ENFORCE]);
    c.end();
  });

  test('requests over the size limit are refused before their data is read', async () => {
    const c = client(s.address);
    c.write(`2049:postfix ${'a'.repeat(100)}`);
    await c.closed();
    assert.deepEqual(c.replies, []);
    assert.ok(s.lines.some((l) => l.code === 'socketmap-request-too-large'));
  });

  test('the metrics count queries by answer and protocol errors by code', async () => {
    const text = await s.daemon.metrics.registry.metrics();
    assert.match(text, /mtasts_socketmap_queries_total\{answer="ok"\} [1-9]/);
    assert.match(text, /mtasts_socketmap_queries_total\{answer="perm"\} [1-9]/);
    assert.match(text, /mtasts_socketmap_answer_cache_total\{result="hit"\} [1-9]/);
    assert.match(text, /mtasts_socketmap_protocol_errors_total\{code="socketmap-request-too-large"\} [1-9]/);
    assert.match(text, /mtasts_socketmap_query_duration_seconds_count\{cached="yes"\} [1-9]/);
  });
});

describe('socketmap server: bounds, limits, listeners, stop', () => {
  let lab;
  before(async () => {
    lab = await startLab();
  });
  after(async () => {
    await lab?.stop();
  });

  test('a client silent in the middle of a request is closed; one with many pipelined requests is paced', async () => {
    const s = await start(lab, { request_timeout: 0.2, max_pending: 4 });
    try {
      const stalled = client(s.address);
      stalled.write('26:postfix enf');
      await stalled.closed();
      assert.ok(s.lines.some((l) => l.event === 'socketmap-request-timeout'));
      const many = client(s.address);
      const asked = Array.from({ length: 200 }, (_, i) => (i % 3 === 0 ? 'postfix enforce-valid.test' : i % 3 === 1 ? `postfix [192.0.2.${i}]` : `postfix n${i}.no-such.test`));
      many.ask(...asked);
      const got = await many.take(200);
      assert.equal(got.length, 200);
      got.forEach((reply, i) => assert.equal(reply, i % 3 === 0 ? OK_ENFORCE : 'NOTFOUND ', `reply ${i} in order`));
      many.end();
    } finally {
      await s.daemon.stop();
    }
  });

  test('RFC 8461 §4.1: a wildcard policy whose only MX is two labels deep gets TEMP, never match=.domain', async () => {
    lab.update('long-record', {
      policy: { status: 200, contentType: 'text/plain', body: policyText({ mode: 'enforce', mx: ['*.long-record.test'] }) },
      mx: [{ priority: 10, host: 'a.b.long-record.test' }],
    });
    const s = await start(lab);
    try {
      const c = client(s.address);
      c.ask('postfix long-record.test');
      const [reply] = await c.take(1);
      assert.match(reply, /^TEMP no MX host of long-record\.test matches its enforce policy/);
      assert.doesNotMatch(reply, /match=/);
      c.end();
    } finally {
      await s.daemon.stop();
      lab.reset('long-record');
    }
  });

  test('replies stay within 100000 bytes: the Postfix 3.10 attributes give way, the match list stays whole', async () => {
    const names = Array.from({ length: 900 }, (_, i) => `m${String(i).padStart(4, '0')}.${'a'.repeat(38)}.split-record.test`);
    lab.update('split-record', { policy: { status: 200, contentType: 'text/plain', body: policyText({ mode: 'enforce', mx: names }) } });
    const s = await start(lab);
    try {
      const c = client(s.address);
      c.ask('attrs split-record.test', 'postfix split-record.test', 'attrs enforce-valid.test');
      const [big, plain, small] = await c.take(3);
      assert.ok(big.length <= 100_000, `${big.length} bytes`);
      assert.equal(big, plain, 'without room for the attributes the answer is the plain one');
      assert.equal(big, `OK secure match=${names.join(':')} servername=hostname`);
      assert.match(small, /^OK secure match=mx1\.enforce-valid\.test:mx2\.enforce-valid\.test servername=hostname policy_type=sts policy_domain=enforce-valid\.test policy_ttl=\d+ \{ policy_string = version: STSv1 \} \{ policy_string = mode: enforce \} /);
      assert.match(small, / mx_host_pattern=mx1\.enforce-valid\.test mx_host_pattern=mx2\.enforce-valid\.test$/);
      c.end();
    } finally {
      await s.daemon.stop();
      lab.reset('split-record');
    }
  });

  test('RFC 8461 §10.2: a cached policy keeps applying when the TXT lookup hangs, also past the zone timeout', async () => {
    const store = memoryStore();
    const s = await start(lab, { recheck_after: 0 }, { store, answerTtl: 0 });
    try {
      const c = client(s.address);
      c.ask('quick enforce-valid.test');
      assert.deepEqual(await c.take(1), [OK_ENFORCE]);
      lab.update('enforce-valid', { dnsFault: 'timeout' });
      c.ask('quick enforce-valid.test', 'quick dns-timeout.test');
      assert.deepEqual(await c.take(3), [OK_ENFORCE, OK_ENFORCE, 'NOTFOUND ']);
      c.end();
    } finally {
      lab.reset('enforce-valid');
      await s.daemon.stop();
    }
  });

  test('unix socket with the configured mode; IPv6 loopback', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtasts-socketmap-'));
    const path = join(dir, 'mta-sts.sock');
    const s = await start(lab, { socket_mode: '0660' }, { listen: [`unix:${path}`, '[::1]:0'] });
    try {
      assert.equal(statSync(path).mode & 0o777, 0o660);
      assert.ok(statSync(path).isSocket());
      const u = client({ path });
      u.ask('postfix enforce-valid.test');
      assert.deepEqual(await u.take(1), [OK_ENFORCE]);
      u.end();
      const v6 = s.daemon.addresses.find((a) => a.host === '::1');
      const c = client({ host: '::1', port: v6.port });
      c.ask('postfix enforce-valid.test');
      assert.deepEqual(await c.take(1), [OK_ENFORCE]);
      c.end();
    } finally {
      await s.daemon.stop();
      assert.throws(() => statSync(path), /ENOENT/, 'the socket file is removed at stop');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('graceful stop: a request in flight is answered, then the connection ends; no new connections', async () => {
    const s = await start(lab);
    const c = client(s.address);
    c.ask('quick dns-timeout.test');
    await new Promise((r) => setTimeout(r, 50));
    const stopping = s.daemon.stop();
    assert.deepEqual(await c.take(1), ['NOTFOUND ']);
    await c.closed();
    await stopping;
    const late = net.connect(s.address);
    const [err] = await once(late, 'error');
    assert.equal(err.code, 'ECONNREFUSED');
  });
});
