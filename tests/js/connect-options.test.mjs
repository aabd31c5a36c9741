// connectMx's connection options against the lab and a scripted MX on loopback: special-purpose
// addresses refused by default (RFC 6890; the lab allows them), IPv4/IPv6 preference and
// exclusion, localAddress per family, a connect hook (the caller opens the socket), the port
// option, a pre-resolved MX list, onAttempt as each attempt ends, the server's greeting and EHLO on
// the result; and nodemailerSocket refusing recipients of another domain.
// Run: scripts/build && node --test tests/js/connect-options.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import nodemailer from 'nodemailer';
import { PKG, assertBuilt } from './built-package.mjs';
import { startScriptedMx } from './scripted-mx.mjs';

assertBuilt();
const { connectMx, nodemailerSocket, memoryStore, MtaStsError } = await import(pathToFileURL(join(PKG, 'js/node/index.js')));
const { startLab } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));

const DOMAIN = 'enforce-valid.test';
const T = { timeout: 30_000 };
let lab;
let mx;
before(async () => {
  lab = await startLab();
  mx = await startScriptedMx({ cert: lab.issueCert({ names: [`mx1.${DOMAIN}`, `mx2.${DOMAIN}`] }) });
});
after(async () => {
  await mx?.close();
  await lab?.stop();
});

/** Options at the lab, without allowPrivate unless `extra` says so. */
const opts = (extra = {}) => ({
  heloName: 'sender.test',
  dnsServers: [lab.dns.server],
  ca: lab.caPem,
  policyPort: lab.policyPort,
  dnsTimeout: 1000,
  port: mx.port,
  store: memoryStore(),
  timeouts: { connect: 3000, reply: 3000, tls: 3000 },
  ...extra,
});

async function connected(promise) {
  const c = await promise;
  c.socket.destroy();
  return c;
}

test('loopback MX addresses are refused by default, each recorded, nothing dialled', T, async () => {
  const before = mx.connections;
  const heard = [];
  const err = await connectMx(DOMAIN, opts({ onAttempt: (a) => heard.push(a) })).then(
    (c) => (c.socket.destroy(), assert.fail('delivered to loopback')),
    (e) => e,
  );
  assert.ok(err instanceof MtaStsError);
  assert.equal(err.code, 'delivery-failed');
  assert.equal(mx.connections, before, 'no connection was made');
  assert.ok(err.attempts.length >= 2);
  for (const a of err.attempts) {
    assert.equal(a.result, 'mx-address-refused', JSON.stringify(a));
    assert.ok(['127.0.0.1', '::1'].includes(a.address));
    assert.match(a.rfc, /RFC (1122|4291)/);
    assert.match(a.message, /loopback/);
  }
  assert.deepEqual(heard, err.attempts, 'onAttempt heard every attempt, in order');
  assert.match(err.reply.text, /mx-address-refused/);
  // The lab's option dials them.
  const c = await connected(connectMx(DOMAIN, opts({ allowPrivate: true })));
  assert.equal(c.verdict, 'deliver');
  await assert.rejects(connectMx(DOMAIN, opts({ allowPrivate: 'yes' })), { code: 'invalid-argument' });
});

test('ipFamily: preference orders, exclusion leaves the other family out', T, async (t) => {
  if (!mx.dualStack) return t.skip('no ::1 on this machine');
  const first = async (ipFamily) => (await connected(connectMx(DOMAIN, opts({ allowPrivate: true, ipFamily })))).mx.address;
  assert.equal(await first('any'), '127.0.0.1', 'the DNS host gives IPv4 first');
  assert.equal(await first('prefer-ipv6'), '::1');
  assert.equal(await first('ipv6-only'), '::1');
  assert.equal(await first('prefer-ipv4'), '127.0.0.1');
  // Exclusion: a host with only IPv6 under ipv4-only is not dialled at all.
  const err = await connectMx(DOMAIN, opts({ allowPrivate: true, ipFamily: 'ipv4-only', mx: [{ exchange: `mx1.${DOMAIN}`, addresses: ['::1'] }] })).catch((e) => e);
  assert.equal(err.code, 'delivery-failed');
  assert.equal(err.attempts[0].result, 'mx-address-not-found');
  assert.match(err.attempts[0].message, /ipv4-only/);
  await assert.rejects(connectMx(DOMAIN, opts({ ipFamily: 'ipv4' })), { code: 'invalid-argument' });
});

