// Issue 13: Exim (the research system's MTA) in front of `mtasts relay`, end to end beside Postfix.
// Exim 4.96 (js/lab/exim.js, the README's recipe) → a recording TCP proxy → the relay from the built
// package → a receiving Postfix MX with STARTTLS and a lab certificate; DNS and policies from the lab.
// Shown: the message lands with the trace header although Exim half-closes after its "." and QUIT
// (the proxy records it); an enforce domain whose MX has a bad certificate stays in Exim's queue with
// the relay's 451 4.7.5 in Exim's log and is delivered after the fix and `exim -qff`; a testing domain
// with the same certificate is delivered and recorded for TLS-RPT; recipients in two domains reach
// both, with the recipe (one transaction per domain) and with Exim's default (the relay's 452 4.5.3
// and what Exim does with it); the MX's 550 comes back to the sender as Exim's bounce, tried once.
// The README's Exim recipe is checked against eximRelayRecipe() (that part needs no Exim).
//
// Needs root, Postfix and the Exim binary (scripts/setup); skipped with the reason otherwise.
// Run: scripts/build && node --test tests/js/relay-exim.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { PKG, ROOT, assertBuilt } from './built-package.mjs';

assertBuilt();
const load = (p) => import(pathToFileURL(join(PKG, p)));
const { startLab, startPostfixMx, postfixAvailable, startExim, eximConfig, eximRelayRecipe, eximMissing } = await load('js/lab/index.js');
const { startRelay } = await load('js/relay/server.js');
const { resolveConfig } = await load('js/relay/config.js');
const { createLogger } = await load('js/relay/log.js');

const skip =
  process.getuid?.() !== 0
    ? 'private Exim and Postfix instances need root'
    : eximMissing() ?? (!postfixAvailable() ? 'postfix is not installed (apt-get install postfix; scripts/setup installs it)' : false);
if (skip) console.log(`# relay-exim: skipped: ${skip}`);

const ENFORCE = 'enforce-valid.test';
const TESTING = 'testing-valid.test';
const NONE = 'no-record.test';
const BYPASS = 'bypass.lab.test'; // the relay's own domain in this lab: Exim routes it past the relay
const FROM = 'alice@sender.lab.test';
const TODAY = () => new Date().toISOString().slice(0, 10);

