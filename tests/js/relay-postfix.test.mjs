// Issue 5, part 5: real Postfix on both sides of `mtasts relay` (js/lab/postfix.js). A sending
// Postfix with relayhost = [127.0.0.1]:<relay port> → the relay from the built package → a receiving
// Postfix MX with STARTTLS and a lab certificate; DNS and policies from the lab.
// Shown: the message lands in the receiver's maildir with the trace header; an enforce domain whose
// MX has a bad certificate stays deferred in the sender's queue (postqueue shows the relay's reason)
// and is delivered once the certificate is fixed and the queue flushed; a testing domain with the
// same bad certificate is delivered and the failure recorded; recipients in two domains reach both.
//
// Needs Postfix and root (as postfix-mx.test.mjs); skipped with a message otherwise.
// Run: scripts/build && node --test tests/js/relay-postfix.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, assertBuilt } from './built-package.mjs';

assertBuilt();
const load = (p) => import(pathToFileURL(join(PKG, p)));
const { startLab, startPostfixMx, startPostfixSender, postfixAvailable } = await load('js/lab/index.js');
const { startRelay } = await load('js/relay/server.js');
const { resolveConfig } = await load('js/relay/config.js');
const { createLogger } = await load('js/relay/log.js');

const skip = !postfixAvailable()
  ? 'postfix is not installed (apt-get install postfix; .ci/run installs it)'
  : process.getuid?.() !== 0
    ? 'private Postfix instances need root'
    : false;
if (skip) console.log(`# relay-postfix: skipped: ${skip}`);

const ENFORCE = 'enforce-valid.test';
const TESTING = 'testing-valid.test';
const NONE = 'no-record.test';
const TODAY = () => new Date().toISOString().slice(0, 10);

describe('sending Postfix → mtasts relay → receiving Postfix', { skip }, () => {
  let lab;
  let mx;
  let relay;
  let sender;
  let dir;
  const logs = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtasts-relay-postfix-'));
    lab = await startLab();
    writeFileSync(join(dir, 'ca.pem'), lab.caPem);
    mx = await startPostfixMx({ lab, domains: [ENFORCE, TESTING, NONE], listeners: { valid: 0 } });
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
      // Each message on a new MX connection: the certificate swap below must meet a new handshake
      // (a connection verified before the swap may rightly carry the next message).
      reuseIdle: 0,
    });
    relay = await startRelay(config, { logger: createLogger({ level: 'info', stream: { write: (l) => logs.push(JSON.parse(l)) } }) });
    sender = await startPostfixSender({ relayhost: `[127.0.0.1]:${relay.addresses[0].port}` });
  });

  after(async () => {
    await sender?.stop();
    await relay?.close();
    await mx?.stop();
    await lab?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const landed = (subject, n = 1) => mx.waitForMessages((all) => all.filter((m) => m.subject === subject).length >= n);

  test('the message lands in the maildir with the trace header', { timeout: 600_000 }, async () => {
    const subject = `relay e2e ${Date.now()}`;
    await sender.send({ from: 'alice@sender.lab.test', to: [`bob@${ENFORCE}`], subject, body: 'through the relay' });
    const [m] = (await landed(subject)).filter((x) => x.subject === subject);
    assert.equal(m.to, `bob@${ENFORCE}`);
    assert.match(m.text, /^MTA-STS-Verify: verified; domain=enforce-valid\.test; mode=enforce; id=20240101T000000; mx=mx1\.enforce-valid\.test; tls=TLSv1\.[23]$/m);
    await sender.waitForEmptyQueue();
  });

  test('recipients in two domains reach both (the second after its 452 4.5.3 and a queue run)', { timeout: 600_000 }, async () => {
    const subject = `two domains ${Date.now()}`;
    await sender.send({ from: 'alice@sender.lab.test', to: [`carol@${ENFORCE}`, `dave@${NONE}`], subject, body: 'two' });
    await mx.waitForMessages((all) => all.some((m) => m.subject === subject));
    // Whichever domain went second was told 452 4.5.3 and waits in the queue: flush until both land.
    const both = () => mx.messages().filter((m) => m.subject === subject).length >= 2;
    for (let i = 0; i < 100 && !both(); i++) {
      await sender.flush();
      await new Promise((r) => setTimeout(r, 200));
    }
    const got = (await landed(subject, 2)).filter((m) => m.subject === subject).map((m) => m.to).sort();
    assert.deepEqual(got, [`carol@${ENFORCE}`, `dave@${NONE}`]);
    await sender.waitForEmptyQueue();
  });

  test('enforce + bad certificate: deferred with the relay reason, delivered after the fix and a flush; testing: delivered and recorded', { timeout: 600_000 }, async () => {
    const good = mx.certs.valid;
    await mx.replaceCertificate('valid', mx.certs.untrusted);
    try {
      const enforced = `enforce bad cert ${Date.now()}`;
      const tested = `testing bad cert ${Date.now()}`;
      await sender.send({ from: 'alice@sender.lab.test', to: [`erin@${ENFORCE}`], subject: enforced, body: 'must wait' });
      await sender.send({ from: 'alice@sender.lab.test', to: [`frank@${TESTING}`], subject: tested, body: 'may go' });

      // testing: delivered despite the certificate, failure recorded for TLS-RPT (RFC 8461 §5).
      const [t] = (await landed(tested)).filter((m) => m.subject === tested);
      assert.match(t.text, /^MTA-STS-Verify: unverified; domain=testing-valid\.test; mode=testing; /m);
      const records = await relay.tlsrpt.list(TESTING, TODAY());
      assert.ok(records.some((r) => r.result === 'certificate-not-trusted'), JSON.stringify(records));

      // enforce: still in the sender's queue, with the relay's 451 4.7.5 as the reason.
      let entry;
      for (let i = 0; i < 100 && !entry; i++) {
        const q = await sender.queue();
        entry = q.flatMap((m) => m.recipients).find((r) => r.address === `erin@${ENFORCE}` && r.delay_reason);
        if (!entry) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(entry, 'the enforce message is deferred in the sending queue');
      assert.match(entry.delay_reason, /451 4\.7\.5 MTA-STS enforce-valid\.test \(mode enforce\) via mx\d\.enforce-valid\.test: certificate-not-trusted/);
      assert.ok(!mx.messages().some((m) => m.subject === enforced), 'nothing delivered under enforce');
    } finally {
      await mx.replaceCertificate('valid', good);
    }
    await sender.flush();
    await mx.waitForMessages((all) => all.some((m) => m.subject.startsWith('enforce bad cert')));
    await sender.waitForEmptyQueue();
  });
});
