// Real Postfix in the lab: a receiving MX whose ports each show one TLS behaviour, and a sending MTA
// that hands its mail to a relay (the `mtasts relay` issue). The instance mechanics (directories,
// processes, stop) are in postfix-instance.js.
//
//   const mx = await startPostfixMx({ lab, domains: ['enforce-valid.test', 'no-record.test'] });
//   mx.ports.valid, mx.ports.wrongName, ...          one port per behaviour (127.0.0.1 and ::1)
//   connectMx('enforce-valid.test', { smtpPort: mx.ports.valid, allowPrivate: true, ... })
//   await mx.waitForMessages(1); mx.messages()      → [{ domain, user, file, subject, text }]
//   await mx.stop();
//
//   const sender = await startPostfixSender({ relayhost: '[127.0.0.1]:10025' });
//   await sender.send({ from, to: ['a@enforce-valid.test'], subject, body });   (sendmail -C)
//   sender.port (SMTP submission), await sender.queue(), await sender.flush(), await sender.stop();
//
// Behaviours of the MX (the `listeners` option picks which; a listener is a port number or 0 for a
// free one; all are on by default):
//   valid        lab-CA certificate for every MX host name of `domains` (mx1/mx2.<domain> in the lab)
//   wrongName    lab-CA certificate for mx.wrong-name.test only          → certificate-host-mismatch
//   selfSigned   self-signed certificate for the MX names               → certificate-not-trusted
//   untrusted    certificate for the MX names from the lab's untrusted CA → certificate-not-trusted
//   expired      lab-CA certificate for the MX names that expired yesterday → certificate-expired
//                (the same verdict comes from `valid` with the client's clock moved past notAfter)
//   noStarttls   valid certificate, but STARTTLS not offered (smtpd_tls_security_level=none)
//   tls10        valid certificate, TLS 1.0 only                        → no handshake with a TLS ≥ 1.2 client
//   closeAfterEhlo  not Postfix: a node:net server that hangs up on EHLO (closing-mx.js)
// Mail for user@<domain> lands in mail/<domain>/<user>/new/ when `users` lists user, else in
// mail/<domain>/catchall/new/ (virtual(8), maildir); messages() reads Delivered-To for the recipient.
//
// Measured here (Debian bookworm, Postfix 3.7.11, OpenSSL 3.0, 2 shared cores):
// - apt-get install postfix with debconf preseeded to "No configuration" (`postfix
//   postfix/main_mailer_type select No configuration`): no /etc/postfix/main.cf is written, and
//   policy-rc.d refuses to start the system instance: nothing listens on port 25 (`ss -ltn`).
// - Root is fine: mail_owner=postfix, data_directory owned by postfix, queue_directory by root
//   (Postfix creates its subdirectories itself at start). The queue and data directories must not
//   be inside the config directory, else `postfix check` warns about every queue subdirectory.
// - `postfix -c DIR start-fg` until every port accepts connections: ~2.5-3.5 s, nearly all of it
//   postfix-script's integrity checks (check-fatal + check-warn); `postfix stop`: ~0.1 s.
// - TLS 1.0 only: `smtpd_tls_protocols=TLSv1` and `smtpd_tls_mandatory_protocols=TLSv1` limit the
//   server, but OpenSSL 3 allows TLS 1.0 only at security level 0, so the port also needs
//   `tls_medium_cipherlist=DEFAULT:@SECLEVEL=0`. Then `openssl s_client -tls1 -cipher
//   DEFAULT:@SECLEVEL=0` completes a TLSv1 handshake, and a default client (Node: minVersion TLSv1.2)
//   fails the handshake: the expected failure.
// - One smtpd_tls_chain_files file per behaviour (key, leaf, CA), chosen per port with `-o`.

import path from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { startInstance, freeTcpPort, hasIpv6Loopback, postfixAvailable } from './postfix-instance.js';
import { startClosingMx } from './closing-mx.js';

export { postfixAvailable };

const DAY = 24 * 60 * 60 * 1000;
const BEHAVIOURS = ['valid', 'wrongName', 'selfSigned', 'untrusted', 'expired', 'noStarttls', 'tls10', 'closeAfterEhlo'];
const WRONG_NAME = 'mx.wrong-name.test';

