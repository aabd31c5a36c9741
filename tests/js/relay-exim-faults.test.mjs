// Issue 13, part 3: the no-loss fault matrix (relay-faults.test.mjs) once more with Exim in front.
// N messages (default 50; MTASTS_FAULT_MESSAGES) go from Exim 4.96 (js/lab/exim.js, the README's
// recipe) through `mtasts relay` (the built CLI, as a process) and a misbehaving TCP proxy to a
// receiving Postfix MX while, at random (seeded; MTASTS_FAULT_SEED): the relay is SIGKILLed and
// restarted, the MX connection is refused, cut after a random number of bytes (so also mid-DATA) or
// meets an untrusted certificate, and the MX answers 451/421 to some recipients and 550 to some.
// Then the faults stop and Exim's queue is run (exim -qff) until it is empty. Counted: every message
// is in a maildir exactly once, or came back to the sender as Exim's bounce for the MX's 550; none
// lost. A duplicate is tolerated only for a journal key with an interrupted attempt (a "." sent and
// no `delivered` after it: the relay died waiting for the MX's reply), as in relay-faults.test.mjs,
// and per message through the SMTP proxy between Exim and the relay: every retry of a delivered
// message answered "already delivered", every duplicate's key among the journal's interrupted keys.
// The relay is killed at the fault plan's points (relay-fault-tools.mjs faultPlan), not on a timer:
// MTASTS_FAULT_SEED replays the plan (printed at the start and in every failure).
// Needs root, Postfix and the Exim binary (scripts/setup); skipped with the reason otherwise.
// Run: scripts/build && node --test tests/js/relay-exim-faults.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, CLI, assertBuilt } from './built-package.mjs';
import { freePort } from '../../js/lab/peer-process.js';
import { seededRandom } from '../bench/policy-corpus.mjs';
import { CLEAN_MAP, describePlan, faultPlan, perMessageViolations, recipientOf as recipientIn, relayProcess, sleep, startFaultMx, startUpstreamProxy } from './relay-fault-tools.mjs';

assertBuilt();
const lib = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));
const { postfixAvailable, startExim, eximMissing } = lib;
const { readDeliveryJournal } = await import(pathToFileURL(join(PKG, 'js/relay/delivery-journal.js')));

const skip =
  process.getuid?.() !== 0
    ? 'private Exim and Postfix instances need root'
    : eximMissing() ?? (!postfixAvailable() ? 'postfix is not installed (scripts/setup installs it)' : false);
if (skip) console.log(`# relay-exim-faults: skipped: ${skip}`);

const N = Number(process.env.MTASTS_FAULT_MESSAGES ?? 50);
const SEED = Number(process.env.MTASTS_FAULT_SEED ?? Date.now() % 1e9);
const DOMAINS = ['enforce-valid.test', 'testing-valid.test', 'no-record.test'];
const FROM = 'alice@sender.lab.test'; // Exim's local domain: bounces land in Exim's local maildir
const random = seededRandom(SEED);
const recipientOf = (k) => recipientIn(k, DOMAINS);
const plan = faultPlan({ seed: SEED, n: N, random: seededRandom(SEED + 1), recipientOf, every: 10 });
console.log(`# relay-exim-faults plan: ${describePlan(plan)} (replay: MTASTS_FAULT_SEED=${SEED} MTASTS_FAULT_MESSAGES=${N})`);
const messageOfRecipient = (addr) => {
  const m = /^user(\d+)@/.exec(addr);
  return m ? Number(m[1]) : null;
};

let lab;
let mx;
let proxy;
let relay;
let upstream;
let exim;
let dir;

before(async () => {
  if (skip) return;
  ({ dir, lab, mx, proxy } = await startFaultMx({ prefix: 'mtasts-relay-exim-faults-', domains: DOMAINS, random, lib }));
  const port = await freePort('127.0.0.1');
  relay = relayProcess({
    port,
    args: [CLI, 'relay', '--listen', `127.0.0.1:${port}`, '--store', `file:${join(dir, 'store')}`, '--helo', 'relay.lab.test',
      '--dns-server', lab.dns.server, '--ca-file', join(dir, 'ca.pem'), '--policy-port', String(lab.policyPort),
      '--smtp-port', String(proxy.port), '--allow-private', '--refresh-interval', '0', '--log-level', 'info', '--log-file', join(dir, 'relay.log'), '--shutdown-timeout', '5',
      '--connect-timeout', '5', '--reply-timeout', '10', '--command-timeout', '20', '--data-timeout', '30'],
  });
  relay.start();
  await relay.up();
  upstream = await startUpstreamProxy({ port, plan, kill: () => relay.kill(), messageOfRecipient });
  exim = await startExim({ relay: { host: '127.0.0.1', port: upstream.port } });
});

