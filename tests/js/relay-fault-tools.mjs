// The fault matrix's parts, shared by relay-faults.test.mjs (Postfix in front of the relay) and
// relay-exim-faults.test.mjs (Exim in front): which recipients the MX refuses, a TCP proxy in front
// of the MX that misbehaves, the relay as a CLI process that is SIGKILLed and restarted, the fault
// plan (which message's which step kills the relay), the SMTP proxy between the local MTA and the
// relay that carries the plan out and records every attempt of every message, and the per-message
// check of the outcome against the delivery journal. Not a test file itself. Every random choice
// comes from the caller's seeded `random`: the same seed gives the same plan.

import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** What message k is sent to: a fixed fraction gets the MX's 550, 451 or 421 (while faults last). */
export function recipientOf(k, domains) {
  const domain = domains[k % domains.length];
  if (k % 20 === 0) return `bounce@${domain}`;
  if (k % 20 === 7) return `tempfail@${domain}`;
  if (k % 20 === 13) return `closing@${domain}`;
  return `user${k}@${domain}`;
}

/** The receiving Postfix's check_recipient_access map while faults last, and after. */
export const FAULT_MAP = '/^bounce@/ 550 5.1.1 no such user (fault)\n/^tempfail@/ 451 4.3.0 try again later (fault)\n/^closing@/ 421 4.3.2 closing (fault)\n';
export const CLEAN_MAP = '/^bounce@/ 550 5.1.1 no such user (fault)\n';

export const HOSTILE = ['data-2xx', 'out-of-step', 'endless', 'silent'];

/**
 * A hostile MX in place of the real one, with a certificate valid for the MX name it is asked
 * for (so the relay gets past STARTTLS and meets the misbehaviour). It never takes a message.
 */
export function hostileMx(client, mode, certFor) {
  let socket = client;
  let secure = false;
  let buffer = '';
  const reply = (text) => socket.write(`${text}\r\n`);
  const onLine = (line) => {
    const verb = line.split(' ')[0].toUpperCase();
    if (verb === 'EHLO' && secure && mode === 'endless') {
      let sent = 0;
      const more = () => {
        while (!socket.destroyed && sent < 1 << 20) {
          sent += 4096;
          if (!socket.write('250-endless\r\n'.repeat(315))) return socket.once('drain', more);
        }
      };
      more();
    } else if (verb === 'EHLO') {
      socket.write(['250-mx.hostile.test', '250-PIPELINING', '250-8BITMIME', ...(secure ? [] : ['250-STARTTLS']), '250 SIZE 100000000'].join('\r\n') + '\r\n');
    } else if (verb === 'STARTTLS' && !secure) {
      reply('220 2.0.0 go ahead');
      client.off('data', onData);
      const secured = new tls.TLSSocket(client, {
        isServer: true,
        SNICallback: (name, cb) => {
          const cert = certFor(name);
          cb(null, tls.createSecureContext({ key: cert.keyPem, cert: cert.chainPem }));
        },
      });
      secured.on('error', () => client.destroy());
      secured.on('secure', () => {
        secure = true;
        socket = secured;
        secured.on('data', onData);
      });
    } else if (verb === 'MAIL') {
      if (mode === 'out-of-step') socket.write('250 2.1.0 Ok\r\n250-stray\r\n250 stray too\r\n');
      else reply('250 2.1.0 Ok');
    } else if (verb === 'RCPT') {
      reply('250 2.1.5 Ok');
    } else if (verb === 'DATA') {
      reply('250 2.0.0 taken, honestly'); // never 354: nothing is sent, so nothing is delivered
    } else if (verb === 'QUIT') {
      reply('221 2.0.0 bye');
      socket.end();
    } else {
      reply('250 2.0.0 ok');
    }
  };
  function onData(chunk) {
    buffer += chunk.toString('latin1');
    for (let i; (i = buffer.indexOf('\r\n')) >= 0; ) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 2);
      onLine(line);
    }
  }
  client.on('data', onData);
  if (mode !== 'silent') reply('220 mx.hostile.test ESMTP');
}

