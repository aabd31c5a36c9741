// Exim (the research system's MTA) as the local MTA in front of `mtasts relay`: a private instance
// with its own configuration, spool and log (`exim4 -C DIR/exim.conf -bdf -oX PORT -oP pid`).
// The Debian package and Postfix's exclude each other, so scripts/setup installs the binary on its own
// (LAB.md, "Exim beside Postfix"); /etc/exim4 is never read.
//
//   const exim = await startExim({ relay: { host: '127.0.0.1', port: relayPort } });
//   await exim.send({ from: 'alice@sender.lab.test', to: ['bob@enforce-valid.test'], subject, body });
//   await exim.queue()     → [{ id, sender, recipients: [address] }]        (exim -bp)
//   await exim.runQueue()  (exim -qff: every message now, retry times or not)
//   exim.mainlog(); exim.mailbox('alice') → local deliveries (bounces) [{ file, text }]; await exim.stop();
// Local mail goes to one maildir, DIR/mail/local/ (mailbox() picks by Envelope-to).
//
// The relay part of the configuration is eximRelayRecipe(): the README's Exim recipe is that
// function's default output (tests/js/relay-exim.test.mjs checks it), and the instance runs it with
// the relay's real port. Everything else in eximConfig() is lab scaffolding: paths, the loopback-only
// listener, no DNS (host_lookup, rfc1413 off), local delivery into maildirs for the local domains
// (bounces come back there), and an optional bypass route.
//
// Measured here (Exim 4.96, Debian 12): with -C the daemon gives up root ("exim user lost privilege
// for using -C option" in the paniclog, every run) and runs as Debian-exim, so the spool, log and
// mail directories must belong to Debian-exim, and local deliveries run as Debian-exim too. Messages
// submitted on the command line (-odb) with -C stay queued (the background delivery is not started),
// so mail enters over SMTP on the daemon's port, as a local client would hand it over. At the end of
// a transaction Exim's smtp transport writes "QUIT" right behind the final "." and half-closes
// (shutdown(SHUT_WR)) before it reads the reply to the "." (strace).

import { execFile, spawn } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { findProgram, freePort } from './peer-process.js';

const USER = 'Debian-exim';

const live = new Set(); // { pid(), cleanUp() } of instances started and not yet stopped
const onExit = () => {
  for (const instance of live) {
    try {
      const pid = instance.pid();
      if (pid) process.kill(pid, 'SIGTERM');
    } catch {}
    try {
      instance.cleanUp();
    } catch {}
  }
};

/** The uid and gid of a local account from /etc/passwd, or null. */
function account(name) {
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {}
  const line = passwd.split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) return null;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Why Exim cannot run here (a sentence), or null when it can: the binary and its account. */
export function eximMissing() {
  if (!findProgram('exim4')) return 'exim4 is not installed (scripts/setup installs the binary beside Postfix, as root)';
  if (!account(USER)) return `the ${USER} account is missing (useradd --system ${USER}; scripts/setup does it)`;
  return null;
}

/**
 * The relay part of an Exim configuration, section by section: what an operator adds to their own
 * Exim (the README shows the default output). `relay` is Exim's host list item for the relay
 * (`127.0.0.1::10025`: address, then the port after a double colon).
 *   main        the domains that must not go through the relay: besides +local_domains (delivered
 *               here), the relay's own domains that other routers handle (mtasts_bypass_domains)
 *   router      before dnslookup; manualroute to the relay for every other domain
 *   transport   smtp to the relay; one transaction per recipient domain (multi_domain = false):
 *               the relay takes one domain per transaction and answers other domains' RCPTs
 *               with 452 4.5.3
 *   retry       the relay's 4xx (policy or TLS failures under enforce, MX trouble) are retried
 *               like any temporary error; its 5xx (the MX's own refusal) bounce at once
 */