after(async () => {
  await exim?.stop();
  await upstream?.close();
  await relay?.close();
  await proxy?.close();
  await mx?.stop();
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test(`Exim in front: no message lost under random faults (${N} messages, seed ${SEED})`, { skip, timeout: 900_000 }, async () => {
  const t0 = Date.now();
  const subjects = [];
  // Exim takes each message over SMTP and starts its delivery at once; ten at a time.
  for (let k = 0; k < N; k += 10) {
    await Promise.all(
      Array.from({ length: Math.min(10, N - k) }, (_, i) => {
        const n = k + i;
        subjects[n] = `exim-fault-${SEED}-${n}`;
        return exim.send({ from: FROM, to: [recipientOf(n)], subject: subjects[n], body: `message ${n}\n.\n..dots\n` });
      }),
    );
  }
  // Faults stay on while Exim retries (a forced queue run at a time), until the MX connections that
  // met the proxy number N and the relay was killed three times, or 15 s have passed.
  const met = () => Object.values(proxy.state.counts).reduce((a, b) => a + b, 0);
  const start = Date.now();
  while ((met() < N || upstream.missed().length > 0) && Date.now() - start < 15_000) {
    await exim.runQueue();
    await sleep(500);
  }

  // Faults off.
  const faultsEnd = Date.now();
  await relay.up();
  proxy.state.faulty = false;
  writeFileSync(join(dir, 'faults'), CLEAN_MAP, { mode: 0o644 });
  await mx.postfix(['reload']);

  // Forced queue runs until the queue is empty.
  let left = await exim.queue();
  for (let round = 0; round < 60 && left.length > 0; round++) {
    await exim.runQueue();
    left = await exim.queue();
    if (left.length) await sleep(200);
  }

  // Count.
  const delivered = new Map();
  for (const m of mx.messages()) delivered.set(m.subject, (delivered.get(m.subject) ?? 0) + 1);
  const failedLines = exim.mainlog().split('\n').filter((l) => / \*\* bounce@/.test(l));
  const bounces = exim.mailbox('alice').filter((m) => /^From: Mail Delivery System/m.test(m.text));
  const expectBounced = subjects.filter((_, k) => recipientOf(k).startsWith('bounce@')).length;
  let once = 0;
  let duplicates = 0;
  const lostList = [];
  subjects.forEach((s, k) => {
    const n = delivered.get(s) ?? 0;
    if (recipientOf(k).startsWith('bounce@')) {
      if (n > 0) lostList.push(`${s}: delivered although the MX refused it`);
      else if (!bounces.some((b) => b.text.includes(`Subject: ${s}\n`))) lostList.push(`${s}: refused by the MX, but no bounce came back`);
      return;
    }
    if (n === 1) once += 1;
    else if (n > 1) duplicates += 1;
    else lostList.push(`${s} to ${recipientOf(k)}`);
  });
  const journal = await readDeliveryJournal(join(dir, 'store', 'journal'));
  const uncertain = journal.interrupted.filter((key) => journal.delivered.has(key));
  const recognised = readFileSync(join(dir, 'relay.log'), 'utf8').split('\n').filter((l) => l.includes('"outcome":"already-delivered"')).length;
  const deferrals = exim.mainlog().split('\n').filter((l) => / == \S+ R=mtasts_relay /.test(l)).length;
  console.log(
    `# exim fault matrix (seed ${SEED}): ${N} messages: ${once} delivered once, ${duplicates} duplicated, ` +
      `${bounces.length} bounced to the sender (expected ${expectBounced}), ${lostList.length} lost; ` +
      `exim: ${deferrals} deferrals logged, queue left ${left.length}; journal: ${journal.delivered.size} delivered keys, ` +
      `${recognised}+ retries answered "already delivered", ${uncertain.length} keys with an interrupted attempt before the delivered one; ` +
      `faults: ${relay.kills} relay kills, proxy ${JSON.stringify(proxy.state.counts)}; ` +
      `phases: send+faults ${faultsEnd - t0} ms, recovery ${Date.now() - faultsEnd} ms`,
  );
  const context = `(${describePlan(plan)}; fired: ${JSON.stringify(upstream.fired)})`;
  const violations = perMessageViolations({ subjects, copies: delivered, attempts: upstream.attempts, journal, refused: (k) => recipientOf(k).startsWith('bounce@') });
  console.log(`# per message: ${upstream.attempts.length} attempts reached DATA's end, ${upstream.attempts.filter((a) => /already delivered/.test(a.reply ?? '')).length} answered "already delivered"; kill points fired: ${JSON.stringify(upstream.fired)}`);
  assert.deepEqual(violations, [], `every message, by key ${context}`);
  const preempted = upstream.preempted();
  if (preempted.length) console.log(`# kill points preempted by another kill (the relay died in that message's reply window): ${JSON.stringify(preempted)}`);
  assert.deepEqual(upstream.missed(), [], `every kill point of the plan fired (or was preempted) ${context}`);
  assert.deepEqual(left, [], `Exim's queue empties once the faults end ${context}`);
  assert.deepEqual(lostList, [], `no message lost ${context}`);
  assert.equal(failedLines.length, expectBounced, 'exactly the 550 recipients failed, once each');
  assert.equal(bounces.length, expectBounced, 'and each came back to the sender');
  assert.equal(once + duplicates + expectBounced, N);
  assert.ok(duplicates <= uncertain.length, `${duplicates} duplicates, but only ${uncertain.length} interrupted attempts in the journal`);
  assert.ok(relay.kills > 0, 'the relay was killed at least once');
  assert.ok(proxy.state.counts.cut > 0 && proxy.state.counts.tls > 0 && proxy.state.counts.hostile > 0, 'the faults happened');
  assert.ok(deferrals > 0, 'Exim saw temporary failures and retried');
});