/**
 * A TCP proxy in front of the MX that misbehaves while `state.faulty` is set: refuses 10 % of the
 * connections, sends 15 % to the port with the untrusted certificate, cuts 20 % after a random number
 * of bytes (up to 7000, so also in the middle of DATA), and (with `certFor`, the lab's certificate
 * for an MX name) puts a hostile MX in place of the real one for 10 % (issue 8: DATA answered 250,
 * replies out of step, endless EHLO, never a greeting; it never takes a message).
 */
export async function startFaultProxy({ valid, untrusted, random, certFor = null }) {
  const state = { faulty: true, counts: { clean: 0, refused: 0, tls: 0, cut: 0, hostile: 0 } };
  // The draws that give each kind of fault: refused, bad TLS, a cut, then each hostile MX.
  const prelude = [0.05, 0.2, 0.3, ...(certFor ? HOSTILE.map((_, i) => 0.45 + 0.025 * i + 0.001) : [])];
  const sockets = new Set();
  const onConnection = (client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    // Every kind of fault happens at least once, whatever the seed: the first faulty connections
    // take them in turn (refused, bad TLS, a cut, then each hostile MX); the rest are drawn.
    const r = !state.faulty ? 1 : prelude.length > 0 ? prelude.shift() : random();
    if (r < 0.1) {
      state.counts.refused += 1;
      client.destroy();
      return;
    }
    if (certFor && r >= 0.45 && r < 0.55) {
      state.counts.hostile += 1;
      hostileMx(client, HOSTILE[Math.floor((r - 0.45) / 0.025)] ?? 'silent', certFor);
      return;
    }
    const badTls = r < 0.25;
    const cutAfter = r >= 0.25 && r < 0.45 ? 1 + Math.floor(random() * 7000) : Infinity;
    state.counts[badTls ? 'tls' : cutAfter < Infinity ? 'cut' : 'clean'] += 1;
    const server = net.connect(badTls ? untrusted : valid, '127.0.0.1');
    sockets.add(server);
    server.on('close', () => sockets.delete(server));
    server.on('error', () => client.destroy());
    client.on('close', () => server.destroy());
    server.on('close', () => client.destroy());
    let seen = 0;
    client.on('data', (chunk) => {
      seen += chunk.length;
      // Cut before forwarding the chunk that crosses the limit: the MX never sees it.
      if (seen >= cutAfter) {
        client.destroy();
        server.destroy();
        return;
      }
      server.write(chunk);
    });
    server.pipe(client);
  };
  const servers = [net.createServer(onConnection)];
  await new Promise((resolve, reject) => {
    servers[0].once('error', reject);
    servers[0].listen(0, '127.0.0.1', resolve);
  });
  const port = servers[0].address().port;
  const v6 = net.createServer(onConnection);
  await new Promise((resolve) => {
    v6.once('error', () => resolve());
    v6.listen(port, '::1', () => {
      servers.push(v6);
      resolve();
    });
  });
  return {
    port,
    state,
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

/**
 * The relay CLI as a child process (`node <args>`) listening on 127.0.0.1:`port`.
 *   start() spawns it; up() waits until it accepts connections; kill() SIGKILLs and restarts it
 *   (the fault plan's kill points call it, through startUpstreamProxy); close() SIGTERMs it.
 *   `kills` counts the SIGKILLs.
 */
export function relayProcess({ args, port }) {
  let child = null;
  const p = {
    kills: 0,
    start() {
      child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'ignore'] });
      return child;
    },
    async up() {
      for (let i = 0; i < 200; i++) {
        const ok = await new Promise((resolve) => {
          const s = net.connect(port, '127.0.0.1');
          s.once('connect', () => (s.destroy(), resolve(true)));
          s.once('error', () => resolve(false));
        });
        if (ok) return;
        await sleep(50);
      }
      throw new Error('the relay did not come up');
    },
    /** SIGKILLs the relay now and restarts it on the same port (resolves once it is up again). */
    async kill() {
      const c = child;
      const exited = new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', r)));
      c.kill('SIGKILL');
      p.kills += 1;
      await exited;
      p.start();
      await p.up();
    },
    async close() {
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
  return p;
}

/**
 * The receiving side of a fault matrix: a private directory (`prefix`), the lab, a receiving Postfix
 * MX for `domains` whose recipient map is the FAULT_MAP (switch to CLEAN_MAP by rewriting
 * `<dir>/faults`), and the fault proxy in front of it. `lib` is the package's lab module.
 */
export async function startFaultMx({ prefix, domains, random, lib }) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'faults'), FAULT_MAP, { mode: 0o644 });
  const lab = await lib.startLab();
  writeFileSync(join(dir, 'ca.pem'), lab.caPem);
  const mx = await lib.startPostfixMx({
    lab,
    domains,
    listeners: { valid: 0, untrusted: 0 },
    main: { smtpd_recipient_restrictions: `check_recipient_access regexp:${join(dir, 'faults')}, permit_mynetworks, reject_unauth_destination` },
  });
  const proxy = await startFaultProxy({ valid: mx.ports.valid, untrusted: mx.ports.untrusted, random, certFor: (name) => lab.certFor(name) });
  return { dir, lab, mx, proxy };
}