/** The fenced block after "Exim" in README.md's relay section. */
function readmeEximRecipe() {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## mtasts relay'), readme.indexOf('\n## ', readme.indexOf('## mtasts relay') + 1));
  const at = section.search(/^Exim \(the research system's MTA/m);
  assert.ok(at >= 0, 'README.md: the relay section has an Exim paragraph');
  const block = /```\n([\s\S]*?)```/.exec(section.slice(at));
  assert.ok(block, 'README.md: the Exim paragraph is followed by a fenced block');
  return block[1];
}

test('the README\'s Exim recipe is eximRelayRecipe(), which the lab\'s Exim runs', { timeout: 600_000 }, () => {
  const readme = readmeEximRecipe();
  const recipe = eximRelayRecipe();
  for (const [part, text] of Object.entries(recipe)) assert.ok(readme.includes(`${text}\n`), `README.md lacks the recipe's ${part}:\n${text}\n--- README block:\n${readme}`);
  // And the generated configuration contains each part, with the relay's real port, in its section.
  const config = eximConfig({ dir: '/x', relay: '127.0.0.1::4242', localDomains: ['sender.lab.test'] });
  const real = eximRelayRecipe({ relay: '127.0.0.1::4242', bypassDomains: [] });
  const sectionOf = (text) => {
    const at = config.indexOf(text);
    assert.ok(at >= 0, `the generated config lacks:\n${text}`);
    return [...config.slice(0, at).matchAll(/^begin (\w+)$/gm)].at(-1)?.[1] ?? 'main';
  };
  assert.equal(sectionOf(real.main), 'main');
  assert.equal(sectionOf(real.router), 'routers');
  assert.equal(sectionOf(real.transport), 'transports');
  assert.equal(sectionOf(real.retry), 'retry');
  assert.ok(config.indexOf(real.router) < config.indexOf('lab_local:'), 'the relay router comes first');
});

/**
 * A TCP proxy in front of the relay that records, per connection, what each side sent and when each
 * side half-closed (allowHalfOpen: a FIN is passed on as a FIN, so the relay sees what Exim does).
 */
async function startRecordingProxy(target) {
  const sessions = [];
  const sockets = new Set();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const s = { events: [] };
    sessions.push(s);
    const at = () => performance.now();
    const up = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    for (const x of [client, up]) {
      sockets.add(x);
      x.once('close', () => sockets.delete(x));
    }
    client.on('data', (d) => {
      s.events.push({ from: 'exim', at: at(), text: d.toString('latin1') });
      up.write(d);
    });
    up.on('data', (d) => {
      s.events.push({ from: 'relay', at: at(), text: d.toString('latin1') });
      client.write(d);
    });
    client.on('end', () => {
      s.events.push({ from: 'exim', at: at(), fin: true });
      up.end();
    });
    up.on('end', () => {
      s.events.push({ from: 'relay', at: at(), fin: true });
      client.end();
    });
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: '127.0.0.1',
    port: server.address().port,
    sessions,
    close: () => {
      for (const x of sockets) x.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

/** A session's exchange as text, for failure messages. */
const transcript = (s) => s.events.map((e) => `${e.from}: ${e.fin ? '<FIN>' : JSON.stringify(e.text)}`).join('\n');

describe('Exim → mtasts relay → receiving Postfix', { skip }, () => {
  let lab;
  let mx;
  let relay;
  let proxy;
  let exim;
  let dir;
  const logs = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtasts-relay-exim-'));
    lab = await startLab();
    writeFileSync(join(dir, 'ca.pem'), lab.caPem);
    writeFileSync(join(dir, 'refuse'), '/^refuse@/ 550 5.1.1 no such user here\n');
    mx = await startPostfixMx({
      lab,
      domains: [ENFORCE, TESTING, NONE, BYPASS],
      listeners: { valid: 0 },
      main: { smtpd_recipient_restrictions: `check_recipient_access regexp:${join(dir, 'refuse')}, permit_mynetworks, reject_unauth_destination` },
    });
    const config = resolveConfig({}, {
      listen: ['127.0.0.1:0'],
      store: `file:${join(dir, 'store')}`,
      helo: 'relay.lab.test',
      dnsServers: [lab.dns.server],
      caFile: join(dir, 'ca.pem'),
      policyPort: lab.policyPort,
      smtpPort: mx.ports.valid,
      allowPrivate: true,
      refreshInterval: 0,
      shutdownTimeout: 5,
      // A new MX connection per message: the certificate swap below must meet a new handshake.
      reuseIdle: 0,
    });
    relay = await startRelay(config, { logger: createLogger({ level: 'info', stream: { write: (l) => logs.push(JSON.parse(l)) } }) });
    proxy = await startRecordingProxy(relay.addresses[0]);
    exim = await startExim({ relay: proxy, bypassDomains: [BYPASS], bypass: { host: '127.0.0.1', port: mx.ports.valid } });
  });

  after(async () => {
    await exim?.stop();
    await proxy?.close();
    await relay?.close();
    await mx?.stop();
    await lab?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const landed = (subject, n = 1) => mx.waitForMessages((all) => all.filter((m) => m.subject === subject).length >= n);
  const logLines = (id) => exim.mainlog().split('\n').filter((l) => l.includes(` ${id} `));
  async function until(check, what, tries = 200) {
    for (let i = 0; i < tries; i++) {
      const v = await check();
      if (v) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`timed out waiting for ${what}\n--- exim mainlog:\n${exim.mainlog().split('\n').slice(-15).join('\n')}`);
  }
  const emptyQueue = () => until(async () => (await exim.queue()).length === 0, 'an empty Exim queue');

  test('the running configuration is the recipe with the relay\'s port', { timeout: 600_000 }, () => {
    const real = eximRelayRecipe({ relay: `127.0.0.1::${proxy.port}`, bypassDomains: [BYPASS] });
    for (const text of Object.values(real)) assert.ok(exim.config.includes(text), text);
  });

  test('a message lands with the trace header; Exim half-closed after "." and QUIT and still got the 250', { timeout: 600_000 }, async () => {
    const subject = `exim e2e ${Date.now()}`;
    const { id } = await exim.send({ from: FROM, to: [`bob@${ENFORCE}`], subject, body: 'through the relay' });
    const [m] = (await landed(subject)).filter((x) => x.subject === subject);
    assert.equal(m.to, `bob@${ENFORCE}`);
    assert.match(m.text, /^MTA-STS-Verify: verified; domain=enforce-valid\.test; mode=enforce; id=20240101T000000; mx=mx1\.enforce-valid\.test; tls=TLSv1\.[23]$/m);
    await emptyQueue();
    assert.ok(logLines(id).some((l) => /=> bob@enforce-valid\.test R=mtasts_relay T=mtasts_relay_smtp .* C="250 2\.0\.0 .*\[mx1\.enforce-valid\.test\]"/.test(l)), logLines(id).join('\n'));
    // What Exim did on the wire: the message's "." with QUIT behind it, its FIN, and only then the
    // relay's 250 and 221 (the case issue 13 was about).
    const s = proxy.sessions.find((x) => x.events.some((e) => e.from === 'exim' && e.text?.includes(`Subject: ${subject}`)));
    assert.ok(s, 'the proxy saw the transaction');
    const dot = s.events.findIndex((e) => e.from === 'exim' && /\r\n\.\r\nQUIT\r\n$/.test(e.text ?? ''));
    const fin = s.events.findIndex((e) => e.from === 'exim' && e.fin);
    const reply = s.events.findIndex((e) => e.from === 'relay' && /^250 2\.0\.0 /m.test(e.text ?? '') && e.at >= (s.events[dot]?.at ?? Infinity));
    assert.ok(dot >= 0 && fin > dot && reply > fin, `expected ".\\r\\nQUIT", FIN, then the 250:\n${transcript(s)}`);
    assert.match(s.events.slice(reply).map((e) => e.text ?? '').join(''), /^221 /m);
  });

  test('enforce + bad certificate: in Exim\'s queue with the relay\'s 451 4.7.5 in its log; delivered after the fix and -qff', { timeout: 600_000 }, async () => {
    const good = mx.certs.valid;
    const subject = `exim enforce bad cert ${Date.now()}`;
    let id;
    await mx.replaceCertificate('valid', mx.certs.untrusted);
    try {
      ({ id } = await exim.send({ from: FROM, to: [`erin@${ENFORCE}`], subject, body: 'must wait' }));
      const deferred = await until(() => logLines(id).find((l) => / == erin@enforce-valid\.test R=mtasts_relay T=mtasts_relay_smtp defer/.test(l)), 'the defer line');
      assert.match(deferred, /451 4\.7\.5 MTA-STS enforce-valid\.test \(mode enforce\) via mx\d\.enforce-valid\.test: certificate-not-trusted/);
      const queued = (await exim.queue()).find((q) => q.id === id);
      assert.ok(queued, 'still in Exim\'s queue');
      assert.deepEqual(queued.recipients, [`erin@${ENFORCE}`]);
      assert.ok(!mx.messages().some((m) => m.subject === subject), 'nothing delivered under enforce');
    } finally {
      await mx.replaceCertificate('valid', good);
    }
    await exim.runQueue();
    await landed(subject);
    await emptyQueue();
    assert.ok(logLines(id).some((l) => /=> erin@enforce-valid\.test R=mtasts_relay/.test(l)), logLines(id).join('\n'));
  });

  test('testing + bad certificate: delivered unverified and recorded for TLS-RPT', { timeout: 600_000 }, async () => {
    const good = mx.certs.valid;
    const subject = `exim testing bad cert ${Date.now()}`;
    await mx.replaceCertificate('valid', mx.certs.untrusted);
    try {
      await exim.send({ from: FROM, to: [`frank@${TESTING}`], subject, body: 'may go' });
      const [t] = (await landed(subject)).filter((m) => m.subject === subject);
      assert.match(t.text, /^MTA-STS-Verify: unverified; domain=testing-valid\.test; mode=testing; /m);
    } finally {
      await mx.replaceCertificate('valid', good);
    }
    const records = await relay.tlsrpt.list(TESTING, TODAY());
    assert.ok(records.some((r) => r.kind === 'session' && r.result === 'certificate-not-trusted' && r.policyType === 'sts'), JSON.stringify(records));
    await emptyQueue();
  });

  /** Sends to one recipient in each of ENFORCE and NONE; resolves the proxy sessions it used and when each landed. */
  async function twoDomains(via, label) {
    const subject = `exim two domains ${label} ${Date.now()}`;
    const first = via.proxy.sessions.length;
    const t0 = performance.now();
    const { id } = await via.exim.send({ from: FROM, to: [`carol@${ENFORCE}`, `dave@${NONE}`], subject, body: 'two' });
    const at = {};
    await until(() => {
      for (const m of mx.messages().filter((x) => x.subject === subject)) at[m.to] ??= performance.now() - t0;
      return Object.keys(at).length === 2;
    }, `both recipients of "${subject}" (without a queue run)`);
    await until(async () => !(await via.exim.queue()).some((q) => q.id === id), 'the message off the queue');
    return { id, at, sessions: via.proxy.sessions.slice(first) };
  }

  test('two domains with the recipe (multi_domain = false): one transaction per domain, no 452, both at once', { timeout: 600_000 }, async () => {
    const { id, at, sessions } = await twoDomains({ exim, proxy }, 'recipe');
    const all = sessions.map(transcript).join('\n');
    assert.doesNotMatch(all, /452 4\.5\.3/, 'the relay never had to refuse a second domain');
    assert.equal((all.match(/RCPT TO:/g) ?? []).length, 2, `one RCPT per transaction:\n${all}`);
    assert.equal(sessions.filter((x) => /MAIL FROM:/.test(transcript(x))).length, 2, 'two transactions');
    assert.equal(logLines(id).filter((l) => / => /.test(l)).length, 2);
    console.log(`# two domains, recipe: landed after ${Object.entries(at).map(([k, v]) => `${k} ${Math.round(v)} ms`).join(', ')}; ${sessions.length} relay connection(s)`);
  });

  test('two domains with Exim\'s default (multi_domain = true): the relay\'s 452 4.5.3, and Exim sends the second domain at once on the same connection', { timeout: 600_000 }, async () => {
    const other = await startExim({ relay: proxy, multiDomain: true });
    try {
      const { at, sessions } = await twoDomains({ exim: other, proxy }, 'default');
      const s = sessions.find((x) => /452 4\.5\.3/.test(transcript(x)));
      assert.ok(s, `the relay answered the second domain's RCPT with 452 4.5.3:\n${sessions.map(transcript).join('\n---\n')}`);
      const t = transcript(s);
      assert.equal((t.match(/MAIL FROM:/g) ?? []).length, 2, `a second transaction on the same connection:\n${t}`);
      const refusedAt = s.events.find((e) => e.from === 'relay' && /452 4\.5\.3/.test(e.text ?? '')).at;
      const ends = s.events.filter((e) => e.from === 'relay' && /^250 2\.0\.0 .*\[mx1\./m.test(e.text ?? ''));
      assert.equal(ends.length, 2, t);
      console.log(`# two domains, Exim default: landed after ${Object.entries(at).map(([k, v]) => `${k} ${Math.round(v)} ms`).join(', ')}; the second recipient waited ${Math.round(ends[1].at - refusedAt)} ms from the relay's 452 to its 250; ${sessions.length} relay connection(s)`);
    } finally {
      await other.stop();
    }
  });

  test('local mail and the bypass domain stay out of the relay', { timeout: 600_000 }, async () => {
    const subject = `exim not relayed ${Date.now()}`;
    const sessions = proxy.sessions.length;
    const local = await exim.send({ from: FROM, to: ['gina@sender.lab.test'], subject, body: 'local' });
    const bypassed = await exim.send({ from: FROM, to: [`hank@${BYPASS}`], subject, body: 'bypass' });
    const [m] = (await landed(subject)).filter((x) => x.subject === subject);
    assert.equal(m.to, `hank@${BYPASS}`);
    assert.doesNotMatch(m.text, /^MTA-STS-Verify:/m, 'not through the relay');
    await until(() => exim.mailbox('gina').some((x) => x.text.includes(subject)), 'the local delivery');
    assert.ok(logLines(local.id).some((l) => / => gina <gina@sender\.lab\.test> R=lab_local T=lab_maildir/.test(l)), logLines(local.id).join('\n'));
    assert.ok(logLines(bypassed.id).some((l) => new RegExp(` => hank@${BYPASS.replaceAll('.', '\\.')} R=mtasts_bypass T=lab_bypass_smtp`).test(l)), logLines(bypassed.id).join('\n'));
    assert.equal(proxy.sessions.length, sessions, 'no connection to the relay');
  });

  test('the MX\'s 550 comes back to the sender as Exim\'s bounce, after one attempt', { timeout: 600_000 }, async () => {
    const subject = `exim refused ${Date.now()}`;
    const before = exim.mailbox('alice').length;
    const { id } = await exim.send({ from: FROM, to: [`refuse@${ENFORCE}`], subject, body: 'no such user' });
    const failed = await until(() => logLines(id).find((l) => / \*\* refuse@enforce-valid\.test /.test(l)), 'the failure line');
    assert.match(failed, /R=mtasts_relay T=mtasts_relay_smtp .*550 5\.1\.1 .*no such user here/);
    const bounce = await until(() => exim.mailbox('alice').slice(before).find((m) => m.text.includes(subject)), 'the bounce in alice\'s mailbox');
    assert.match(bounce.text, /^From: Mail Delivery System <Mailer-Daemon@/m);
    assert.match(bounce.text, /refuse@enforce-valid\.test/);
    assert.match(bounce.text, /550 5\.1\.1/);
    await emptyQueue();
    assert.equal(logLines(id).filter((l) => /refuse@enforce-valid\.test R=mtasts_relay/.test(l)).length, 1, 'one attempt, no retries');
    assert.ok(!(await exim.queue()).some((q) => q.id === id));
  });
});
