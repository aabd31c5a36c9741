// connectMx and nodemailerSocket against the lab's DNS and policy host and a scripted MX on
// loopback (tests/js/scripted-mx.mjs): every MX behaviour in enforce, testing and without policy,
// with the attempts each run records for TLS-RPT.
// Run: scripts/build && node --test tests/js/connect-mx.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import nodemailer from 'nodemailer';
import { PKG, ROOT, assertBuilt } from './built-package.mjs';
import { startScriptedMx } from './scripted-mx.mjs';

assertBuilt();
const { connectMx, nodemailerSocket, memoryStore, MtaStsError } = await import(pathToFileURL(join(PKG, 'js/node/index.js')));
const { startLab } = await import(pathToFileURL(join(PKG, 'js/lab/index.js')));

const DAY = 86400_000;
let lab;
before(async () => {
  lab = await startLab();
});
after(() => lab?.stop());

/** connectMx options pointing at the lab and at `mx`. */
function labOptions(mx, extra = {}) {
  return {
    heloName: 'sender.test',
    dnsServers: [lab.dns.server],
    ca: lab.caPem,
    policyPort: lab.policyPort,
    timeout: 5000,
    dnsTimeout: 1000,
    smtpPort: mx.port,
    store: memoryStore(),
    timeouts: { connect: 5000, reply: 5000, tls: 5000 },
    // The lab is on loopback, which a sender on the internet refuses to dial (RFC 6890).
    allowPrivate: true,
    ...extra,
  };
}

/** A certificate from the lab CA for both MX hosts of `domain`. */
const mxCert = (domain, more = {}) => lab.issueCert({ names: [`mx1.${domain}`, `mx2.${domain}`], ...more });