// virtual_mailbox_maps (texthash; virtual(8) refuses regexp substitutions for mailbox paths):
// user@domain → <domain>/<user>/ for the users named up front, and @domain → <domain>/catchall/ for
// everyone else; a trailing slash means maildir. Delivered-To: in each message names the recipient.
const CATCHALL = 'catchall';
function mailboxTable(domains, users) {
  const safe = /^[a-z0-9][a-z0-9._+=-]*$/;
  const lines = [];
  for (const d of domains.map((x) => x.toLowerCase())) {
    for (const u of users.map((x) => x.toLowerCase())) {
      if (!safe.test(u) || u === CATCHALL) throw new TypeError(`startPostfixMx: user ${JSON.stringify(u)} cannot name a maildir`);
      lines.push(`${u}@${d} ${d}/${u}/`);
    }
    lines.push(`@${d} ${d}/${CATCHALL}/`);
  }
  return lines.join('\n') + '\n';
}

/** The MX host names of `domain`: the lab scenario's MX hosts, else mx1/mx2.<domain>. */
function mxNames(lab, domain) {
  const s = lab.scenarios.find((x) => x.domain === domain);
  const hosts = s ? lab.state(s.name).mx.map((m) => m.host) : [];
  return hosts.length ? hosts : [`mx1.${domain}`, `mx2.${domain}`];
}

const chainFile = (cert) => cert.keyPem + cert.chainPem; // smtpd_tls_chain_files: key first, then certificates

async function loopbackHosts(ipv6) {
  return (ipv6 ?? (await hasIpv6Loopback())) ? ['127.0.0.1', '::1'] : ['127.0.0.1'];
}

/** The first header field `name` of a message (unfolded), or null. */
function headerOf(text, name) {
  const head = text.split(/\r?\n\r?\n/, 1)[0].replace(/\r?\n[ \t]+/g, ' ');
  return head.match(new RegExp(`^${name}:[ \\t]*(.*?)\\r?$`, 'im'))?.[1] ?? null;
}

/** Every message file under a virtual mailbox base: mail/<domain>/<user>/{new,cur}/<file>. */
function readMaildirs(mail) {
  const list = (d) => {
    try {
      return readdirSync(d);
    } catch {
      return [];
    }
  };
  const found = [];
  for (const domain of list(mail)) {
    for (const user of list(path.join(mail, domain))) {
      for (const sub of ['new', 'cur']) {
        for (const name of list(path.join(mail, domain, user, sub))) {
          const file = path.join(mail, domain, user, sub, name);
          const text = readFileSync(file, 'utf8');
          const to = headerOf(text, 'Delivered-To');
          found.push({ domain, user: to?.split('@')[0] ?? user, to, file, subject: headerOf(text, 'Subject'), text });
        }
      }
    }
  }
  return found;
}

