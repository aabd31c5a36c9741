// Benchmark of `mtasts relay` (issue 5, part 8); prints figures, asserts nothing about time.
//   1. throughput: N messages (--messages, default 200) from a sending Postfix to a receiving Postfix,
//      same lab, same run, like for like: straight over verified STARTTLS (relayhost = the MX's TLS
//      listener, smtp_tls_security_level secure with the lab CA and the MX's name), through the relay
//      process (relayhost = the relay: policy look-up, verified STARTTLS, the delivery journal's two
//      fsyncs per message), and straight in plaintext as an extra row: wall time from the first
//      enqueue to the last message in the maildir, messages/s, overhead of the relay against both.
//      --rounds R (default 3) rounds, the three paths in turn within each round (the order rotating),
//      the median per path reported: one run on a shared machine varies by ±15 %.
//   2. 200 concurrent inbound sessions (--sessions) held open on the relay (EHLO each), then each
//      sends one message at once: replies counted, relay memory (VmRSS, VmHWM) before and after.
// Needs Postfix and root (private instances). Run: scripts/build && node tests/bench/relay.mjs
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { PKG, CLI } from '../js/built-package.mjs';
import { rawSmtp } from '../js/relay-client.mjs';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '200' }, sessions: { type: 'string', default: '200' }, rounds: { type: 'string', default: '3' } }, strict: false });
const N = Number(values.messages);
const SESSIONS = Number(values.sessions);
const ROUNDS = Math.max(1, Number(values.rounds) || 3);
const { startLab, startPostfixMx, startPostfixSender, postfixAvailable } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));
if (!postfixAvailable() || process.getuid?.() !== 0) {
  console.log('bench/relay: skipped (needs postfix and root)');
  process.exit(0);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const DOMAIN = 'enforce-valid.test';
const dir = mkdtempSync(join(tmpdir(), 'mtasts-bench-relay-'));
chmodSync(dir, 0o755); // the sending Postfix reads the lab CA from here
const lab = await startLab();
writeFileSync(join(dir, 'ca.pem'), lab.caPem, { mode: 0o644 });
const mx = await startPostfixMx({ lab, domains: [DOMAIN], listeners: { valid: 0 } });
const port = await new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const relay = spawn(process.execPath, [CLI, 'relay', '--listen', `127.0.0.1:${port}`, '--store', `file:${join(dir, 'store')}`, '--helo', 'relay.lab.test',
  '--dns-server', lab.dns.server, '--ca-file', join(dir, 'ca.pem'), '--policy-port', String(lab.policyPort), '--smtp-port', String(mx.ports.valid), '--allow-private',
  '--log-level', 'warn', '--refresh-interval', '0', '--max-clients', String(SESSIONS + 50)], { stdio: ['ignore', 'ignore', 'inherit'] });
for (let i = 0; i < 200; i++) {
  const up = await new Promise((r) => net.connect(port, '127.0.0.1').once('connect', function () { this.destroy(); r(true); }).once('error', () => r(false)));
  if (up) break;
  await sleep(50);
}
const memory = () => {
  const status = readFileSync(`/proc/${relay.pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { rssMiB: (kb('VmRSS') / 1024).toFixed(1), peakMiB: (kb('VmHWM') / 1024).toFixed(1) };
};

const mxRelayhost = `[127.0.0.1]:${mx.ports.valid}`;
// Postfix's "secure" level: STARTTLS required, the chain checked against the lab CA and the name
// checked against the MX's host name (what the relay does under an enforce policy, RFC 8461 §4.2).
const directTls = await startPostfixSender({
  relayhost: mxRelayhost,
  main: {
    smtp_tls_CAfile: join(dir, 'ca.pem'),
    smtp_tls_security_level: 'secure',
    smtp_tls_policy_maps: `inline:{{${mxRelayhost} = secure match=mx1.${DOMAIN}}}`,
    smtp_tls_loglevel: 1,
  },
});
const directPlain = await startPostfixSender({ relayhost: mxRelayhost });
const viaRelay = await startPostfixSender({ relayhost: `[127.0.0.1]:${port}` });

async function run(sender, label) {
  const prefix = `${label}-${Date.now()}`;
  const count = () => mx.messages().filter((m) => m.subject?.startsWith(prefix)).length;
  const t0 = performance.now();
  for (let k = 0; k < N; k += 20) {
    await Promise.all(Array.from({ length: Math.min(20, N - k) }, (_, i) =>
      sender.send({ from: 'bench@no-record.test', to: [`user${k + i}@${DOMAIN}`], subject: `${prefix}-${k + i}`, body: 'x'.repeat(2000) })));
  }
  while (count() < N) await sleep(20);
  const ms = performance.now() - t0;
  return { label, messages: N, seconds: (ms / 1000).toFixed(2), perSecond: (N / (ms / 1000)).toFixed(1) };
}

/** Whether the sending Postfix logged a verified TLS connection to the MX ("secure" level). */
const tlsSeen = () => /Verified TLS connection established to/.test(directTls.maillog());

try {
  // Warm-up: Postfix processes started, the policy cached in the relay.
  await run(directTls, 'warm-direct-tls');
  await run(directPlain, 'warm-direct-plain');
  await run(viaRelay, 'warm-relay');
  const tlsOk = tlsSeen();
  const paths = [
    [directTls, 'direct over verified STARTTLS'],
    [viaRelay, 'through the relay (verified STARTTLS)'],
    [directPlain, 'direct in plaintext'],
  ];
  const times = paths.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < paths.length; i++) {
      const p = (i + r) % paths.length;
      times[p].push(Number((await run(paths[p][0], `${paths[p][1]} round ${r}`)).seconds));
    }
  }
  const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const [a, b, c] = paths.map(([, label], p) => {
    const sec = median(times[p]);
    return { label, messages: N, seconds: sec.toFixed(2), perSecond: (N / sec).toFixed(1), runs: times[p].map((t) => t.toFixed(2)).join(' ') };
  });
  const added = (x, y) => `${(((Number(x.seconds) - Number(y.seconds)) / Number(y.seconds)) * 100).toFixed(1)} %`;
  console.log(`throughput (sending Postfix → receiving Postfix, same lab, same run; median of ${ROUNDS} rounds):`);
  console.table([a, b, c]);
  if (!tlsOk) console.log('warning: the receiving Postfix logged no TLS connection: the direct TLS row may not be TLS');
  console.log(`added wall time through the relay vs direct over STARTTLS (like for like): ${added(b, a)} (target ≤ 10 %)`);
  console.log(`added wall time through the relay vs direct in plaintext: ${added(b, c)}`);

  const before = memory();
  const sessions = await Promise.all(Array.from({ length: SESSIONS }, () => rawSmtp(port)));
  let ehloOk = 0;
  await Promise.all(sessions.map(async (c) => (/^250/.test(await c.cmd('EHLO bench.test')) ? ehloOk++ : 0)));
  const held = memory();
  let delivered = 0;
  const failures = {};
  await Promise.all(sessions.map(async (c, i) => {
    const steps = [['MAIL FROM:<bench@no-record.test>', /^250/], [`RCPT TO:<c${i}@${DOMAIN}>`, /^250/], ['DATA', /^354/]];
    for (const [line, ok] of steps) {
      const r = await c.cmd(line);
      if (!ok.test(r ?? '')) return (failures[r ?? 'closed'] = (failures[r ?? 'closed'] ?? 0) + 1);
    }
    c.write(`Subject: concurrent ${i}\r\n\r\n${'y'.repeat(2000)}\r\n.\r\n`);
    const r = await c.next();
    if (/^250/.test(r ?? '')) delivered++;
    else failures[r ?? 'closed'] = (failures[r ?? 'closed'] ?? 0) + 1;
    await c.cmd('QUIT');
  }));
  const after = memory();
  console.log(`${SESSIONS} concurrent inbound sessions: EHLO answered ${ehloOk}/${SESSIONS}; one message each at once: ${delivered} delivered (250)` +
    (Object.keys(failures).length ? `, failures ${JSON.stringify(failures)}` : ', no errors'));
  console.log(`relay memory: idle ${before.rssMiB} MiB, ${SESSIONS} sessions held ${held.rssMiB} MiB, after the burst ${after.rssMiB} MiB (peak ${after.peakMiB} MiB)`);
} finally {
  relay.kill('SIGTERM');
  await new Promise((r) => relay.once('exit', r));
  await directTls.stop();
  await directPlain.stop();
  await viaRelay.stop();
  await mx.stop();
  await lab.stop();
  rmSync(dir, { recursive: true, force: true });
}
