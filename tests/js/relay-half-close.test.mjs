// Issue 13, without Exim: a local MTA that shuts down its sending side (TCP FIN, shutdown(SHUT_WR))
// once its message is complete is not gone; the relay still delivers the message and writes the
// reply. Exim 4.96 ends every transaction that way (captured with strace: the message, "QUIT\r\n"
// sent with MSG_MORE, shutdown(SHUT_WR), and only then the read of the reply to the "."); a raw
// client does the same here. A client that half-closes in the middle of DATA can never send the "."
// and is treated as gone: the MX connection is reset before its end of data.
// Raw client → the relay from the built package → the scripted STARTTLS MX (relay-mx.mjs) on the lab.
// Run: scripts/build && node --test tests/js/relay-half-close.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, assertBuilt } from './built-package.mjs';
import { startRelayMx } from './relay-mx.mjs';
import { rawSmtp } from './relay-client.mjs';

assertBuilt();
const load = (p) => import(pathToFileURL(join(PKG, p)));
const { startLab } = await load('js/lab/index.js');
const { startRelay } = await load('js/relay/server.js');
const { resolveConfig } = await load('js/relay/config.js');
const { createLogger } = await load('js/relay/log.js');

let lab;
let mx;
let dir;
let relay;
let port;
const logs = [];
const deliveries = () => logs.filter((l) => l.event === 'delivery');

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mtasts-half-close-'));
  lab = await startLab();
  writeFileSync(join(dir, 'ca.pem'), lab.caPem);
  mx = await startRelayMx(lab);
  const config = resolveConfig({}, {
    listen: ['127.0.0.1:0'],
    store: `file:${join(dir, 'store')}`,
    dnsServers: [lab.dns.server],
    caFile: join(dir, 'ca.pem'),
    policyPort: lab.policyPort,
    smtpPort: mx.port,
    helo: 'relay.test',
    refreshInterval: 0,
    shutdownTimeout: 5,
    reuseIdle: 0,
  });
  relay = await startRelay(config, { logger: createLogger({ level: 'debug', stream: { write: (l) => { logs.push(JSON.parse(l)); if (process.env.DBG) console.error(l.trim()); } } }) });
  port = relay.addresses[0].port;
});

after(async () => {
  await relay?.close();
  await mx?.close();
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
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