async function waitFor(check, { timeoutMs = 20000, what }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = check();
    if (result) return result;
    if (Date.now() > deadline) throw new Error(`postfix lab: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A receiving Postfix MX for `domains` with one port per behaviour.
 * @param {object} o
 * @param {object} o.lab           a started lab (certificates come from its CAs)
 * @param {string[]} o.domains     virtual mailbox domains; certificates cover their MX host names
 * @param {string[]} [o.users]     local parts that get a maildir of their own (others: catch-all)
 * @param {object} [o.listeners]   { behaviour: port | 0 } (default: every behaviour on a free port)
 * @param {object} [o.main]        extra main.cf settings (e.g. smtpd_recipient_restrictions)
 * @param {boolean} [o.ipv6]       also listen on ::1 (default: when ::1 exists)
 * @returns {Promise<{ ports, hosts, certs, dir, maildir(domain, user), messages(), waitForMessages(n|fn),
 *   maillog(), replaceCertificate(behaviour, cert), stop() }>}
 */
export async function startPostfixMx({ lab, domains, users = [], listeners, main = {}, ipv6, hostName = 'mx.lab.test', keep } = {}) {
  if (!lab || !Array.isArray(domains) || domains.length === 0) {
    throw new TypeError('startPostfixMx: { lab, domains: [...] } are required');
  }
  listeners ??= Object.fromEntries(BEHAVIOURS.map((b) => [b, 0]));
  for (const b of Object.keys(listeners)) {
    if (!BEHAVIOURS.includes(b)) throw new TypeError(`startPostfixMx: unknown listener ${b} (one of ${BEHAVIOURS.join(', ')})`);
  }
  const hosts = await loopbackHosts(ipv6);
  const names = [...new Set(domains.flatMap((d) => mxNames(lab, d)))];
  const now = Date.now();
  const certs = {
    valid: lab.issueCert({ names }),
    wrongName: lab.issueCert({ names: [WRONG_NAME] }),
    selfSigned: lab.issueCert({ names, ca: 'self' }),
    untrusted: lab.issueCert({ names, ca: 'untrusted' }),
    expired: lab.issueCert({ names, notBefore: new Date(now - 30 * DAY), notAfter: new Date(now - DAY) }),
  };
  const fileOf = (b) => `${b}.pem`;
  const files = { mailboxes: mailboxTable(domains, users) };
  for (const [b, cert] of Object.entries(certs)) files[fileOf(b)] = chainFile(cert);

  const ports = {};
  for (const b of Object.keys(listeners)) ports[b] = listeners[b] || (await freeTcpPort(hosts));

  let closing = null;
  if ('closeAfterEhlo' in listeners) closing = await startClosingMx({ hosts, port: ports.closeAfterEhlo, banner: `${hostName} ESMTP` });

  const etcPath = (f) => `$config_directory/${f}`;
  const perBehaviour = {
    valid: {},
    wrongName: { smtpd_tls_chain_files: etcPath(fileOf('wrongName')) },
    selfSigned: { smtpd_tls_chain_files: etcPath(fileOf('selfSigned')) },
    untrusted: { smtpd_tls_chain_files: etcPath(fileOf('untrusted')) },
    expired: { smtpd_tls_chain_files: etcPath(fileOf('expired')) },
    noStarttls: { smtpd_tls_security_level: 'none' },
    // OpenSSL 3 negotiates TLS 1.0 only at security level 0.
    tls10: { smtpd_tls_protocols: 'TLSv1', smtpd_tls_mandatory_protocols: 'TLSv1', tls_medium_cipherlist: 'DEFAULT:@SECLEVEL=0' },
  };
  const smtpdListeners = Object.keys(listeners)
    .filter((b) => b !== 'closeAfterEhlo')
    .flatMap((b) => hosts.map((host) => ({ host, port: ports[b], options: perBehaviour[b] })));

  let instance;
  try {
    instance = await startInstance({
      label: 'postfix mx',
      keep,
      listeners: smtpdListeners,
      files,
      main: {
        myhostname: hostName,
        mydomain: 'lab.test',
        inet_protocols: hosts.length > 1 ? 'all' : 'ipv4',
        virtual_mailbox_domains: domains,
        virtual_mailbox_maps: 'texthash:$config_directory/mailboxes',
        virtual_uid_maps: 'static:65534',
        virtual_gid_maps: 'static:65534',
        smtpd_tls_chain_files: etcPath(fileOf('valid')),
        smtpd_tls_security_level: 'may',
        smtpd_tls_loglevel: 1,
        smtpd_tls_received_header: 'yes', // the Received header names the TLS version and cipher
        // Spec (project rule): the MX sends nothing (bounces included): no lookup of a sender's domain
        // through the system resolver, no connection off loopback.
        default_transport: 'error:5.7.1 the lab MX sends no mail',
        relay_transport: 'error:5.7.1 the lab MX sends no mail',
        ...main,
      },
    });
  } catch (err) {
    await closing?.close();
    throw err;
  }

  return {
    ports,
    hosts,
    certs,
    names,
    dir: instance.dir,
    maillog: instance.maillog,
    /** The maildir of user@domain: its own when `users` names it, else the domain's catch-all. */
    maildir: (domain, user) => {
      const u = user?.toLowerCase();
      return path.join(instance.mail, domain.toLowerCase(), users.map((x) => x.toLowerCase()).includes(u) ? u : CATCHALL);
    },
    /** Every delivered message: [{ domain, user, to (Delivered-To), file, subject, text }]. */
    messages: () => readMaildirs(instance.mail),
    /** Waits until `n` messages (or `fn(messages)` is truthy) are delivered; returns the messages. */
    waitForMessages: (n = 1, { timeoutMs } = {}) =>
      waitFor(
        () => {
          const m = readMaildirs(instance.mail);
          return (typeof n === 'function' ? n(m) : m.length >= n) ? m : null;
        },
        { timeoutMs, what: typeof n === 'function' ? 'messages' : `${n} message(s) in ${instance.mail}` },
      ),
    /** Serves `cert` ({ keyPem, chainPem }) on the port of `behaviour` from now on (postfix reload). */
    replaceCertificate: (behaviour, cert) => {
      if (!certs[behaviour]) throw new TypeError(`replaceCertificate: ${behaviour} has no certificate of its own`);
      certs[behaviour] = cert;
      return instance.replaceFile(fileOf(behaviour), chainFile(cert));
    },
    postfix: instance.postfix,
    stop: async () => {
      await Promise.all([instance.stop(), closing?.close()]);
    },
  };
}

/**
 * A sending Postfix that relays everything to `relayhost` ('[127.0.0.1]:PORT'; brackets: no MX
 * lookup). Mail enters by `send()` (sendmail -C, i.e. postdrop + pickup) or by SMTP on `port`.
 * Postfix's retry timers keep their defaults; `flush()` (postqueue -f) retries the queue now.
 * @returns {Promise<{ port, dir, send(msg), queue(), flush(), waitForEmptyQueue(), maillog(), stop() }>}
 */
export async function startPostfixSender({ relayhost, port = 0, main = {}, ipv6 = false, hostName = 'sender.lab.test', keep } = {}) {
  // Spec (project rule): the sender never looks up MX hosts itself; without a loopback relayhost it
  // would ask the system resolver and connect wherever the answer points.
  if (typeof relayhost !== 'string' || !/^\[(127\.[0-9.]+|::1|ipv6:::1)\](:\d+)?$/i.test(relayhost)) {
    throw new TypeError(`startPostfixSender: relayhost must be a bracketed loopback address like "[127.0.0.1]:10025", not ${JSON.stringify(relayhost)}`);
  }
  const hosts = await loopbackHosts(ipv6);
  const smtpPort = port || (await freeTcpPort(hosts));
  const instance = await startInstance({
    label: 'postfix sender',
    keep,
    listeners: hosts.map((host) => ({ host, port: smtpPort })),
    main: {
      myhostname: hostName,
      mydomain: 'lab.test',
      myorigin: '$myhostname',
      inet_protocols: hosts.length > 1 ? 'all' : 'ipv4',
      relayhost,
      smtp_dns_support_level: 'disabled',
      smtp_host_lookup: 'native',
      ...main,
    },
  });

  /** Builds a small RFC 5322 message. */
  const compose = ({ from, to, subject = '', body = '', headers = {} }) =>
    [
      `From: <${from}>`,
      `To: ${to.map((t) => `<${t}>`).join(', ')}`,
      `Subject: ${subject}`,
      `Date: ${new Date().toUTCString()}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      '',
      body,
      '',
    ].join('\n');

  return {
    port: smtpPort,
    hosts,
    dir: instance.dir,
    maillog: instance.maillog,
    postfix: instance.postfix,
    postqueue: instance.postqueue,
    /** Queues a message ({ from, to: [...], subject, body, headers } or { from, to, raw }). */
    send: (msg) => {
      const to = Array.isArray(msg.to) ? msg.to : [msg.to];
      return instance.sendmail(['-i', '-f', msg.from, '--', ...to], msg.raw ?? compose({ ...msg, to }));
    },
    /** The queue (postqueue -j): [{ queue_name, queue_id, sender, recipients: [{ address, delay_reason }] }]. */
    queue: async () =>
      (await instance.postqueue(['-j']))
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
    /** Retries every deferred message now (postqueue -f). */
    flush: () => instance.postqueue(['-f']),
    /** Waits until the queue is empty (everything delivered or bounced). */
    waitForEmptyQueue: async ({ timeoutMs } = {}) => {
      const deadline = Date.now() + (timeoutMs ?? 30000);
      for (;;) {
        const q = (await instance.postqueue(['-j'])).trim();
        if (!q) return;
        if (Date.now() > deadline) throw new Error(`postfix sender: queue not empty:\n${q}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    stop: instance.stop,
  };
}