test('localAddress binds the address of the target family', T, async (t) => {
  const before = mx.peers.length;
  const c = await connected(connectMx(DOMAIN, opts({ allowPrivate: true, localAddress: ['::1', '127.0.0.2'], ipFamily: 'ipv4-only' })));
  assert.equal(c.mx.address, '127.0.0.1');
  assert.equal(mx.peers[before], '127.0.0.2', 'the IPv4 local address');
  assert.equal(c.attempts[0].sendingIp, '127.0.0.2', 'RFC 8460 sending-mta-ip');
  if (mx.dualStack) {
    const v6 = await connected(connectMx(DOMAIN, opts({ allowPrivate: true, localAddress: ['127.0.0.2', '::1'], ipFamily: 'ipv6-only' })));
    assert.equal(v6.attempts[0].sendingIp, '::1');
  } else t.diagnostic('no ::1: the IPv6 half is not checked');
  for (const bad of ['localhost', ['127.0.0.2', '127.0.0.3']]) {
    await assert.rejects(connectMx(DOMAIN, opts({ allowPrivate: true, localAddress: bad })), { code: 'invalid-argument' }, JSON.stringify(bad));
  }
});

test('connectHook opens the socket: used for every address, its failures are attempts', T, async () => {
  const calls = [];
  // A hook that waits for its connection as a proxy client would, then hands it over.
  const hook = async (target) => {
    calls.push(target);
    const socket = net.connect({ host: target.address, port: target.port });
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return socket;
  };
  const c = await connected(connectMx(DOMAIN, opts({ allowPrivate: true, connectHook: hook })));
  assert.equal(c.verdict, 'deliver', 'TLS and the certificate check run over the hook socket');
  assert.deepEqual(Object.keys(calls[0]).sort(), ['address', 'host', 'localAddress', 'port', 'signal', 'timeout']);
  assert.equal(calls[0].host, `mx1.${DOMAIN}`);
  assert.equal(calls[0].port, mx.port);
  assert.equal(c.attempts[0].sendingIp, null, 'our far side is the proxy: unknown');

  // A hook that throws, one that returns no socket, one that never answers.
  const failing = [
    [() => Object.assign(new Error('socks: general failure'), { code: 'ESOCKS' }), /connect hook: ESOCKS/, 'mx-connect-failed'],
    [() => 42, /returned no socket/, 'mx-connect-failed'],
    [() => new Promise(() => {}), null, 'mx-timeout'],
  ];
  for (const [make, detail, code] of failing) {
    const hookFails = (target) => {
      const v = make(target);
      if (v instanceof Error) throw v;
      return v;
    };
    const err = await connectMx(DOMAIN, opts({ allowPrivate: true, connectHook: hookFails, timeouts: { connect: 200 }, mx: [{ exchange: `mx1.${DOMAIN}`, addresses: ['127.0.0.1'] }] })).catch((e) => e);
    assert.equal(err.code, 'delivery-failed');
    assert.equal(err.attempts[0].result, code);
    if (detail) assert.match(err.attempts[0].detail, detail);
  }
});

test('onAttempt hears each attempt as it ends, before the next is dialled', T, async () => {
  const heard = [];
  // 127.0.0.3: nothing listens there (the scripted MX is on 127.0.0.1), so the first is refused.
  const c = await connected(
    connectMx(DOMAIN, opts({
      allowPrivate: true,
      mx: [{ exchange: `mx1.${DOMAIN}`, priority: 10, addresses: ['127.0.0.3', '127.0.0.1'] }],
      onAttempt: (a) => heard.push({ result: a.result, address: a.address, connectionsSoFar: mx.connections }),
    })),
  );
  assert.deepEqual(heard.map((h) => [h.result, h.address]), [['mx-connect-failed', '127.0.0.3'], ['success', '127.0.0.1']]);
  assert.equal(heard[0].connectionsSoFar + 1, heard[1].connectionsSoFar, 'the first was heard before the second connection');
  assert.deepEqual(heard.map((h) => h.result), c.attempts.map((a) => a.result));
  // What onAttempt throws ends the delivery with that error.
  await assert.rejects(connectMx(DOMAIN, opts({ allowPrivate: true, onAttempt: () => { throw new Error('stop here'); } })), /stop here/);
});

test('the greeting and EHLO lines come with the connection', T, async () => {
  const c = await connected(connectMx(DOMAIN, opts({ allowPrivate: true })));
  assert.deepEqual(c.greeting, ['mx.scripted.test ESMTP scripted']);
  assert.deepEqual(c.ehlo, ['mx.scripted.test', 'PIPELINING', '8BITMIME', 'STARTTLS']);
});

