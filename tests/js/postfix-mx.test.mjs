// connectMx against a REAL Postfix MX on loopback (js/lab/postfix.js): one Postfix instance, one port
// per MX behaviour (valid, wrong-name, self-signed, untrusted-CA, expired, no STARTTLS, TLS 1.0 only)
// plus a node:net MX that hangs up after EHLO; each behaviour in enforce, testing and no-policy mode.
// Mail that connectMx lets through is really sent (EHLO, MAIL, RCPT, DATA) and found in Postfix's
// maildir; nodemailer delivers through nodemailerSocket; a sending Postfix relays to the MX.
//
// How the behaviours are reached: the lab's DNS answers MX mx1/mx2.<domain> → 127.0.0.1 and ::1 for
// the three policy domains (enforce-valid.test: enforce, testing-valid.test: testing, no-record.test:
// no policy); each test dials the port of its behaviour with connectMx's `smtpPort`.
//
// Needs Postfix (apt-get install postfix; .ci/run installs it) and root (private instances chown
// their queue to the postfix user); skipped with a message otherwise.
// Run: scripts/build && node --test tests/js/postfix-mx.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, assertBuilt } from './built-package.mjs';

assertBuilt();
const { connectMx, nodemailerSocket, memoryStore, MtaStsError } = await import(pathToFileURL(join(PKG, 'js/node/index.js')));
const { startLab, startPostfixMx, startPostfixSender, postfixAvailable } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));

const skip = !postfixAvailable()
  ? 'postfix is not installed (apt-get install postfix; .ci/run installs it)'
  : process.getuid?.() !== 0
    ? 'private Postfix instances need root (queue and data directories are chowned to postfix)'
    : false;
if (skip) console.log(`# postfix-mx: skipped: ${skip}`);

const DAY = 86400_000;
const HELO = 'sender.test';
const DOMAINS = { enforce: 'enforce-valid.test', testing: 'testing-valid.test', none: 'no-record.test' };

let lab;
let mx;

/** connectMx options pointing at the lab (DNS, CA, policy host) and at the port of `behaviour`. */
function options(behaviour, extra = {}) {
  return {
    heloName: HELO,
    dnsServers: [lab.dns.server],
    ca: lab.caPem,
    policyPort: lab.policyPort,
    timeout: 5000,
    dnsTimeout: 2000,
    smtpPort: mx.ports[behaviour],
    allowPrivate: true, // the lab is on loopback (RFC 6890)
    store: memoryStore(),
    timeouts: { connect: 5000, reply: 10000, tls: 10000 },
    // Four sessions: every MX address is tried, so each test sees both hosts (the default is
    // Postfix's smtp_mx_session_limit of 2; connect-mx.test.mjs covers the limits).
    limits: { maxSessions: 4 },
    ...extra,
  };
}

/** Reads SMTP replies from a socket: `next()` resolves to the lines of the next complete reply. */
function replies(socket) {
  let buffer = '';
  const waiting = [];
  const ready = [];
  let failure = null;
  const deliver = () => {
    while (waiting.length && (ready.length || failure)) {
      const w = waiting.shift();
      ready.length ? w.resolve(ready.shift()) : w.reject(failure);
    }
  };
  socket.on('data', (chunk) => {
    buffer += chunk.toString('latin1');
    let lines = [];
    let end;
    while ((end = buffer.indexOf('\r\n')) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      lines.push(line);
      if (/^\d{3}( |$)/.test(line)) {
        ready.push(lines);
        lines = [];
      }
    }
    buffer = lines.map((l) => l + '\r\n').join('') + buffer;
    deliver();
  });
  const fail = (err) => {
    failure ??= err ?? new Error('connection closed');
    deliver();
  };
  socket.on('error', fail);
  socket.on('close', () => fail());
  socket.resume();
  return { next: () => new Promise((resolve, reject) => (waiting.push({ resolve, reject }), deliver())) };
}