/**
 * The steps of one message at which the plan kills the relay (seen by the SMTP proxy in front of it):
 *   rcpt   the RCPT TO of the message arrives (not passed on): killed before DATA
 *   body   its Subject line arrives in DATA (not passed on): killed in the middle of the message
 *   dot    its final "." was passed on: killed while the relay waits for the MX's reply (or just
 *          after): the only window that may leave a copy at the MX with no `delivered` in the journal
 *   reply  the relay answers the "." with a 2xx of a real delivery: the answer is swallowed and the
 *          relay killed, so the local MTA never hears it and sends the message again (RFC 1047's
 *          window): the retry must be answered "already delivered"
 */
export const KILL_STEPS = ['reply', 'dot', 'body', 'rcpt'];

/**
 * The fault plan for `n` messages from `random` (seeded): kill points { message, step }, one per
 * `every` messages, on messages with a recipient of their own (user<k>@…); the first four take the
 * steps in turn (so that each happens whatever the seed), the rest are drawn. Each kill point fires
 * once, the first time its message reaches the step.
 */
export function faultPlan({ seed, n, random, recipientOf, every = 25 }) {
  const candidates = [];
  for (let k = 0; k < n; k++) if (/^user\d+@/.test(recipientOf(k))) candidates.push(k);
  const count = Math.min(candidates.length, Math.max(KILL_STEPS.length, Math.round(n / every)));
  const kills = [];
  for (let i = 0; i < count; i++) {
    const at = Math.floor(random() * candidates.length);
    const [message] = candidates.splice(at, 1);
    const step = i < KILL_STEPS.length ? KILL_STEPS[i] : KILL_STEPS[Math.floor(random() * KILL_STEPS.length)];
    kills.push({ message, step });
  }
  kills.sort((a, b) => a.message - b.message);
  return { seed, n, kills };
}

/** The plan as one line, for the log of a run and its failure message. */
export const describePlan = (plan) => `seed ${plan.seed}: kill the relay at ${plan.kills.map((k) => `message ${k.message}'s ${k.step}`).join(', ')}`;

/**
 * The journal key of a message as the relay computes it (js/relay/delivery-journal.js
 * deliveryHasher): SHA-256 over the envelope as JSON and the DATA as smtp-server passes it on (lines
 * dot-unstuffed, each with its CRLF, without the final "."). Written out here, not imported, so that
 * a change of the relay's key is seen as a mismatch with the journal, not followed silently.
 */
function journalKey(from, accepted, lines) {
  const hash = createHash('sha256');
  hash.update(`${JSON.stringify(['mtasts-delivery-1', from, [...accepted].sort()])}\n`);
  for (const line of lines) hash.update(Buffer.from(`${line}\r\n`, 'latin1'));
  return hash.digest('hex');
}

/**
 * An SMTP proxy between the local MTA and the relay (plaintext: the relay offers no STARTTLS here).
 * It reads both directions line by line, pairs each reply with its command (PIPELINING included),
 * knows each message by its Subject (`<prefix>-<seed>-<n>`) or its own recipient, carries out the
 * plan's kill points (`kill()` SIGKILLs and restarts the relay), and records every attempt that
 * reached DATA: { n, key, reply (the reply to the ".", or null when none came), killed (a step) }.
 */
