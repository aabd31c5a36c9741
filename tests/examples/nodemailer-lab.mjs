// Example: send one message with nodemailer through mtasts' verified delivery connection, entirely
// on loopback. The lab (js/lab) plays DNS and the policy host for enforce-valid.test, whose policy
// is `mode: enforce` with mx1/mx2.enforce-valid.test; an smtp-server instance with a lab-CA
// certificate for mx1.enforce-valid.test plays the MX.
//
//   scripts/build && (cd tests && npm ci) && node tests/examples/nodemailer-lab.mjs
//
// In your own code import from 'mtasts' and drop the options marked "lab": without them mtasts
// uses the system's DNS servers, the system's roots, HTTPS port 443 and SMTP port 25.

import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { nodemailerSocket, memoryStore } from '../../pkg/js/node/index.js'; // 'mtasts'
import { startLab } from '../../pkg/js/lab/index.js';

const domain = 'enforce-valid.test';
const lab = await startLab();
const cert = lab.certFor(`mx1.${domain}`);

// The MX: STARTTLS with the lab certificate; prints what it receives.
let received = null;
const mx = new SMTPServer({
  secure: false,
  key: cert.keyPem,
  cert: cert.chainPem,
  authOptional: true,
  logger: false,
  onData(stream, session, callback) {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => {
      received = { secure: session.secure, to: session.envelope.rcptTo.map((r) => r.address), size: Buffer.concat(chunks).length };
      callback();
    });
  },
});
await new Promise((resolve) => mx.listen(0, '127.0.0.1', resolve));

try {
  const transport = nodemailer.createTransport({
    host: domain, // the recipient domain: nodemailerSocket delivers to its MX under its policy
    name: 'sender.test', // the EHLO name
    getSocket: nodemailerSocket({
      dnsServers: [lab.dns.server], // lab: the lab's DNS server instead of the system's
      ca: lab.caPem, // lab: trust the lab CA (policy host and MX) besides the system roots
      policyPort: lab.policyPort, // lab: the policy host's port instead of 443
      smtpPort: mx.server.address().port, // lab: the MX port instead of 25
      allowPrivate: true, // lab: the MX is on loopback, which internet delivery refuses
      store: memoryStore(),
      onConnect: (c) => {
        console.log(`policy: ${c.policy.status}, mode ${c.policy.policy?.mode ?? 'none'}`);
        console.log(`mx: ${c.mx.host} [${c.mx.address}]:${c.mx.port}, matched ${c.mx.matched}`);
        console.log(`tls: ${c.tls?.version} ${c.tls?.cipher}, certificate ${c.tls?.certificate.ok ? 'valid' : c.tls?.certificate.code}`);
        console.log(`verdict: ${c.verdict}; attempts: ${c.attempts.map((a) => `${a.host} ${a.result}`).join(', ')}`);
      },
    }),
  });
  const info = await transport.sendMail({
    from: 'alice@sender.test',
    to: `bob@${domain}`,
    subject: 'hello over MTA-STS',
    text: 'This message went over STARTTLS with a certificate the policy requires.',
  });
  transport.close();
  console.log(`sent: ${info.response}`);
  console.log(`the MX received ${received.size} bytes for ${received.to.join(', ')} over ${received.secure ? 'TLS' : 'plaintext'}`);
  if (!received.secure) process.exitCode = 1;
} finally {
  await new Promise((resolve) => mx.close(resolve));
  await lab.stop();
}
