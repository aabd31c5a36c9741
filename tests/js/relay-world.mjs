// The world the relay tests run in: the lab (DNS, policy hosts, CA), a scripted MX for every lab
// domain (relay-mx.mjs), and relays from the built package pointed at them, logging into arrays.
// Not a test file itself.
//
//   const w = await startRelayWorld();
//   const r = await w.startTestRelay({ reuseIdle: 30 });   // { relay, logs, port }
//   const { info, err } = await w.send(r, { to: ['user@enforce-valid.test'] });
//   await w.stop();

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import nodemailer from 'nodemailer';
import { PKG, assertBuilt } from './built-package.mjs';
import { startRelayMx } from './relay-mx.mjs';

assertBuilt();
const load = (p) => import(pathToFileURL(join(PKG, p)));
const { startLab } = await load('js/lab/index.js');
const { startRelay } = await load('js/relay/server.js');
const { resolveConfig } = await load('js/relay/config.js');
const { createLogger } = await load('js/relay/log.js');

export const TODAY = () => new Date().toISOString().slice(0, 10);

/** The relay's one-line-per-delivery log entries. */
export const deliveries = (r) => r.logs.filter((l) => l.event === 'delivery');

export async function startRelayWorld() {
  const dir = mkdtempSync(join(tmpdir(), 'mtasts-relay-'));
  const lab = await startLab();
  const caFile = join(dir, 'lab-ca.pem');
  writeFileSync(caFile, lab.caPem);
  const mx = await startRelayMx(lab);
  const relays = new Set();

  /** A relay on an ephemeral port, pointed at the lab, logging into an array. */
  async function startTestRelay(flags = {}, deps = {}) {
    const logs = [];
    const logger = createLogger({ level: 'debug', stream: { write: (line) => logs.push(JSON.parse(line)) } });
    const config = resolveConfig(
      {},
      {
        listen: ['127.0.0.1:0'],
        store: `file:${join(dir, 'store')}`,
        dnsServers: [lab.dns.server],
        caFile,
        policyPort: lab.policyPort,
        smtpPort: mx.port,
        allowPrivate: true, // the lab is on loopback (RFC 6890)
        helo: 'relay.test',
        refreshInterval: 0,
        shutdownTimeout: 5,
        reuseIdle: 0, // a new MX connection per message, unless a test asks otherwise
        ...flags,
      },
    );
    const relay = await startRelay(config, { logger, ...deps });
    relays.add(relay);
    return { relay, logs, port: relay.addresses[0].port };
  }

  let sent = 0;
  /**
   * Sends through the relay with nodemailer; resolves { info } or { err }. The default message has
   * a Message-ID of its own, so the delivery journal never takes two sends for one message.
   */
  async function send(r, { to, from = 'sender@origin.test', raw, auth }) {
    sent += 1;
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: r.port, ignoreTLS: true, name: 'client.test', auth });
    try {
      const info = await transport.sendMail({ envelope: { from, to }, raw: raw ?? `From: <${from}>\r\nTo: <${to[0]}>\r\nMessage-ID: <${sent}.${process.pid}@origin.test>\r\nSubject: relay test\r\n\r\nhello\r\n` });
      return { info };
    } catch (err) {
      return { err };
    } finally {
      transport.close();
    }
  }

  async function stop() {
    for (const r of relays) await r.close();
    await mx.close();
    await lab.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  return { dir, lab, caFile, mx, startTestRelay, send, stop };
}
