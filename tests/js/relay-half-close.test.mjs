// Issue 13, without Exim: a local MTA that shuts down its sending side (TCP FIN, shutdown(SHUT_WR))
// once its message is complete is not gone; the relay still delivers the message and writes the
// reply. Exim 4.96 ends every transaction that way (captured with strace: the message, "QUIT\r\n"
// sent with MSG_MORE, shutdown(SHUT_WR), and only then the read of the reply to the "."); a raw
// client does the same here. A client that half-closes in the middle of DATA can never send the "."
// and is treated as gone: the MX connection is reset before its end of data. The same ending inside
// STARTTLS (close_notify, then the FIN) is answered too. Tests 1, 2 and 5 fail on the relay before
// the fix (no reply after the FIN); 3 and 4 guard what the fix must keep.
// Raw client → the relay from the built package → the scripted STARTTLS MX (relay-mx.mjs) on the lab.
// Run: scripts/build && node --test tests/js/relay-half-close.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { rawSmtp } from './relay-client.mjs';
import { startRelayWorld } from './relay-world.mjs';

let world;
let lab;
let mx;
let main; // { relay, logs, port }
let port;
let tlsMain; // the same relay with STARTTLS offered
const deliveries = () => [...main.logs, ...tlsMain.logs].filter((l) => l.event === 'delivery');

before(async () => {
  world = await startRelayWorld();
  ({ lab, mx } = world);
  main = await world.startTestRelay();
  port = main.port;
  const cert = lab.issueCert({ names: ['relay.test'] });
  writeFileSync(join(world.dir, 'relay-cert.pem'), cert.chainPem);
  writeFileSync(join(world.dir, 'relay-key.pem'), cert.keyPem);
  tlsMain = await world.startTestRelay({ tlsCert: join(world.dir, 'relay-cert.pem'), tlsKey: join(world.dir, 'relay-key.pem') });
});

after(async () => {
  await world?.stop();
});

/** Greeting, EHLO, MAIL, RCPT and DATA, one at a time; resolves the client in data mode. */
async function openData(to) {
  const c = await rawSmtp(port);
  assert.match(c.greeting, /^220 /);
  assert.match(await c.cmd('EHLO client.test'), /^250/);
  assert.match(await c.cmd('MAIL FROM:<a@origin.test>'), /^250/);
  assert.match(await c.cmd(`RCPT TO:<${to}>`), /^250/);
  assert.match(await c.cmd('DATA'), /^354/);
  return c;
}

const messagesWith = (subject) => mx.messages.filter((m) => m.data.includes(`Subject: ${subject}\r\n`));

test('Exim\'s ending: "." and QUIT in one write, then a half-close before any reply: delivered, 250 and 221 written', { timeout: 30000 }, async () => {
  const subject = `half-close quit ${Date.now()}`;
  const c = await openData('user@enforce-valid.test');
  c.write(`Subject: ${subject}\r\n\r\nbody\r\n.\r\nQUIT\r\n`);
  c.socket.end(); // shutdown(SHUT_WR): the client's FIN follows the QUIT at once
  const dot = await c.next();
  const quit = await c.next();
  assert.match(dot ?? 'nothing (the relay dropped the reply)', /^250 2\.0\.0 Ok: queued as 4ABC \[mx1\.enforce-valid\.test\]$/);
  assert.match(quit ?? 'nothing', /^221 /);
  await c.closed; // the relay ends its side after the 221
  assert.equal(messagesWith(subject).length, 1, 'the MX has the message once');
  assert.match(messagesWith(subject)[0].data, /^MTA-STS-Verify: verified; domain=enforce-valid\.test; mode=enforce; /);
  assert.deepEqual(deliveries().map((l) => l.outcome), ['delivered'], 'one delivery, not aborted');
});