/** Sends one message over a connection connectMx handed out (after STARTTLS or plaintext EHLO). */
async function sendOver(connection, { from = `alice@${HELO}`, to, subject }) {
  const { socket } = connection;
  const r = replies(socket);
  const command = async (line, expect) => {
    socket.write(line + '\r\n');
    const reply = await r.next();
    assert.match(reply.at(-1), expect, `${line.split(' ')[0]} → ${reply.join(' | ')}`);
    return reply;
  };
  // RFC 3207 §4.2: after TLS the client says EHLO again; after a plaintext dialogue a second EHLO
  // resets the session (RFC 5321 §4.1.4), so both cases start the same way.
  const ehlo = await command(`EHLO ${HELO}`, /^250 /);
  await command(`MAIL FROM:<${from}>`, /^250 /);
  await command(`RCPT TO:<${to}>`, /^250 /);
  await command('DATA', /^354 /);
  await command(
    [`From: <${from}>`, `To: <${to}>`, `Subject: ${subject}`, `Message-ID: <${Date.now()}.${Math.random()}@${HELO}>`, '', 'hello', '.'].join('\r\n'),
    /^250 /,
  );
  await command('QUIT', /^221 /);
  socket.destroy();
  return ehlo;
}

/** Waits for the message with `subject` in Postfix's maildir. */
const landed = async (subject) =>
  (await mx.waitForMessages((all) => all.some((m) => m.subject === subject))).find((m) => m.subject === subject);

/**
 * Expects connectMx on `domain` to reject with delivery-failed: both MX hosts tried, every attempt
 * `code`. Under enforce the failure must be temporary (RFC 8461 §5: the message stays queued).
 */
async function refused(domain, promise, code, { enforce = domain === DOMAINS.enforce } = {}) {
  const err = await promise.then(
    (c) => {
      c.socket.destroy();
      assert.fail(`expected delivery-failed (${code}), got verdict ${c.verdict}`);
    },
    (e) => e,
  );
  assert.ok(err instanceof MtaStsError, `an MtaStsError, not ${err?.stack ?? err}`);
  assert.equal(err.code, 'delivery-failed', err.message);
  if (enforce) assert.equal(err.temporary, true, 'RFC 8461 §5: an enforce failure is temporary: the message stays queued');
  assert.deepEqual([...new Set(err.attempts.map((a) => a.host))].sort(), [`mx1.${domain}`, `mx2.${domain}`], err.message);
  for (const a of err.attempts) assert.equal(a.result, code, `${a.host} ${a.address}: ${a.message}`);
  return err;
}

// The expected outcome of each behaviour in each mode (RFC 8461 §5):
//   enforce  — only a verified STARTTLS; anything else: no delivery, every attempt recorded;
//   testing  — delivered as without a policy, every certificate or STARTTLS failure recorded;
//   none     — opportunistic: an invalid certificate is used anyway, no STARTTLS → plaintext,
//              nothing recorded as a failure.
// A TLS 1.0-only server and an MX that hangs up leave no usable connection in any mode.
const CERT_FAILURES = {
  wrongName: 'certificate-host-mismatch',
  selfSigned: 'certificate-not-trusted',
  untrusted: 'certificate-not-trusted',
  expired: 'certificate-expired',
};

