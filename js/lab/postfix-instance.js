// One private Postfix instance (`postfix -c DIR/etc`): its directory, its main.cf and master.cf, its
// master process, and its queue commands. The roles (receiving MX, sending MTA) are in postfix.js.
//
// Layout of DIR (a fresh temporary directory, mode 0755 so the postfix user can traverse it):
//   etc/      main.cf, master.cf, key+certificate chains, lookup tables    root, not group/other writable
//   queue/    queue_directory (Postfix makes its subdirectories at start)  root; postfix owns the subdirs
//   data/     data_directory                                               postfix, 0700
//   mail/     virtual_mailbox_base: mail/<domain>/<user>/{new,cur,tmp}    nobody (65534): virtual(8) writes as that user
//   maillog   maillog_file (postlogd): every Postfix log line, fatal errors included
//
// Process: `postfix -c DIR/etc start-fg` is our child. postfix-script runs the integrity checks and
// then `master -s` as ITS child (not exec: only as PID 1), so the master is a grandchild that stays
// in the foreground. We stop it with `postfix -c DIR/etc stop` (SIGTERM to the pid in
// queue/pid/master.pid, which stops every Postfix process of the instance), wait for our child to
// exit, and SIGKILL the master by pid when it does not. A daemonised `postfix start` is avoided on
// purpose: in a sandbox whose PID 1 reaps nothing its master and children linger as zombies.
// If the Node process exits without stop() (a test that died), an exit handler SIGTERMs every
// master still running.

import { execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { findProgram } from './peer-process.js';

const NOBODY = 65534; // virtual_uid_maps / virtual_gid_maps: the owner of delivered mail

// master.cf services every instance needs besides its smtpd listeners. chroot is "n" everywhere:
// the instance directory is not a chroot jail and need not be one on loopback.
const INTERNAL_SERVICES = `
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;

const live = new Set(); // instances started and not yet stopped: { masterPid(), cleanUp() }
const onExit = () => {
  for (const instance of live) {
    const pid = instance.masterPid();
    try {
      if (pid) process.kill(pid, 'SIGTERM');
    } catch {}
    try {
      instance.cleanUp();
    } catch {}
  }
};

/** True when Postfix is installed (the `postfix` command and its master daemon). */
export function postfixAvailable() {
  return findProgram('postfix') !== null && findProgram('postqueue') !== null;
}

/** The uid and gid of a local account, from /etc/passwd (Postfix's mail_owner must exist). */
function account(name) {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`postfix lab: no "${name}" account (is the postfix package installed?)`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Whether ::1 can be bound here (a container may have no IPv6 loopback). */
export async function hasIpv6Loopback() {
  const server = net.createServer();
  const ok = await new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => resolve(true));
  });
  if (ok) await new Promise((r) => server.close(r));
  return ok;
}

/** A TCP port free on every address of `hosts` right now (the instance binds it a moment later). */
export async function freeTcpPort(hosts) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const servers = [];
    let port = 0;
    let ok = true;
    for (const host of hosts) {
      const server = net.createServer();
      ok = await new Promise((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(port, host, () => resolve(true));
      });
      if (!ok) break;
      servers.push(server);
      port = server.address().port;
    }
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    if (ok) return port;
  }
  throw new Error(`postfix lab: no TCP port free on ${hosts.join(' and ')}`);
}

const run = (file, args, { input, timeout = 30000 } = {}) =>
  new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        err.message = `${path.basename(file)} ${args.join(' ')}: ${(stderr || err.message).trim()}`;
        reject(err);
      } else resolve(stdout);
    });
    if (input !== undefined) child.stdin.end(input);
  });

async function acceptsConnections(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

const formatMain = (main) =>
  Object.entries(main)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k} = ${Array.isArray(v) ? v.join(', ') : v}`)
    .join('\n') + '\n';

/**
 * Creates and starts an instance.
 *   label      for messages ('postfix mx', 'postfix sender')
 *   main       main.cf settings (object; arrays are joined with ", "); the directory settings are added
 *   listeners  [{ host, port, options: { name: value } }]: smtpd services in master.cf
 *   files      { name: text } written to etc/ (*.pem mode 0600: keys; other files 0644: tables)
 *   keep       leave DIR on stop (for debugging; also when MTASTS_KEEP_LAB is set)
 * Resolves once every listener accepts connections, to
 *   { dir, etc, mail, maillog(), postfix(args), postqueue(args), sendmail(args, input), reload(), stop() }
 */