/** A self-signed certificate for `names` (openssl CLI), shaped as the lab's { keyPem, chainPem }. */
function selfSigned(names) {
  const dir = mkdtempSync(join(tmpdir(), 'mtasts-self-signed-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '30', '-subj', `/CN=${names[0]}`,
      '-addext', `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
      '-addext', 'extendedKeyUsage=serverAuth', '-addext', 'basicConstraints=critical,CA:FALSE',
    ], { stdio: 'ignore' });
    const certPem = readFileSync(join(dir, 'cert.pem'), 'utf8');
    return { keyPem: readFileSync(join(dir, 'key.pem'), 'utf8'), certPem, chainPem: certPem };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `fn(mx)` with a scripted MX, closed afterwards. */
async function withMx(behaviour, fn) {
  const mx = await startScriptedMx(behaviour);
  try {
    return await fn(mx);
  } finally {
    await mx.close();
  }
}

/** Expects connectMx to reject with delivery-failed; returns the error. */
async function failsToDeliver(promise) {
  const err = await promise.then(
    (c) => {
      c.socket.destroy();
      assert.fail(`expected delivery-failed, got verdict ${c.verdict}`);
    },
    (e) => e,
  );
  assert.ok(err instanceof MtaStsError, `an MtaStsError, not ${err}`);
  assert.equal(err.code, 'delivery-failed', err.message);
  return err;
}

/** Reads one SMTP reply (all its lines) from a paused socket. */
function readReply(socket) {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk) => {
      text += chunk.toString('latin1');
      const lines = text.split('\r\n').filter(Boolean);
      const last = lines.at(-1);
      if (text.endsWith('\r\n') && last && /^\d{3} /.test(last)) {
        socket.off('data', onData);
        socket.off('error', reject);
        socket.pause();
        resolve(lines);
      }
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.resume();
  });
}

async function ehloAgain(socket) {
  socket.write('EHLO sender.test\r\n');
  return readReply(socket);
}

async function quit(socket) {
  socket.write('QUIT\r\n');
  await readReply(socket);
  socket.destroy();
}

/** The attempts on 127.0.0.1 (the ::1 ones meet the same server when the machine has ::1). */
const v4 = (attempts) => attempts.filter((a) => a.address === '127.0.0.1');

describe('enforce: only a verified STARTTLS is delivered to', () => {
  const domain = 'enforce-valid.test';

  test('a valid certificate for the MX host: deliver over the verified TLS socket', async () => {
    const cert = mxCert(domain);
    await withMx({ cert }, async (mx) => {
      const c = await connectMx(domain, labOptions(mx));
      assert.equal(c.verdict, 'deliver');
      assert.deepEqual(
        { host: c.mx.host, priority: c.mx.priority, address: c.mx.address, port: c.mx.port },
        { host: `mx1.${domain}`, priority: 10, address: '127.0.0.1', port: mx.port },
      );
      assert.equal(c.mx.matched, `mx1.${domain}`);
      assert.equal(c.policy.status, 'found');
      assert.equal(c.policy.policy.mode, 'enforce');
      assert.equal(c.tls.certificate.ok, true);
      assert.match(c.tls.version, /^TLSv1\.[23]$/);
      assert.equal(typeof c.tls.cipher, 'string');
      assert.deepEqual(new Uint8Array(c.tls.peerCertificates[0]), cert.certDer, 'the leaf the MX served');
      assert.equal(c.attempts.length, 1);
      assert.deepEqual(c.attempts[0], {
        host: `mx1.${domain}`,
        address: '127.0.0.1',
        port: mx.port,
        result: 'success',
        tlsrpt: null,
        message: null,
        temporary: false,
        mode: 'enforce',
        verdict: 'deliver',
        secured: true,
        tlsVersion: c.tls.version,
        fallback: false,
        detail: null,
        starttls: true,
        cipher: c.tls.cipher,
        certificate: { ok: true, code: null, message: null, tlsrpt: null },
        rfc: null,
        sendingIp: '127.0.0.1',
      });
      // The socket is the secured session: the caller says EHLO again (RFC 3207 §4.2).
      assert.equal(c.socket.encrypted, true);
      const ehlo = await ehloAgain(c.socket);
      assert.match(ehlo[0], /^250/);
      assert.ok(!ehlo.some((l) => /STARTTLS/.test(l)), 'no STARTTLS offered inside TLS');
      await quit(c.socket);
      assert.equal(mx.tlsSessions, 1);
    });
  });

  const badCerts = [
    ['wrong name', () => ({ cert: lab.issueCert({ names: ['mx.elsewhere.test'] }) }), 'certificate-host-mismatch'],
    ['self-signed', () => ({ cert: selfSigned([`mx1.${domain}`, `mx2.${domain}`]) }), 'certificate-not-trusted'],
    ['untrusted CA', () => ({ cert: mxCert(domain, { ca: 'untrusted' }) }), 'certificate-not-trusted'],
  ];
  for (const [what, behaviour, code] of badCerts) {
    test(`${what}: delivery-failed, temporary, every attempt ${code}`, async () => {
      await withMx(behaviour(), async (mx) => {
        // Four sessions allowed: every address is tried (the default is Postfix's 2).
        const err = await failsToDeliver(connectMx(domain, labOptions(mx, { limits: { maxSessions: 4 } })));
        assert.equal(err.temporary, true, 'RFC 8461 §5: enforce failures are temporary');
        assert.equal(err.attempts.length, 4, 'two MX hosts, two addresses each');
        assert.deepEqual([...new Set(err.attempts.map((a) => a.host))], [`mx1.${domain}`, `mx2.${domain}`]);
        for (const a of v4(err.attempts)) {
          assert.equal(a.result, code);
          assert.equal(a.tlsrpt, code);
          assert.equal(a.verdict, 'try-next');
          assert.equal(a.mode, 'enforce');
        }
        if (mx.dualStack) assert.ok(err.attempts.every((a) => a.result === code));
        assert.match(err.message, new RegExp(code));
        assert.equal(mx.messages.length, 0);
      });
    });
  }

  test('expired: the injected clock moved past notAfter', async () => {
    const cert = mxCert(domain);
    await withMx({ cert }, async (mx) => {
      const later = cert.notAfter.getTime() + DAY;
      const err = await failsToDeliver(connectMx(domain, labOptions(mx, { now: () => later })));
      assert.ok(v4(err.attempts).length > 0);
      for (const a of v4(err.attempts)) assert.equal(a.result, 'certificate-expired');
      // The same certificate today is fine.
      const c = await connectMx(domain, labOptions(mx));
      assert.equal(c.verdict, 'deliver');
      c.socket.destroy();
    });
  });

  test('no STARTTLS: starttls-not-supported, nothing delivered', async () => {
    await withMx({ starttls: false }, async (mx) => {
      const err = await failsToDeliver(connectMx(domain, labOptions(mx)));
      assert.equal(err.temporary, true);
      for (const a of v4(err.attempts)) {
        assert.equal(a.result, 'starttls-not-supported');
        assert.equal(a.tlsrpt, 'starttls-not-supported');
        assert.equal(a.secured, false);
      }
    });
  });

  test('a server that speaks only TLS 1.0: the handshake fails (tls-handshake-failed)', async () => {
    const cert = mxCert(domain);
    await withMx({ cert, tls: { minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' } }, async (mx) => {
      const err = await failsToDeliver(connectMx(domain, labOptions(mx)));
      for (const a of v4(err.attempts)) {
        assert.equal(a.result, 'tls-handshake-failed');
        assert.equal(a.tlsrpt, 'validation-failure', 'RFC 8460 has no type of its own for it');
        assert.equal(typeof a.detail, 'string');
      }
    });
  });

  test('the MX closes the connection after EHLO: smtp-closed', async () => {
    await withMx({ cert: mxCert(domain), closeAfterEhlo: true }, async (mx) => {
      const err = await failsToDeliver(connectMx(domain, labOptions(mx)));
      for (const a of v4(err.attempts)) assert.equal(a.result, 'smtp-closed');
      assert.equal(err.temporary, true);
    });
  });

  test('bytes after the 220 to STARTTLS: smtp-data-before-tls, even without a policy', async () => {
    const after220 = '250-injected\r\n250 STARTTLS\r\n';
    await withMx({ cert: mxCert(domain), after220 }, async (mx) => {
      const err = await failsToDeliver(connectMx(domain, labOptions(mx)));
      for (const a of v4(err.attempts)) assert.equal(a.result, 'smtp-data-before-tls');
      assert.equal(mx.tlsSessions, 0, 'no TLS was started over the injected bytes');
    });
    await withMx({ cert: mxCert('no-record.test'), after220 }, async (mx) => {
      const err = await failsToDeliver(connectMx('no-record.test', labOptions(mx)));
      for (const a of v4(err.attempts)) {
        assert.equal(a.result, 'smtp-data-before-tls');
        assert.equal(a.mode, null);
      }
    });
  });

  test('a server that never greets: mx-timeout on each attempt, no timer left behind', async () => {
    await withMx({ greet: false }, async (mx) => {
      const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      const err = await failsToDeliver(connectMx(domain, labOptions(mx, { timeouts: { reply: 100 } })));
      for (const a of v4(err.attempts)) {
        assert.equal(a.result, 'mx-timeout');
        assert.equal(a.temporary, true);
        assert.match(a.message, /greeting/);
      }
      const timersAfter = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      assert.ok(timersAfter <= timersBefore, `timers: ${timersBefore} before, ${timersAfter} after`);
    });
  });

  test('nothing listening: mx-connect-failed with the socket error as detail', async () => {
    const mx = await startScriptedMx({});
    await mx.close();
    const err = await failsToDeliver(connectMx(domain, labOptions(mx)));
    for (const a of err.attempts) {
      assert.equal(a.result, 'mx-connect-failed');
      assert.equal(a.detail, 'ECONNREFUSED');
      assert.equal(a.temporary, true);
    }
  });

  test('no MX host in the policy: mx-not-in-policy before any connection', async () => {
    await withMx({ cert: mxCert(domain) }, async (mx) => {
      lab.update('enforce-valid', { mx: [{ priority: 10, host: 'mx.elsewhere.test' }] });
      try {
        await assert.rejects(connectMx(domain, labOptions(mx)), (err) => {
          assert.equal(err.code, 'mx-not-in-policy');
          assert.equal(err.temporary, true);
          return true;
        });
        assert.equal(mx.connections, 0);
      } finally {
        lab.reset('enforce-valid');
      }
    });
  });

  test('an MX host outside the policy is skipped; the listed one is used', async () => {
    const d = 'mx-not-in-policy.test';
    const listed = lab.state('mx-not-in-policy').mx.map((m) => m.host);
    await withMx({ cert: lab.issueCert({ names: listed }) }, async (mx) => {
      const c = await connectMx(d, labOptions(mx));
      assert.equal(c.verdict, 'deliver');
      assert.equal(c.mx.host, `mx1.${d}`);
      c.socket.destroy();
    });
  });
});

describe('policy cache', () => {
  test('without a store, calls share one cache per host configuration (RFC 8461 §10.2)', async () => {
    const domain = 'split-record.test';
    await withMx({ cert: mxCert(domain) }, async (mx) => {
      const { store, ...options } = labOptions(mx);
      const before = lab.requests[domain];
      for (let i = 0; i < 2; i++) {
        const c = await connectMx(domain, options);
        assert.equal(c.verdict, 'deliver');
        assert.equal(c.policy.status, 'found');
        c.socket.destroy();
      }
      assert.equal(lab.requests[domain] - before, 1, 'the policy was fetched once');
    });
  });
});

describe('testing: deliver anyway, record the failure', () => {
  const domain = 'testing-valid.test';

  test('a wrong-name certificate: delivered over TLS, certificate-host-mismatch recorded', async () => {
    await withMx({ cert: lab.issueCert({ names: ['mx.elsewhere.test'] }) }, async (mx) => {
      const c = await connectMx(domain, labOptions(mx));
      assert.equal(c.verdict, 'deliver');
      assert.equal(c.tls.certificate.ok, false);
      assert.equal(c.tls.certificate.code, 'certificate-host-mismatch');
      assert.equal(c.attempts.length, 1);
      assert.equal(c.attempts[0].result, 'certificate-host-mismatch');
      assert.equal(c.attempts[0].tlsrpt, 'certificate-host-mismatch');
      assert.equal(c.attempts[0].mode, 'testing');
      assert.equal(c.attempts[0].verdict, 'deliver');
      assert.equal(c.mx.matched, `*.${domain}`);
      await quit(c.socket);
    });
  });

  test('no STARTTLS: delivered in plaintext, starttls-not-supported recorded', async () => {
    await withMx({ starttls: false }, async (mx) => {
      const c = await connectMx(domain, labOptions(mx));
      assert.equal(c.verdict, 'deliver-plaintext');
      assert.equal(c.tls, null);
      assert.equal(c.attempts[0].result, 'starttls-not-supported');
      assert.equal(c.socket.encrypted, undefined);
      // The server has answered EHLO already; a second EHLO is legal and answered.
      assert.match((await ehloAgain(c.socket))[0], /^250/);
      await quit(c.socket);
    });
  });
});

describe('no policy (and mode none): opportunistic TLS', () => {
  test('self-signed certificate without a policy: delivered, nothing to report', async () => {
    const d = 'no-record.test';
    await withMx({ cert: selfSigned([`mx1.${d}`]) }, async (mx) => {
      const c = await connectMx(d, labOptions(mx));
      assert.equal(c.policy.status, 'none');
      assert.equal(c.verdict, 'deliver');
      assert.equal(c.tls.certificate.ok, false);
      assert.equal(c.attempts[0].result, 'success');
      assert.equal(c.attempts[0].mode, null);
      await quit(c.socket);
    });
  });

  test('requireTls refuses an invalid certificate and plaintext without a policy', async () => {
    const d = 'no-record.test';
    await withMx({ cert: selfSigned([`mx1.${d}`]) }, async (mx) => {
      const err = await failsToDeliver(connectMx(d, labOptions(mx, { requireTls: true })));
      for (const a of v4(err.attempts)) assert.equal(a.result, 'certificate-not-trusted');
    });
    await withMx({ starttls: false }, async (mx) => {
      const err = await failsToDeliver(connectMx(d, labOptions(mx, { requireTls: true })));
      for (const a of v4(err.attempts)) assert.equal(a.result, 'starttls-not-supported');
    });
  });

  test('no STARTTLS without a policy: plaintext', async () => {
    await withMx({ starttls: false }, async (mx) => {
      const c = await connectMx('no-record.test', labOptions(mx));
      assert.equal(c.verdict, 'deliver-plaintext');
      assert.equal(c.attempts[0].result, 'success');
      assert.equal(c.attempts[0].secured, false);
      await quit(c.socket);
    });
  });

  test('mode none: a wrong-name certificate is delivered over, nothing reported', async () => {
    await withMx({ cert: lab.issueCert({ names: ['mx.elsewhere.test'] }) }, async (mx) => {
      const c = await connectMx('none.test', labOptions(mx));
      assert.equal(c.verdict, 'deliver');
      assert.equal(c.attempts[0].mode, 'none');
      assert.equal(c.attempts[0].result, 'success');
      c.socket.destroy();
    });
  });

  test('null MX: mx-null, permanent, before any connection', async () => {
    lab.update('no-record', { mx: [{ priority: 0, host: '.' }] });
    try {
      await withMx({}, async (mx) => {
        await assert.rejects(connectMx('no-record.test', labOptions(mx)), (err) => {
          assert.equal(err.code, 'mx-null');
          assert.equal(err.temporary, false);
          return true;
        });
        assert.equal(mx.connections, 0);
      });
    } finally {
      lab.reset('no-record');
    }
  });
});

describe('arguments', () => {
  test('bad options are invalid-argument or smtp-helo-invalid, before any I/O', async () => {
    const opts = { dnsServers: ['127.0.0.1:9'] };
    await assert.rejects(connectMx('a.test', opts), { code: 'invalid-argument' });
    await assert.rejects(connectMx('a.test', { ...opts, heloName: 'bad name\r\nRCPT' }), { code: 'smtp-helo-invalid' });
    await assert.rejects(connectMx('a.test', { ...opts, heloName: 'ok.test', smtpPort: 0 }), { code: 'invalid-argument' });
    await assert.rejects(connectMx('a.test', { ...opts, heloName: 'ok.test', timeouts: { greeting: 5 } }), { code: 'invalid-argument' });
    await assert.rejects(connectMx(42, { ...opts, heloName: 'ok.test' }), { code: 'invalid-argument' });
  });
});

describe('nodemailerSocket', () => {
  const domain = 'enforce-valid.test';
  const transportFor = (mx, extra = {}) => {
    const seen = [];
    const { heloName, ...options } = labOptions(mx);
    const transport = nodemailer.createTransport({
      host: domain,
      name: heloName,
      getSocket: nodemailerSocket({ ...options, onConnect: (c) => seen.push(c), ...extra }),
    });
    return { transport, seen };
  };
  const mail = { from: 'alice@sender.test', to: `bob@${domain}`, subject: 'verified delivery', text: 'hello over MTA-STS' };

  test('nodemailer sends a message over the verified connection', async () => {
    await withMx({ cert: mxCert(domain) }, async (mx) => {
      const { transport, seen } = transportFor(mx);
      const info = await transport.sendMail(mail);
      transport.close();
      assert.deepEqual(info.accepted, [`bob@${domain}`]);
      assert.equal(mx.messages.length, 1);
      const m = mx.messages[0];
      assert.equal(m.secure, true, 'the message went over TLS');
      assert.equal(m.from, '<alice@sender.test>');
      assert.deepEqual(m.to, [`<bob@${domain}>`]);
      assert.match(m.data, /Subject: verified delivery/);
      assert.equal(seen.length, 1);
      assert.equal(seen[0].verdict, 'deliver');
      assert.equal(seen[0].attempts[0].result, 'success');
    });
  });

  test('nodemailer gets delivery-failed when enforce refuses every MX', async () => {
    await withMx({ cert: lab.issueCert({ names: ['mx.elsewhere.test'] }) }, async (mx) => {
      const { transport } = transportFor(mx);
      await assert.rejects(transport.sendMail(mail), (err) => {
        assert.equal(err.code, 'delivery-failed');
        assert.ok(err.attempts.length > 0);
        return true;
      });
      transport.close();
      assert.equal(mx.messages.length, 0);
    });
  });

  test('plaintext delivery (no policy, no STARTTLS) through nodemailer', async () => {
    await withMx({ starttls: false }, async (mx) => {
      const { transport, seen } = transportFor(mx, { domain: 'no-record.test' });
      await transport.sendMail({ ...mail, to: 'bob@no-record.test' });
      transport.close();
      assert.equal(seen[0].verdict, 'deliver-plaintext');
      assert.equal(mx.messages.length, 1);
      assert.equal(mx.messages[0].secure, false);
    });
  });

  test('the documented example (tests/examples/nodemailer-lab.mjs) sends through smtp-server', async () => {
    const example = join(ROOT, 'tests', 'examples', 'nodemailer-lab.mjs');
    const { code, stdout, stderr } = await new Promise((resolve) => {
      execFile(process.execPath, [example], { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? err.code ?? 1 : 0, stdout, stderr }));
    });
    assert.equal(code, 0, stderr);
    assert.match(stdout, /verdict: deliver;/);
    assert.match(stdout, /certificate valid/);
    assert.match(stdout, /over TLS/);
  });
});

describe('limits and abort (the core\'s delivery machine)', () => {
  /** A TCP server that accepts and never speaks; counts open connections. */
  async function silent() {
    const net = await import('node:net');
    const open = new Set();
    let accepted = 0;
    const server = net.createServer((s) => {
      accepted += 1;
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => {});
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    return { port: server.address().port, open, get accepted() { return accepted; }, close: () => new Promise((r) => { for (const s of open) s.destroy(); server.close(r); }) };
  }

  test('an AbortSignal stops the dialling and closes the socket (aborted, temporary)', async () => {
    const s = await silent();
    try {
      const controller = new AbortController();
      const pending = connectMx('enforce-valid.test', { ...labOptions(s), signal: controller.signal, timeouts: { reply: 60_000 } });
      for (let i = 0; i < 200 && s.open.size === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(s.open.size, 1, 'dialled the MX');
      controller.abort(new Error('the client left'));
      await assert.rejects(pending, (err) => err.code === 'aborted' && err.temporary === true && /the client left/.test(err.message));
      for (let i = 0; i < 200 && s.open.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(s.open.size, 0, 'the connection was closed');
      assert.equal(s.accepted, 1, 'and no other address was dialled');
    } finally {
      await s.close();
    }
  });

  test('silent MX addresses: at most limits.maxAddresses are dialled, and the reply says why', async () => {
    const s = await silent();
    try {
      const err = await connectMx('enforce-valid.test', { ...labOptions(s), timeouts: { reply: 200 }, limits: { maxAddresses: 1 } }).catch((e) => e);
      assert.equal(err.code, 'delivery-failed');
      assert.equal(err.attempts.length, 1);
      assert.equal(err.attempts[0].result, 'mx-timeout');
      assert.deepEqual([err.reply.code, err.reply.enhanced], [451, '4.4.1']);
      assert.match(err.reply.text, /mx-timeout/);
      await assert.rejects(connectMx('enforce-valid.test', { ...labOptions(s), limits: { maxAddresses: 0 } }), { code: 'invalid-argument' });
    } finally {
      await s.close();
    }
  });
});