describe('connectMx against a real Postfix MX', { skip }, () => {
  before(async () => {
    lab = await startLab();
    mx = await startPostfixMx({ lab, domains: Object.values(DOMAINS) });
  });
  after(async () => {
    await mx?.stop();
    await lab?.stop();
  });

  describe('enforce (enforce-valid.test): only a verified STARTTLS is delivered to', () => {
    const domain = DOMAINS.enforce;

    test('valid certificate: verified TLS, the message lands in the maildir', { timeout: 600_000 }, async () => {
      const c = await connectMx(domain, options('valid'));
      assert.equal(c.verdict, 'deliver');
      assert.equal(c.mx.host, `mx1.${domain}`);
      assert.equal(c.policy.policy.mode, 'enforce');
      assert.equal(c.tls.certificate.ok, true);
      assert.match(c.tls.version, /^TLSv1\.[23]$/);
      assert.deepEqual(new Uint8Array(c.tls.peerCertificates[0]), mx.certs.valid.certDer, 'the leaf Postfix served');
      assert.deepEqual(c.attempts.map((a) => a.result), ['success']);
      const ehlo = await sendOver(c, { to: `bob@${domain}`, subject: 'enforce valid' });
      assert.ok(!ehlo.some((l) => /STARTTLS/i.test(l)), 'Postfix no longer offers STARTTLS inside TLS');
      const m = await landed('enforce valid');
      assert.equal(m.to, `bob@${domain}`);
      assert.match(m.text, /using TLSv1\.[23] with cipher/, 'Postfix received it over TLS');
    });

    for (const [behaviour, code] of Object.entries(CERT_FAILURES)) {
      test(`${behaviour} certificate: not delivered (${code})`, { timeout: 600_000 }, async () => {
        await refused(domain, connectMx(domain, options(behaviour)), code);
      });
    }

    test('expired by the clock: the valid certificate a day after its notAfter is refused (certificate-expired)', { timeout: 600_000 }, async () => {
      const later = mx.certs.valid.notAfter.getTime() + DAY;
      await refused(domain, connectMx(domain, options('valid', { now: () => later })), 'certificate-expired');
    });

    test('no STARTTLS: not delivered (starttls-not-supported)', { timeout: 600_000 }, async () => {
      await refused(domain, connectMx(domain, options('noStarttls')), 'starttls-not-supported');
    });

    test('TLS 1.0 only: no handshake with a TLS >= 1.2 client (tls-handshake-failed, never plaintext)', { timeout: 600_000 }, async () => {
      const err = await refused(domain, connectMx(domain, options('tls10')), 'tls-handshake-failed');
      assert.match(err.attempts[0].message, /handshake/i);
    });

    test('closes after EHLO: not delivered (smtp-closed)', { timeout: 600_000 }, async () => {
      await refused(domain, connectMx(domain, options('closeAfterEhlo')), 'smtp-closed');
    });
  });

  describe('testing (testing-valid.test): delivered, every failure recorded', () => {
    const domain = DOMAINS.testing;

    test('valid certificate: delivered over verified TLS, nothing to report', { timeout: 600_000 }, async () => {
      const c = await connectMx(domain, options('valid'));
      assert.equal(c.verdict, 'deliver');
      assert.equal(c.policy.policy.mode, 'testing');
      assert.equal(c.tls.certificate.ok, true);
      assert.deepEqual(c.attempts.map((a) => a.result), ['success']);
      await sendOver(c, { to: `bob@${domain}`, subject: 'testing valid' });
      await landed('testing valid');
    });

    for (const [behaviour, code] of Object.entries(CERT_FAILURES)) {
      test(`${behaviour} certificate: delivered over TLS, ${code} recorded`, { timeout: 600_000 }, async () => {
        const c = await connectMx(domain, options(behaviour));
        assert.equal(c.verdict, 'deliver');
        assert.equal(c.tls.certificate.ok, false);
        assert.equal(c.tls.certificate.code, code);
        assert.equal(c.attempts.length, 1);
        assert.equal(c.attempts[0].result, code, 'recorded for TLS-RPT');
        assert.equal(c.attempts[0].secured, true);
        await sendOver(c, { to: `carol@${domain}`, subject: `testing ${behaviour}` });
        await landed(`testing ${behaviour}`);
      });
    }

    test('expired by the clock: delivered, certificate-expired recorded', { timeout: 600_000 }, async () => {
      const later = mx.certs.valid.notAfter.getTime() + DAY;
      const c = await connectMx(domain, options('valid', { now: () => later }));
      assert.equal(c.verdict, 'deliver');
      assert.equal(c.attempts[0].result, 'certificate-expired');
      await sendOver(c, { to: `carol@${domain}`, subject: 'testing expired clock' });
      await landed('testing expired clock');
    });

    test('no STARTTLS: delivered in plaintext, starttls-not-supported recorded', { timeout: 600_000 }, async () => {
      const c = await connectMx(domain, options('noStarttls'));
      assert.equal(c.verdict, 'deliver-plaintext');
      assert.equal(c.tls, null);
      assert.equal(c.attempts[0].result, 'starttls-not-supported');
      await sendOver(c, { to: `dave@${domain}`, subject: 'testing plaintext' });
      const m = await landed('testing plaintext');
      assert.doesNotMatch(m.text, /using TLSv/, 'Postfix received it without TLS');
    });

    test('TLS 1.0 only: TLS fails on every MX, so it is delivered in plaintext (tls-handshake-failed recorded)', { timeout: 600_000 }, async () => {
      // RFC 8461 §5: testing delivers as without a policy; opportunistic senders retry in the clear.
      const c = await connectMx(domain, options('tls10'));
      assert.equal(c.verdict, 'deliver-plaintext');
      assert.equal(c.tls, null);
      const tried = c.attempts.filter((a) => !a.fallback);
      assert.ok(tried.length >= 2 && tried.every((a) => a.result === 'tls-handshake-failed' && a.tlsrpt === 'validation-failure'), JSON.stringify(c.attempts));
      assert.deepEqual(c.attempts.at(-1).result, 'plaintext-fallback');
      assert.equal(c.attempts.at(-1).tlsrpt, null, 'the retry is no TLS session to report');
      await sendOver(c, { to: `dave@${domain}`, subject: 'testing tls10 plaintext retry' });
      const m = await landed('testing tls10 plaintext retry');
      assert.doesNotMatch(m.text, /using TLSv/, 'Postfix received it without TLS');
    });

    test('closes after EHLO: no usable connection (smtp-closed)', { timeout: 600_000 }, async () => {
      await refused(domain, connectMx(domain, options('closeAfterEhlo')), 'smtp-closed');
    });
  });

  describe('no policy (no-record.test): opportunistic TLS, nothing recorded as a failure', () => {
    const domain = DOMAINS.none;

    test('valid certificate: delivered over TLS', { timeout: 600_000 }, async () => {
      const c = await connectMx(domain, options('valid'));
      assert.equal(c.verdict, 'deliver');
      assert.equal(c.policy.status, 'none');
      assert.equal(c.tls.certificate.ok, true);
      await sendOver(c, { to: `erin@${domain}`, subject: 'no policy valid' });
      await landed('no policy valid');
    });

    for (const [behaviour, code] of Object.entries(CERT_FAILURES)) {
      test(`${behaviour} certificate: delivered over TLS anyway (the core still says ${code})`, { timeout: 600_000 }, async () => {
        const c = await connectMx(domain, options(behaviour));
        assert.equal(c.verdict, 'deliver');
        assert.equal(c.tls.certificate.code, code);
        assert.equal(c.attempts[0].result, 'success', 'no policy: not a failure to report');
        await sendOver(c, { to: `erin@${domain}`, subject: `no policy ${behaviour}` });
        await landed(`no policy ${behaviour}`);
      });
    }

    test('expired by the clock: delivered over TLS anyway', { timeout: 600_000 }, async () => {
      const later = mx.certs.valid.notAfter.getTime() + DAY;
      const c = await connectMx(domain, options('valid', { now: () => later }));
      assert.equal(c.verdict, 'deliver');
      assert.equal(c.tls.certificate.code, 'certificate-expired');
    });

    test('no STARTTLS: delivered in plaintext', { timeout: 600_000 }, async () => {
      const c = await connectMx(domain, options('noStarttls'));
      assert.equal(c.verdict, 'deliver-plaintext');
      assert.equal(c.attempts[0].result, 'success');
      await sendOver(c, { to: `erin@${domain}`, subject: 'no policy plaintext' });
      await landed('no policy plaintext');
    });

    test('no STARTTLS with requireTls: not delivered (starttls-not-supported)', { timeout: 600_000 }, async () => {
      await refused(domain, connectMx(domain, options('noStarttls', { requireTls: true })), 'starttls-not-supported');
    });

    test('TLS 1.0 only: delivered in plaintext after the failed handshakes', { timeout: 600_000 }, async () => {
      const c = await connectMx(domain, options('tls10'));
      assert.equal(c.verdict, 'deliver-plaintext');
      assert.equal(c.attempts.at(-1).result, 'plaintext-fallback');
      c.socket.destroy();
    });

    test('TLS 1.0 only with requireTls: not delivered (tls-handshake-failed, no plaintext retry)', { timeout: 600_000 }, async () => {
      await refused(domain, connectMx(domain, options('tls10', { requireTls: true })), 'tls-handshake-failed');
    });

    test('closes after EHLO: no usable connection (smtp-closed)', { timeout: 600_000 }, async () => {
      await refused(domain, connectMx(domain, options('closeAfterEhlo')), 'smtp-closed');
    });
  });

  // Without enforce, a failed TLS handshake and "TLS required but not offered" stay temporary, as
  // Postfix treats them (smtp_tls_security_level=encrypt defers with 4.7.4): a relay keeps the
  // message queued instead of bouncing it. The core decides (SmtpError/Error::is_temporary).
  describe('temporary failures outside enforce', () => {
    test('testing, TLS 1.0 only and requireTls: the failure is temporary', { timeout: 600_000 }, async () => {
      const err = await connectMx(DOMAINS.testing, options('tls10', { requireTls: true })).catch((e) => e);
      assert.equal(err.code, 'delivery-failed');
      assert.equal(err.temporary, true);
    });
    test('no policy, TLS 1.0 only and requireTls: the failure is temporary', { timeout: 600_000 }, async () => {
      const err = await connectMx(DOMAINS.none, options('tls10', { requireTls: true })).catch((e) => e);
      assert.equal(err.code, 'delivery-failed');
      assert.equal(err.temporary, true);
    });
    test('no policy, requireTls and no STARTTLS: the failure is temporary', { timeout: 600_000 }, async () => {
      const err = await connectMx(DOMAINS.none, options('noStarttls', { requireTls: true })).catch((e) => e);
      assert.equal(err.code, 'delivery-failed');
      assert.equal(err.temporary, true);
    });
  });

  describe('mail programs', () => {
    test('nodemailer delivers through nodemailerSocket into the maildir over verified TLS', { timeout: 600_000 }, async () => {
      const { default: nodemailer } = await import('nodemailer');
      const domain = DOMAINS.enforce;
      const seen = [];
      const transport = nodemailer.createTransport({
        host: domain,
        name: HELO,
        getSocket: nodemailerSocket({ ...options('valid'), onConnect: (c) => seen.push(c) }),
      });
      const subject = `nodemailer ${Date.now()}`;
      const info = await transport.sendMail({ from: `alice@${HELO}`, to: `frank@${domain}`, subject, text: 'through mtasts' });
      transport.close();
      assert.deepEqual(info.accepted, [`frank@${domain}`]);
      assert.equal(seen.length, 1);
      assert.equal(seen[0].verdict, 'deliver');
      assert.equal(seen[0].tls.certificate.ok, true);
      const m = await landed(subject);
      assert.equal(m.to, `frank@${domain}`);
      assert.match(m.file, /\/enforce-valid\.test\/catchall\/new\//);
      assert.match(m.text, /using TLSv1\.[23] with cipher/);
      assert.match(m.text, /\nthrough mtasts/);
    });

    test('nodemailer gets the enforce refusal as an error and sends nothing', { timeout: 600_000 }, async () => {
      const { default: nodemailer } = await import('nodemailer');
      const transport = nodemailer.createTransport({
        host: DOMAINS.enforce,
        name: HELO,
        getSocket: nodemailerSocket(options('wrongName')),
      });
      const before = mx.messages().length;
      await assert.rejects(
        transport.sendMail({ from: `alice@${HELO}`, to: `frank@${DOMAINS.enforce}`, subject: 'must not arrive', text: 'x' }),
        (err) => err.code === 'delivery-failed',
      );
      transport.close();
      assert.equal(mx.messages().length, before);
      assert.ok(!mx.messages().some((m) => m.subject === 'must not arrive'));
    });

    test('a sending Postfix relays to the MX (relayhost) and its queue empties', { timeout: 600_000 }, async () => {
      const sender = await startPostfixSender({ relayhost: `[127.0.0.1]:${mx.ports.valid}` });
      try {
        const subject = `postfix to postfix ${Date.now()}`;
        await sender.send({ from: `alice@${HELO}`, to: [`gina@${DOMAINS.none}`], subject, body: 'queued' });
        const m = await landed(subject);
        assert.equal(m.to, `gina@${DOMAINS.none}`);
        await sender.waitForEmptyQueue();
        assert.deepEqual(await sender.queue(), []);
      } finally {
        await sender.stop();
      }
    });
  });
});
