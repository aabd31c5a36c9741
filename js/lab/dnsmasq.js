// The lab zone served by real dnsmasq (LAB.md recipe): TXT, MX, A/AAAA, NXDOMAIN inside `test.`,
// REFUSED outside (nothing is forwarded).
//
// dnsmasq cannot make a name time out or fail by itself, so the faulty `_mta-sts.<domain>` names are
// forwarded to the lab's embedded DNS server (`--server=/name/host#port`), which drops ('timeout') or
// answers SERVFAIL ('servfail') for exactly those names.

import os from 'node:os';
import { findProgram, freePort, startPeer } from './peer-process.js';

/**
 * The arguments (without the program name) for `dnsmasq` serving `zone` on `host`:`port`.
 * `faultServer` is { host, port } of the embedded server answering the faulty names.
 */
export function dnsmasqArgs(zone, { host, port, pidFile, faultServer }) {
  const identity = process.getuid?.() === 0 ? ['--user=root', '--group=root'] : [`--user=${os.userInfo().username}`];
  const args = [
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--no-poll',
    `--listen-address=${host}`,
    '--bind-interfaces',
    `--port=${port}`,
    pidFile ? `--pid-file=${pidFile}` : '--pid-file', // with no value: write no pid file
    ...identity,
    '--local=/test/',
  ];
  for (const [name, rr] of zone.names) {
    for (const strings of rr.TXT) args.push(`--txt-record=${name},${strings.map(checkTxtString).join(',')}`);
    for (const mx of rr.MX) args.push(`--mx-host=${name},${mx.exchange},${mx.preference}`);
    const addresses = [...rr.A, ...rr.AAAA];
    if (addresses.length) args.push(`--host-record=${name},${addresses.join(',')}`);
  }
  for (const [name] of zone.faults) {
    args.push(`--server=/${name}/${faultServer.host}#${faultServer.port}`);
  }
  return args;
}

// On dnsmasq's command line a comma separates character-strings and there is no quoting.
function checkTxtString(s) {
  if (/[,"\\]/.test(s)) throw new Error(`dnsmasq cannot carry the TXT string ${JSON.stringify(s)} (comma, quote or backslash)`);
  return s;
}

/**
 * Runs dnsmasq over `zone` on a free port. Returns { pid, host, port, server, stop() }, or throws
 * { code: 'ENOENT' } when dnsmasq is not installed.
 */
export async function startDnsmasq(zone, { host, faultServer, pidFile, port, probe }) {
  const file = findProgram('dnsmasq');
  if (!file) throw Object.assign(new Error('dnsmasq is not installed (apt-get install dnsmasq-base)'), { code: 'ENOENT' });
  const p = port || (await freePort(host));
  const args = dnsmasqArgs(zone, { host, port: p, pidFile, faultServer });
  return startPeer({ label: 'dnsmasq', file, args, host, port: p, probe });
}