export async function startInstance({ label, main, listeners, files = {}, keep = !!process.env.MTASTS_KEEP_LAB, readyMs = 30000 }) {
  const postfix = findProgram('postfix');
  if (!postfix) throw new Error(`${label}: postfix is not installed (apt-get install postfix)`);
  const owner = account('postfix');

  const dir = mkdtempSync(path.join(os.tmpdir(), 'mtasts-postfix-'));
  chmodSync(dir, 0o755);
  const etc = path.join(dir, 'etc');
  const queue = path.join(dir, 'queue');
  const data = path.join(dir, 'data');
  const mail = path.join(dir, 'mail');
  const maillogFile = path.join(dir, 'maillog');
  for (const d of [etc, queue, data, mail]) mkdirSync(d, { mode: 0o755 });
  chownSync(data, owner.uid, owner.gid);
  chmodSync(data, 0o700);
  chownSync(mail, NOBODY, NOBODY);
  writeFileSync(maillogFile, '');
  // Keys are for root only (smtpd reads them before dropping privileges); tables are read by daemons
  // running as the postfix user.
  const modeOf = (name) => (name.endsWith('.pem') ? 0o600 : 0o644);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(etc, name), text, { mode: modeOf(name) });

  writeFileSync(
    path.join(etc, 'main.cf'),
    formatMain({
      compatibility_level: '3.6',
      queue_directory: queue,
      data_directory: data,
      mail_owner: 'postfix',
      // Postfix logs to syslog unless told otherwise, and there is no syslog here: without these
      // two lines a fatal error is invisible and `postfix check` fails silently.
      maillog_file: maillogFile,
      maillog_file_prefixes: dir,
      // Spec (project rule): loopback only; no DNS either (no peer name lookups, no aliases).
      inet_interfaces: 'loopback-only',
      smtpd_peername_lookup: 'no',
      alias_maps: '',
      alias_database: '',
      mynetworks: '127.0.0.0/8 [::1]/128',
      mydestination: '',
      virtual_mailbox_base: mail,
      ...main,
    }),
  );
  const lines = listeners.map(({ host, port, options = {} }) => {
    const address = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
    const overrides = Object.entries(options).map(([k, v]) => `\n  -o ${k}=${v}`);
    return `${address} inet n - n - - smtpd${overrides.join('')}`;
  });
  writeFileSync(path.join(etc, 'master.cf'), lines.join('\n') + '\n' + INTERNAL_SERVICES);

  const cleanUp = () => {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  };
  const maillog = () => {
    try {
      return readFileSync(maillogFile, 'utf8');
    } catch {
      return '';
    }
  };
  const masterPid = () => {
    try {
      return Number(readFileSync(path.join(queue, 'pid', 'master.pid'), 'utf8').trim()) || null;
    } catch {
      return null;
    }
  };

  const child = spawn(postfix, ['-c', etc, 'start-fg'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  child.once('error', () => {});
  let gone = null;
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve((gone = { code, signal }))));
  const instance = { masterPid, cleanUp };
  live.add(instance);
  if (live.size === 1) process.on('exit', onExit);

  let stopped = null;
  const stop = () =>
    (stopped ??= (async () => {
      if (!gone) {
        await run(postfix, ['-c', etc, 'stop']).catch(() => {});
        const escalate = setTimeout(() => {
          const pid = masterPid();
          try {
            if (pid) process.kill(pid, 'SIGKILL');
          } catch {}
          child.kill('SIGKILL');
        }, 10000);
        await exited;
        clearTimeout(escalate);
      }
      live.delete(instance);
      if (live.size === 0) process.off('exit', onExit);
      cleanUp();
    })());

  // Ready when every listener accepts a TCP connection.
  const deadline = Date.now() + readyMs;
  let pending = [...listeners];
  while (pending.length && !gone && Date.now() < deadline) {
    const results = await Promise.all(pending.map((l) => acceptsConnections(l.host, l.port)));
    pending = pending.filter((_, i) => !results[i]);
    if (pending.length) await new Promise((r) => setTimeout(r, 50));
  }
  if (pending.length) {
    const log = maillog().trim().split('\n').slice(-15).join('\n');
    const why = gone ? `exited (${gone.signal ?? gone.code})` : `did not listen on ${pending.map((l) => l.port).join(', ')}`;
    keep = true; // leave the directory for a post-mortem
    await stop();
    throw new Error(`${label} ${why} (directory ${dir}): ${stderr.trim()}\n${log}`);
  }

  return {
    dir,
    etc,
    mail,
    maillog,
    masterPid,
    postfix: (args) => run(postfix, ['-c', etc, ...args]),
    postqueue: (args) => run(findProgram('postqueue'), ['-c', etc, ...args]),
    sendmail: (args, input) => run(findProgram('sendmail') ?? '/usr/sbin/sendmail', ['-C', etc, ...args], { input }),
    /** Rewrites a file in etc/ (e.g. a certificate chain) and makes the running instance use it. */
    async replaceFile(name, text) {
      writeFileSync(path.join(etc, name), text, { mode: modeOf(name) });
      await run(postfix, ['-c', etc, 'reload']);
    },
    stop,
  };
}