test('a half-close right after the "." without QUIT: delivered, the 250 written, then the relay closes', { timeout: 30000 }, async () => {
  const subject = `half-close no quit ${Date.now()}`;
  const c = await openData('user@enforce-valid.test');
  c.write(`Subject: ${subject}\r\n\r\nbody\r\n.\r\n`);
  c.socket.end();
  assert.match((await c.next()) ?? 'nothing (the relay dropped the reply)', /^250 2\.0\.0 /);
  assert.equal(await c.next(), null, 'nothing more, and the connection closes');
  await c.closed;
  assert.equal(messagesWith(subject).length, 1);
});

test('a half-close in the middle of DATA: the MX connection is reset before its end of data, nothing delivered', { timeout: 30000 }, async () => {
  const subject = `half-close mid data ${Date.now()}`;
  const lines = mx.dataLines;
  const c = await openData('user@enforce-valid.test');
  c.write(`Subject: ${subject}\r\n\r\nthe first part\r\n`);
  await mx.waitFor(() => mx.dataLines >= lines + 2); // the MX has the start of the message
  c.socket.end(); // and the "." never comes
  assert.equal(await c.next(), null, 'no reply: there is no message to answer for');
  await c.closed;
  await mx.waitFor(() => deliveries().some((l) => l.outcome === 'aborted'));
  await mx.waitFor(() => mx.openConnections === 0); // the relay reset its MX connection
  assert.equal(messagesWith(subject).length, 0, 'the MX accepted no partial message');
});

test('a half-close between transactions: pipelined RSET and QUIT are answered, then the relay closes', { timeout: 30000 }, async () => {
  const c = await rawSmtp(port);
  assert.match(await c.cmd('EHLO client.test'), /^250/);
  c.write('MAIL FROM:<a@origin.test>\r\nRSET\r\nQUIT\r\n');
  c.socket.end();
  assert.match((await c.next()) ?? 'nothing', /^250 /);
  assert.match((await c.next()) ?? 'nothing', /^250 /);
  assert.match((await c.next()) ?? 'nothing', /^221 /);
  await c.closed;
});

test('the same ending inside STARTTLS (close_notify, then the FIN): delivered, 250 and 221 written', { timeout: 30000 }, async () => {
  const subject = `half-close tls ${Date.now()}`;
  const raw = net.connect(tlsMain.port, '127.0.0.1');
  let buffer = '';
  /** Resolves the next complete reply on `s` (a reply's last line has a space after the code). */
  const reply = (s) =>
    new Promise((resolve) => {
      const onData = (d) => {
        buffer += d.toString('latin1');
        const m = /^(?:\d{3}-.*\r\n)*\d{3} .*\r\n/.exec(buffer);
        if (!m) return;
        buffer = buffer.slice(m[0].length);
        s.off('data', onData);
        resolve(m[0]);
      };
      s.on('data', onData);
    });
  assert.match(await reply(raw), /^220 /);
  raw.write('EHLO client.test\r\n');
  assert.match(await reply(raw), /STARTTLS/);
  raw.write('STARTTLS\r\n');
  assert.match(await reply(raw), /^220 /);
  const s = tls.connect({ socket: raw, servername: 'relay.test', ca: lab.caPem });
  await new Promise((resolve, reject) => s.once('secureConnect', resolve).once('error', reject));
  for (const [line, code] of [['EHLO client.test', /^250/], ['MAIL FROM:<a@origin.test>', /^250/], ['RCPT TO:<user@enforce-valid.test>', /^250/], ['DATA', /^354/]]) {
    s.write(`${line}\r\n`);
    assert.match(await reply(s), code);
  }
  let rest = '';
  s.on('data', (d) => (rest += d.toString('latin1')));
  const closed = new Promise((r) => s.once('close', r));
  s.write(`Subject: ${subject}\r\n\r\nbody\r\n.\r\nQUIT\r\n`);
  s.end(); // TLS close_notify and the TCP FIN, before any reply
  await closed;
  assert.match(rest, /^250 2\.0\.0 Ok: queued as 4ABC \[mx1\.enforce-valid\.test\]\r\n221 /);
  assert.equal(messagesWith(subject).length, 1);
});
