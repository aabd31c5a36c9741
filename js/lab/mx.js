// A receiving MX for every lab domain: one SMTP server (smtp-server) on one port of 127.0.0.1 and,
// when it can be had, the same port of ::1 (the lab's MX names resolve to both). STARTTLS picks the
// certificate by SNI, so one server plays mx1.<domain>, mx2.<domain>, ... of every scenario, each
// with the certificate its domain's behaviour names. Mail is kept in memory. `mtasts demo` delivers
// to it through the relay to show a TLS report built from real sessions; scripts can too.
//
//   const mx = await startLabMx(lab, { behaviours: { 'testing-valid.test': 'untrusted' } });
//   connectMx('enforce-valid.test', { smtpPort: mx.port, allowPrivate: true, dnsServers: [lab.dns.server], ca: lab.caPem, ... })
//   mx.messages → [{ domain, from, to, data, secure, servername }]; await mx.close()
//
// Behaviours (per policy domain; default `valid`):
//   valid       a lab-CA certificate for the MX name dialled
//   untrusted   a certificate for that name from the lab's untrusted CA   → certificate-not-trusted
//   wrong-name  a lab-CA certificate for another name                      → certificate-host-mismatch
//   expired     a lab-CA certificate for the name that expired yesterday   → certificate-expired

import tls from 'node:tls';
import { peerDependency } from '../peer-dependency.js';

const BEHAVIOURS = new Set(['valid', 'untrusted', 'wrong-name', 'expired']);
const DAY_MS = 86_400_000;
const MAX_MESSAGE = 10 * 1024 * 1024;

/**
 * @param {object} lab a started lab (startLab)
 * @param {{ behaviours?: Record<string, 'valid'|'untrusted'|'wrong-name'|'expired'>, port?: number }} [options]
 * @returns {Promise<{ port: number, dualStack: boolean, messages: object[], behave(domain, behaviour): void, close(): Promise<void> }>}
 */
export async function startLabMx(lab, { behaviours = {}, port = 0 } = {}) {
  // Loaded here, not at import: `mtasts/lab` without an MX needs no SMTP server package.
  const { SMTPServer } = peerDependency('smtp-server', 'the lab MX (startLabMx)');
  const behaviour = new Map();
  const behave = (domain, kind) => {
    if (!BEHAVIOURS.has(kind)) throw new TypeError(`startLabMx: behaviour of ${domain} must be one of ${[...BEHAVIOURS].join(', ')}, found ${JSON.stringify(kind)}`);
    behaviour.set(domain.toLowerCase(), kind);
  };
  for (const [domain, kind] of Object.entries(behaviours)) behave(domain, kind);

  // The MX names are `<label>.<domain>`: the domain is what follows the first label.
  const domainOf = (servername) => String(servername ?? '').toLowerCase().replace(/^[^.]+\./, '');
  const contexts = new Map();
  const contextFor = (servername) => {
    const name = String(servername || 'mx.lab.test').toLowerCase();
    const kind = behaviour.get(domainOf(name)) ?? 'valid';
    const key = `${kind} ${name}`;
    if (!contexts.has(key)) {
      const now = Date.now();
      const cert =
        kind === 'untrusted' ? lab.issueCert({ names: [name], ca: 'untrusted' })
        : kind === 'wrong-name' ? lab.issueCert({ names: ['mx.wrong-name.test'] })
        : kind === 'expired' ? lab.issueCert({ names: [name], notBefore: new Date(now - 30 * DAY_MS), notAfter: new Date(now - DAY_MS) })
        : lab.certFor(name);
      contexts.set(key, tls.createSecureContext({ key: cert.keyPem, cert: cert.chainPem ?? cert.certPem }));
    }
    return contexts.get(key);
  };

  const messages = [];
  const fallback = lab.certFor('mx.lab.test');
  const options = {
    name: 'mx.lab.test',
    banner: 'lab MX',
    key: fallback.keyPem,
    cert: fallback.chainPem ?? fallback.certPem,
    SNICallback: (servername, cb) => cb(null, contextFor(servername)),
    authOptional: true,
    disabledCommands: ['AUTH'],
    size: MAX_MESSAGE,
    logger: false,
    onData(stream, session, callback) {
      const chunks = [];
      let size = 0;
      stream.on('data', (c) => {
        size += c.length;
        if (size <= MAX_MESSAGE) chunks.push(c);
      });
      stream.on('end', () => {
        if (stream.sizeExceeded) return callback(Object.assign(new Error('message too big'), { responseCode: 552 }));
        messages.push({
          domain: domainOf(session.servername),
          from: session.envelope.mailFrom?.address ?? null,
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks).toString('utf8'),
          secure: session.secure,
          servername: session.servername ?? null,
        });
        callback();
      });
    },
  };
  const v4 = new SMTPServer(options);
  v4.on('error', () => {});
  await new Promise((resolve, reject) => {
    v4.server.once('error', reject);
    v4.listen(port, '127.0.0.1', resolve);
  });
  const bound = v4.server.address().port;
  const v6 = new SMTPServer(options);
  v6.on('error', () => {});
  const dualStack = await new Promise((resolve) => {
    v6.server.once('error', () => resolve(false));
    v6.listen(bound, '::1', () => resolve(true));
  });
  const servers = dualStack ? [v4, v6] : [v4];
  return {
    port: bound,
    dualStack,
    messages,
    behave,
    close: () => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))).then(() => undefined),
  };
}