export async function startUpstreamProxy({ port, plan, kill, messageOfRecipient }) {
  const attempts = [];
  const pending = new Map(plan.kills.map((k) => [`${k.message} ${k.step}`, k]));
  const fired = [];
  let killing = Promise.resolve();
  const sockets = new Set();
  const take = (n, step) => {
    const k = pending.get(`${n} ${step}`);
    if (!k) return false;
    pending.delete(`${n} ${step}`);
    fired.push({ ...k, at: attempts.filter((a) => a.n === n).length + 1 });
    return true;
  };
  const killNow = () => {
    killing = killing.then(() => kill());
    return killing;
  };

  /** What the proxy saw of message `n`'s attempts (for a failure message). */
  const attemptsOf = (n) => attempts.filter((a) => a.n === n).map((a) => ({ reply: a.reply, killed: a.killed }));
  const isPreempted = (k) => {
    if (k.step !== 'reply') return false;
    const twoXx = attempts.filter((a) => a.n === k.message && /^2\d\d/.test(a.reply ?? '')).map((a) => /already delivered/.test(a.reply));
    return twoXx.length > 0 && twoXx.every(Boolean);
  };

  const server = net.createServer(async (client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    client.pause();
    await killing; // a connection while the relay restarts waits for it
    const relay = net.connect(port, '127.0.0.1');
    sockets.add(relay);
    relay.on('close', () => (sockets.delete(relay), client.destroy()));
    relay.on('error', () => client.destroy());
    client.on('close', () => relay.destroy());
    let dead = false;
    const die = () => {
      dead = true;
      client.destroy();
      relay.destroy();
    };
    const labels = []; // what each awaited reply answers
    let greeted = false;
    let dataMode = false;
    let tx = null; // { from, rcpts, accepted, lines, n, attempt }
    let toServer = '';
    let toClient = '';
    let reply = [];
    const finishAttempt = (record) => {
      if (tx && tx.attempt && !tx.attempt.recorded) {
        Object.assign(tx.attempt, record, { recorded: true });
        attempts.push(tx.attempt);
      }
    };
    client.on('close', () => finishAttempt({})); // a "." with no reply: an attempt without an answer

    const onClientLine = (line) => {
      if (dead) return;
      const raw = `${line}\r\n`;
      if (dataMode) {
        if (line === '.') {
          dataMode = false;
          tx.attempt = { n: tx.n, key: journalKey(tx.from, tx.accepted, tx.lines), reply: null, killed: null };
          labels.push({ kind: 'dot' });
          relay.write(raw);
          if (tx.n !== null && take(tx.n, 'dot')) {
            tx.attempt.killed = 'dot';
            killNow().then(die);
            dead = true;
          }
          return;
        }
        const content = line.startsWith('.') ? line.slice(1) : line;
        const m = /^Subject: \S*-(\d+)$/i.exec(content);
        if (m && tx.n === null) tx.n = Number(m[1]);
        tx.lines.push(content);
        if (m && take(tx.n, 'body')) {
          dead = true;
          killNow().then(die);
          return;
        }
        relay.write(raw);
        return;
      }
      const verb = line.split(/[ :]/)[0].toUpperCase();
      if (verb === 'MAIL') {
        tx = { from: /<([^>]*)>/.exec(line)?.[1] ?? '', rcpts: [], accepted: [], lines: [], n: null, attempt: null };
        labels.push({ kind: 'mail' });
      } else if (verb === 'RCPT') {
        const addr = /<([^>]*)>/.exec(line)?.[1] ?? '';
        const n = messageOfRecipient(addr);
        if (tx) tx.n ??= n;
        if (n !== null && take(n, 'rcpt')) {
          dead = true;
          killNow().then(die);
          return;
        }
        labels.push({ kind: 'rcpt', addr });
      } else if (verb === 'DATA') {
        labels.push({ kind: 'data' });
      } else {
        labels.push({ kind: 'other' });
      }
      relay.write(raw);
    };

    const onReply = (lines) => {
      if (dead) return;
      const text = lines.join('\r\n');
      const code = Number(text.slice(0, 3));
      if (!greeted) {
        greeted = true;
        client.write(`${text}\r\n`);
        return;
      }
      const label = labels.shift() ?? { kind: 'other' };
      if (label.kind === 'rcpt' && code >= 200 && code < 300 && tx) tx.accepted.push(label.addr);
      if (label.kind === 'data' && code === 354) dataMode = true;
      if (label.kind === 'dot' && tx?.attempt) {
        const real = code >= 200 && code < 300 && !/already delivered/.test(text);
        if (real && tx.n !== null && take(tx.n, 'reply')) {
          finishAttempt({ reply: text, killed: 'reply' });
          dead = true;
          killNow().then(die); // the 2xx never reaches the local MTA
          return;
        }
        finishAttempt({ reply: text });
      }
      client.write(`${text}\r\n`);
    };

    client.on('data', (chunk) => {
      toServer += chunk.toString('latin1');
      for (let i; (i = toServer.indexOf('\r\n')) >= 0; ) {
        const line = toServer.slice(0, i);
        toServer = toServer.slice(i + 2);
        onClientLine(line);
      }
    });
    relay.on('data', (chunk) => {
      toClient += chunk.toString('latin1');
      for (let i; (i = toClient.indexOf('\r\n')) >= 0; ) {
        const line = toClient.slice(0, i);
        toClient = toClient.slice(i + 2);
        reply.push(line);
        if (/^\d{3}(?: |$)/.test(line)) {
          const done = reply;
          reply = [];
          onReply(done);
        }
      }
    });
    client.resume();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    attempts,
    fired,
    /** The kill points that have not fired yet. */
    unfired: () => [...pending.values()],
    /**
     * The unfired `reply` points whose window a kill at another message's point took: the relay
     * died while it held that message's MX 250 (journaled delivered, its own 250 not yet out), so no
     * real 2xx ever reached the proxy and every answer was "already delivered". The window the
     * point was to test happened all the same; the other unfired points are missed.
     */
    preempted: () => [...pending.values()].filter(isPreempted),
    /** The unfired points that are not preempted, each with what the proxy saw of its message. */
    missed: () => [...pending.values()].filter((k) => !isPreempted(k)).map((k) => ({ ...k, attempts: attemptsOf(k.message) })),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * The per-message check of a fault matrix run (issue 14 §6): for every message, what the MX holds
 * (`copies`: subject → count), what the proxy saw (`attempts`) and what the journal says
 * (readDeliveryJournal). Returns the violations, one line each:
 *   - a retry of a message already delivered was not answered "already delivered" (a second real
 *     2xx to its ".", or any other reply to a "." after the first real 2xx);
 *   - a message at the MX more than once whose key is not among the journal's interrupted keys;
 *   - a message at the MX once whose key the journal has not as delivered.
 */
export function perMessageViolations({ subjects, copies, attempts, journal, refused }) {
  const out = [];
  const interrupted = new Set(journal.interrupted);
  subjects.forEach((subject, n) => {
    if (refused(n)) return;
    const mine = attempts.filter((a) => a.n === n);
    const keys = [...new Set(mine.map((a) => a.key))];
    let delivered = false;
    for (const a of mine) {
      if (a.reply === null) continue;
      const code = Number(a.reply.slice(0, 3));
      const already = /already delivered/.test(a.reply);
      if (delivered && !(code >= 200 && code < 300 && already)) out.push(`${subject}: a retry after its delivery was answered ${JSON.stringify(a.reply)}, not "already delivered"`);
      if (code >= 200 && code < 300 && !already) delivered = true;
    }
    const c = copies.get(subject) ?? 0;
    if (c > 1 && !keys.some((k) => interrupted.has(k))) out.push(`${subject}: ${c} copies at the MX, but its key ${keys.join('/') || '(never seen)'} is not among the journal's interrupted keys`);
    if (c === 1 && !keys.some((k) => journal.delivered.has(k))) out.push(`${subject}: at the MX, but its key ${keys.join('/') || '(never seen)'} is not journaled as delivered`);
  });
  return out;
}