export function eximRelayRecipe({ relay = '127.0.0.1::10025', bypassDomains = ['example.org', '*.example.org'], multiDomain = false } = {}) {
  return {
    main: [
      '# domains delivered without the relay, besides +local_domains (the relay\'s own domains)',
      `domainlist mtasts_bypass_domains = ${bypassDomains.join(' : ')}`.trimEnd(),
    ].join('\n'),
    router: [
      '# routers: before dnslookup (Debian split config: conf.d/router/190_mtasts_relay)',
      'mtasts_relay:',
      '  driver = manualroute',
      '  domains = ! +local_domains : ! +mtasts_bypass_domains',
      '  transport = mtasts_relay_smtp',
      `  route_list = * ${relay} byname`,
      '  self = send',
      '  no_more',
    ].join('\n'),
    transport: [
      '# transports',
      'mtasts_relay_smtp:',
      '  driver = smtp',
      '  allow_localhost',
      // Exim's default (true) is only for tests/js/relay-exim.test.mjs to show what it does.
      ...(multiDomain ? [] : ['  multi_domain = false']),
    ].join('\n'),
    retry: [
      '# retry: the relay defers with 4xx while a domain\'s MX cannot be used under its policy',
      '* * F,2h,15m; G,16h,1h,1.5; F,4d,6h',
    ].join('\n'),
  };
}

/**
 * A whole Exim configuration for the lab: eximRelayRecipe() plus scaffolding.
 * @param {object} o
 * @param {string} o.dir             instance directory (spool/, log/, mail/ inside)
 * @param {string} o.relay           relay host list item, e.g. '127.0.0.1::10025'
 * @param {string[]} o.localDomains  delivered locally into o.dir/mail/<local part>/ (maildir)
 * @param {string[]} [o.bypassDomains]  routed past the relay to o.bypassRoute
 * @param {string} [o.bypassRoute]   host list item for the bypass domains (a loopback MX)
 * @param {string} [o.hostName]      primary_hostname
 * @param {boolean} [o.multiDomain]  Exim's own default for the relay transport (not the recipe's)
 */
export function eximConfig({ dir, relay, localDomains, bypassDomains = [], bypassRoute = null, hostName = 'exim.lab.test', multiDomain = false }) {
  const recipe = eximRelayRecipe({ relay, bypassDomains, multiDomain });
  const bypass = bypassDomains.length && bypassRoute;
  return `# Generated by js/lab/exim.js (eximConfig). The mtasts parts are eximRelayRecipe().
primary_hostname = ${hostName}
qualify_domain = ${localDomains[0]}
domainlist local_domains = ${localDomains.join(' : ')}
${recipe.main}
spool_directory = ${dir}/spool
log_file_path = ${dir}/log/%slog
log_selector = +smtp_protocol_error +smtp_syntax_error +deliver_time +received_recipients
exim_user = ${USER}
exim_group = ${USER}
never_users =
trusted_users = root
# Lab: loopback only, and no DNS or ident lookups of any kind.
local_interfaces = <; 127.0.0.1
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
keep_environment =
acl_smtp_rcpt = acl_check_rcpt
# The daemon runs without -q: deliveries happen on receipt, retries when a test runs -qff.

begin acl
acl_check_rcpt:
  accept hosts = 127.0.0.1
  deny message = relay not permitted

begin routers
${recipe.router}
${bypass ? `mtasts_bypass:
  driver = manualroute
  domains = +mtasts_bypass_domains
  transport = lab_bypass_smtp
  route_list = * ${bypassRoute} byname
  self = send
  no_more
` : ''}lab_local:
  driver = accept
  domains = +local_domains
  transport = lab_maildir

begin transports
${recipe.transport}
${bypass ? `lab_bypass_smtp:
  driver = smtp
  allow_localhost
` : ''}lab_maildir:
  driver = appendfile
  # One maildir for every local recipient: a path built from $local_part is tainted (Exim 4.94+).
  directory = ${dir}/mail/local
  maildir_format
  create_directory
  delivery_date_add
  envelope_to_add
  return_path_add
  user = ${USER}

begin retry
${recipe.retry}
`;
}

