// The lab zone served by real unbound (LAB.md recipe), chiefly for its genuine SERVFAIL.
//
// `test.` is a static local zone holding the lab's data; every other name is refused. Each faulty
// `_mta-sts.<domain>` name becomes a stub zone whose only server is an address unbound is forbidden
// to query (`do-not-query-address`), so unbound answers SERVFAIL at once and sends nothing anywhere.
// unbound has no way to stay silent, so 'timeout' names also answer SERVFAIL here — for a resolver
// both are the same temporary DNS failure (`dns-temporary`).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TTL } from './zone.js';
import { findProgram, freePort, startPeer } from './peer-process.js';

const UNREACHABLE_STUB = '127.0.0.1@9';

/** unbound.conf text serving `zone` on `host`:`port`. */
export function unboundConf(zone, { host, port, pidFile = '' }) {
  const lines = [
    'server:',
    '  verbosity: 0',
    `  interface: ${host}`,
    `  port: ${port}`,
    '  do-ip4: yes',
    '  do-ip6: yes',
    '  do-daemonize: no',
    '  username: ""',
    '  chroot: ""',
    '  use-syslog: no',
    '  logfile: ""',
    `  pidfile: "${pidFile}"`,
    '  module-config: "iterator"',
    '  do-not-query-address: 0.0.0.0/0',
    '  do-not-query-address: ::/0',
    '  access-control: 127.0.0.0/8 allow',
    '  access-control: ::1/128 allow',
    '  local-zone: "." refuse',
    '  local-zone: "test." static',
  ];
  for (const [name, rr] of zone.names) {
    const owner = `${name}. ${TTL} IN`;
    for (const strings of rr.TXT) lines.push(`  local-data: '${owner} TXT ${strings.map(quoteTxt).join(' ')}'`);
    for (const mx of rr.MX) lines.push(`  local-data: '${owner} MX ${mx.preference} ${mx.exchange}.'`);
    for (const a of rr.A) lines.push(`  local-data: '${owner} A ${a}'`);
    for (const a of rr.AAAA) lines.push(`  local-data: '${owner} AAAA ${a}'`);
  }
  // A local zone takes precedence over a stub; `transparent` lets the faulty names reach their stub.
  for (const [name] of zone.faults) lines.push(`  local-zone: "${name}." transparent`);
  lines.push('remote-control:', '  control-enable: no');
  for (const [name] of zone.faults) lines.push('stub-zone:', `  name: "${name}."`, `  stub-addr: ${UNREACHABLE_STUB}`);
  return lines.join('\n') + '\n';
}

function quoteTxt(s) {
  if (s.includes("'")) throw new Error(`unbound.conf cannot carry the TXT string ${JSON.stringify(s)} (single quote)`);
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * Runs unbound over `zone` on a free port (its conf in a temporary directory removed on stop).
 * Returns { pid, host, port, server, stop() }, or throws { code: 'ENOENT' } when unbound is missing.
 */
export async function startUnbound(zone, { host, port, probe }) {
  const file = findProgram('unbound');
  if (!file) throw Object.assign(new Error('unbound is not installed (apt-get install unbound)'), { code: 'ENOENT' });
  const p = port || (await freePort(host));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mtasts-lab-unbound-'));
  const conf = path.join(dir, 'unbound.conf');
  writeFileSync(conf, unboundConf(zone, { host, port: p, pidFile: path.join(dir, 'unbound.pid') }));
  try {
    const peer = await startPeer({ label: 'unbound', file, args: ['-d', '-c', conf], host, port: p, probe });
    return {
      ...peer,
      async stop() {
        await peer.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
