// Benchmark of `mtasts relay` (issue 5, part 8); prints figures, asserts nothing about time.
//   1. throughput: N messages (--messages, default 200) from a sending Postfix to a receiving Postfix,
//      once straight (relayhost = the MX) and once through the relay process (relayhost = the relay,
//      which adds policy discovery and verified STARTTLS per message), same lab, same run:
//      wall time from the first enqueue to the last message in the maildir, messages/s, overhead.
//   2. 200 concurrent inbound sessions (--sessions) held open on the relay (EHLO each), then each
//      sends one message at once: replies counted, relay memory (VmRSS, VmHWM) before and after.
// Needs Postfix and root (private instances). Run: scripts/build && node tests/bench/relay.mjs
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { PKG, CLI } from '../js/built-package.mjs';
import { rawSmtp } from '../js/relay-client.mjs';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '200' }, sessions: { type: 'string', default: '200' } }, strict: false });
const N = Number(values.messages);
const SESSIONS = Number(values.sessions);
const { startLab, startPostfixMx, startPostfixSender, postfixAvailable } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));
if (!postfixAvailable() || process.getuid?.() !== 0) {
  console.log('bench/relay: skipped (needs postfix and root)');
  process.exit(0);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const DOMAIN = 'enforce-valid.test';
const dir = mkdtempSync(join(tmpdir(), 'mtasts-bench-relay-'));
const lab = await startLab();
writeFileSync(join(dir, 'ca.pem'), lab.caPem);
const mx = await startPostfixMx({ lab, domains: [DOMAIN], listeners: { valid: 0 } });
const port = await new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const relay = spawn(process.execPath, [CLI, 'relay', '--listen', `127.0.0.1:${port}`, '--store', `file:${join(dir, 'store')}`, '--helo', 'relay.lab.test',
  '--dns-server', lab.dns.server, '--ca-file', join(dir, 'ca.pem'), '--policy-port', String(lab.policyPort), '--smtp-port', String(mx.ports.valid),
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

const direct = await startPostfixSender({ relayhost: `[127.0.0.1]:${mx.ports.valid}` });
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

try {
  // Warm-up: Postfix processes started, the policy cached in the relay.
  await run(direct, 'warm-direct').catch(() => {});
  await run(viaRelay, 'warm-relay').catch(() => {});
  const a = await run(direct, 'direct');
  const b = await run(viaRelay, 'relay');
  console.log('throughput (sending Postfix → receiving Postfix, same lab, same run):');
  console.table([a, b]);
  console.log(`added wall time through the relay: ${(((b.seconds - a.seconds) / a.seconds) * 100).toFixed(1)} % (target ≤ 10 %)`);

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
  await direct.stop();
  await viaRelay.stop();
  await mx.stop();
  await lab.stop();
  rmSync(dir, { recursive: true, force: true });
}