const run = (file, args, { timeout = 60000 } = {}) =>
  new Promise((resolve, reject) => {
    execFile(file, args, { timeout, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        err.message = `${path.basename(file)} ${args.join(' ')}: ${(stderr || err.message).trim()}`;
        reject(err);
      } else resolve(stdout);
    });
  });

/** One SMTP transaction to host:port (a local client handing a message to Exim). */
function submit({ host, port, helo, from, to, data }) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    const steps = [`EHLO ${helo}`, `MAIL FROM:<${from}>`, ...to.map((t) => `RCPT TO:<${t}>`), 'DATA', null, 'QUIT'];
    const replies = [];
    let buffer = '';
    let lines = [];
    socket.setEncoding('latin1');
    socket.on('data', (chunk) => {
      buffer += chunk;
      let i;
      while ((i = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        lines.push(line);
        if (/^\d{3}-/.test(line)) continue;
        const reply = lines.join('\n');
        lines = [];
        replies.push(reply);
        const expected = replies.length === 1 ? '2' : steps[replies.length - 2] === 'DATA' ? '3' : '2';
        if (reply[0] !== expected) {
          socket.destroy();
          return reject(new Error(`exim lab: ${steps[replies.length - 2] ?? 'greeting'} → ${reply}`));
        }
        const step = steps[replies.length - 1];
        if (step === undefined) continue;
        if (step === null) socket.write(`${data.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..')}\r\n.\r\n`);
        else socket.write(`${step}\r\n`);
        if (step === 'QUIT') socket.end();
      }
    });
    socket.once('error', reject);
    socket.once('close', () => {
      const id = replies.find((r) => /^250 OK id=/.test(r))?.slice('250 OK id='.length) ?? null;
      if (id) resolve({ id, replies });
      else reject(new Error(`exim lab: no message id in ${JSON.stringify(replies)}`));
    });
  });
}

/** `exim -bp` output → [{ id, sender, frozen, recipients: [address] }] (delivered ones left out). */
export function parseQueue(text) {
  const messages = [];
  for (const line of text.split('\n')) {
    const head = /^\s*\S+\s+\S+\s+(\S+-\S+-\S+)\s+<([^>]*)>(.*)$/.exec(line);
    if (head) {
      messages.push({ id: head[1], sender: head[2], frozen: /\*\*\* frozen \*\*\*/.test(head[3]), recipients: [] });
      continue;
    }
    const rcpt = /^\s+(D\s+)?(\S+@\S+)\s*$/.exec(line);
    if (rcpt && messages.length && !rcpt[1]) messages.at(-1).recipients.push(rcpt[2]);
  }
  return messages;
}

/**
 * Starts an Exim daemon on a free loopback port that hands every non-local domain to the relay.
 * @param {object} o
 * @param {{ host: string, port: number }} o.relay   where mtasts relay listens
 * @param {string[]} [o.localDomains]   delivered locally (senders live here; bounces land here)
 * @param {string[]} [o.bypassDomains]  with o.bypass: routed past the relay
 * @param {{ host: string, port: number }} [o.bypass]
 * @param {boolean} [o.multiDomain]     see eximConfig
 * @param {boolean} [o.keep]            leave the directory (also MTASTS_KEEP_LAB)
 */