test('a pre-resolved MX list: no MX query, and no address query for entries with addresses', T, async () => {
  const q = (name, type) => lab.queries[`${name} ${type}`] ?? 0;
  const mxBefore = q(DOMAIN, 'MX');
  const aBefore = q(`mx2.${DOMAIN}`, 'A');
  const c = await connected(connectMx(DOMAIN, opts({ allowPrivate: true, mx: [{ exchange: `MX2.${DOMAIN}.`, priority: 5, addresses: ['127.0.0.1'] }] })));
  assert.equal(c.mx.host, `mx2.${DOMAIN}`);
  assert.equal(q(DOMAIN, 'MX'), mxBefore, 'no MX lookup');
  assert.equal(q(`mx2.${DOMAIN}`, 'A'), aBefore, 'no address lookup');
  // The policy still filters the list (RFC 8461 §4.1): a host it does not list is not used.
  const err = await connectMx(DOMAIN, opts({ allowPrivate: true, mx: [{ exchange: 'mx.elsewhere.test', addresses: ['127.0.0.1'] }] })).catch((e) => e);
  assert.equal(err.code, 'mx-not-in-policy');
  // Given addresses are screened like DNS answers.
  const refused = await connectMx(DOMAIN, opts({ mx: [{ exchange: `mx1.${DOMAIN}`, addresses: ['10.1.2.3'] }] })).catch((e) => e);
  assert.equal(refused.attempts[0].result, 'mx-address-refused');
  assert.match(refused.attempts[0].message, /private.*RFC 1918/);
  for (const bad of [[], [{ priority: 1 }], [{ exchange: 'a.test', addresses: '127.0.0.1' }], 'mx.test']) {
    await assert.rejects(connectMx(DOMAIN, opts({ mx: bad })), { code: 'invalid-argument' }, JSON.stringify(bad));
  }
});

test('port and its older name smtpPort', T, async () => {
  const c = await connected(connectMx(DOMAIN, opts({ allowPrivate: true, port: undefined, smtpPort: mx.port })));
  assert.equal(c.mx.port, mx.port);
  await assert.rejects(connectMx(DOMAIN, opts({ smtpPort: mx.port + 1 })), { code: 'invalid-argument' });
  await assert.rejects(connectMx(DOMAIN, opts({ port: 0 })), { code: 'invalid-argument' });
});

test('nodemailerSocket refuses a message with a recipient of another domain; nothing is sent', T, async () => {
  const transport = nodemailer.createTransport({
    host: DOMAIN,
    name: 'sender.test',
    getSocket: nodemailerSocket(opts({ allowPrivate: true })),
  });
  const before = mx.messages.length;
  const err = await transport
    .sendMail({ from: 'a@sender.test', to: [`one@${DOMAIN}`, 'two@other.test'], subject: 'two domains', text: 'hello' })
    .then(() => assert.fail('sent to two domains over one MX'), (e) => e);
  assert.equal(err.code, 'recipient-other-domain', err.message);
  assert.match(err.message, /"two@other\.test" is not in enforce-valid\.test/);
  assert.equal(mx.messages.length, before, 'the MX received no message');
  // The same domain in another spelling is the same domain; a body line that looks like a command
  // is message text.
  const info = await transport.sendMail({
    from: 'a@sender.test',
    to: [`one@${DOMAIN}`, `Two@${DOMAIN.toUpperCase()}`],
    subject: 'one domain',
    text: 'RCPT TO:<x@other.test>\r\n.\r\nDATA\r\nend',
  });
  assert.equal(info.accepted.length, 2);
  assert.equal(mx.messages.length, before + 1);
  assert.match(mx.messages.at(-1).data, /RCPT TO:<x@other\.test>/);
  transport.close();
});

test('the relay refuses a loopback MX unless allowPrivate (config and --allow-private)', T, async () => {
  const { startRelayWorld } = await import('./relay-world.mjs');
  const { resolveConfig } = await import(pathToFileURL(join(PKG, 'js/relay/config.js')));
  assert.equal(resolveConfig({}, {}).allowPrivate, false, 'refused by default');
  assert.equal(resolveConfig({ allowPrivate: true }, {}).allowPrivate, true, 'the config file key');
  assert.throws(() => resolveConfig({ allowPrivate: 'yes' }, {}), { code: 'config-invalid' });
  const w = await startRelayWorld();
  try {
    const r = await w.startTestRelay({ allowPrivate: false });
    const { err } = await w.send(r, { to: ['user@no-record.test'] });
    assert.ok(err, 'not delivered');
    // No policy: every MX address was refused for good, so the local MTA hears a 5xx.
    assert.equal(err.responseCode, 550, err.response);
    assert.match(err.response, /mx-address-refused/);
    assert.equal(w.mx.messages.length, 0);
    const ok = await w.startTestRelay();
    const sent = await w.send(ok, { to: ['user@no-record.test'] });
    assert.ifError(sent.err);
  } finally {
    await w.stop();
  }
});