export async function startExim({ relay, localDomains = ['sender.lab.test'], bypassDomains = [], bypass = null, hostName = 'exim.lab.test', multiDomain = false, keep = !!process.env.MTASTS_KEEP_LAB, readyMs = 15000 }) {
  const missing = eximMissing();
  if (missing) throw new Error(`exim lab: ${missing}`);
  const exim = findProgram('exim4');
  const owner = account(USER);
  // Spec (project rule): loopback only. IPv4: a host list item is then plainly "address::port".
  const item = (a) => {
    if (net.isIPv4(a?.host ?? '') !== true || !a.host.startsWith('127.')) throw new TypeError(`startExim: routes must point at 127.x.x.x, not ${a?.host}`);
    return `${a.host}::${a.port}`;
  };

  const dir = mkdtempSync(path.join(os.tmpdir(), 'mtasts-exim-'));
  chmodSync(dir, 0o755);
  for (const d of ['spool', 'log', 'mail']) {
    mkdirSync(path.join(dir, d), { mode: 0o750 });
    chownSync(path.join(dir, d), owner.uid, owner.gid);
  }
  const port = await freePort('127.0.0.1');
  const configFile = path.join(dir, 'exim.conf');
  const config = eximConfig({ dir, relay: item(relay), localDomains, bypassDomains, bypassRoute: bypass ? item(bypass) : null, hostName, multiDomain });
  writeFileSync(configFile, config, { mode: 0o644 });
  const pidFile = path.join(dir, 'exim.pid');

  const child = spawn(exim, ['-C', configFile, '-bdf', '-oX', String(port), '-oP', pidFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  child.once('error', () => {});
  let gone = null;
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve((gone = { code, signal }))));
  const cleanUp = () => {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  };
  const instance = { pid: () => (gone ? null : child.pid), cleanUp };
  live.add(instance);
  if (live.size === 1) process.on('exit', onExit);

  const read = (file) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  const mainlog = () => read(path.join(dir, 'log', 'mainlog'));

  let stopped = null;
  const stop = () =>
    (stopped ??= (async () => {
      if (!gone) {
        child.kill('SIGTERM');
        const escalate = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(escalate);
      }
      live.delete(instance);
      if (live.size === 0) process.off('exit', onExit);
      cleanUp();
    })());

  const deadline = Date.now() + readyMs;
  const accepts = () =>
    new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
  while (!gone && Date.now() < deadline && !(await accepts())) await new Promise((r) => setTimeout(r, 50));
  if (gone || Date.now() >= deadline) {
    keep = true;
    await stop();
    throw new Error(`exim lab: the daemon ${gone ? `exited (${gone.signal ?? gone.code})` : `did not listen on ${port}`} (directory ${dir}): ${stderr.trim()}\n${read(path.join(dir, 'log', 'paniclog'))}`);
  }

  const compose = ({ from, to, subject = '', body = '', headers = {} }) =>
    [`From: <${from}>`, `To: ${to.map((t) => `<${t}>`).join(', ')}`, `Subject: ${subject}`, `Date: ${new Date().toUTCString()}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', body, ''].join('\r\n');

  return {
    dir,
    port,
    configFile,
    config,
    mainlog,
    paniclog: () => read(path.join(dir, 'log', 'paniclog')),
    /** Hands a message to Exim over SMTP; resolves { id } (Exim's message id) once Exim took it. */
    send: (msg) => {
      const to = Array.isArray(msg.to) ? msg.to : [msg.to];
      return submit({ host: '127.0.0.1', port, helo: 'client.lab.test', from: msg.from, to, data: msg.raw ?? compose({ ...msg, to }) });
    },
    /** The queue (exim -bp): [{ id, sender, frozen, recipients: [address still undelivered] }]. */
    queue: async () => parseQueue(await run(exim, ['-C', configFile, '-bp'])),
    /** One queue run over every message, retry times or not (exim -qff); resolves when it is over. */
    runQueue: () => run(exim, ['-C', configFile, '-qff']),
    /** Runs exim with this configuration (e.g. ['-Mvh', id]). */
    exim: (args) => run(exim, ['-C', configFile, ...args]),
    /** Messages delivered locally to `localPart` (e.g. bounces to the sender), by Envelope-to: [{ file, text }]. */
    mailbox(localPart) {
      const out = [];
      const mine = new RegExp(`^Envelope-to: ${localPart.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}@`, 'mi');
      for (const sub of ['new', 'cur']) {
        const d = path.join(dir, 'mail', 'local', sub);
        let names = [];
        try {
          names = readdirSync(d).sort();
        } catch {}
        for (const name of names) {
          const text = read(path.join(d, name));
          if (mine.test(text)) out.push({ file: path.join(d, name), text });
        }
      }
      return out;
    },
    stop,
  };
}
