// The TLS-RPT part of `mtasts demo`: real deliveries through the relay (js/relay/) to the lab's MX
// (js/lab/mx.js) under enforce, testing and no policy, with good and bad MX certificates and a
// broken policy host, then the aggregate report the relay's records give for the day (RFC 8460 §4),
// built by the core and read back by the core's reader — what a domain owner would receive.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTlsRptReports, readTlsRptReport } from '../node/index.js';
import { startLabMx } from '../lab/mx.js';
import { resolveConfig } from '../relay/config.js';
import { createLogger } from '../relay/log.js';
import { startRelay } from '../relay/server.js';
import { dayOf, sessionResultsFor } from '../relay/tlsrpt-log.js';
import { peerDependency } from '../peer-dependency.js';

/**
 * The messages sent, each to `user@<domain>`, how the lab MX behaves for the domain, and what the
 * relay must answer (RFC 8461 §5: enforce defers on a certificate failure, testing delivers and
 * reports, a domain without a usable policy is delivered as before).
 */
export const DELIVERIES = [
  { domain: 'enforce-valid.test', mx: 'valid', expect: 'delivered' },
  { domain: 'enforce-valid.test', mx: 'valid', expect: 'delivered' },
  { domain: 'long-record.test', mx: 'expired', expect: 'deferred' },
  { domain: 'testing-valid.test', mx: 'untrusted', expect: 'delivered' },
  { domain: 'no-record.test', mx: 'valid', expect: 'delivered' },
  { domain: 'policy-untrusted-cert.test', mx: 'valid', expect: 'delivered' },
];

const ORG = 'mtasts demo';
const SUBMITTER = 'relay.lab.test';

/** Runs the deliveries on a started lab; resolves { ok, deliveries, reports }. */
export async function runReportDemo(lab, { now = Date.now } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'mtasts-demo-'));
  const caFile = join(dir, 'lab-ca.pem');
  writeFileSync(caFile, lab.caPem);
  const behaviours = Object.fromEntries(DELIVERIES.map((d) => [d.domain, d.mx]));
  const mx = await startLabMx(lab, { behaviours });
  const logger = createLogger({ level: 'silent', stream: { write() {} } });
  let relay;
  try {
    const config = resolveConfig({}, {
      listen: ['127.0.0.1:0'], store: 'memory', helo: SUBMITTER, dnsServers: [lab.dns.server], caFile,
      policyPort: lab.policyPort, smtpPort: mx.port, allowPrivate: true, refreshInterval: 0, reuseIdle: 0, shutdownTimeout: 5,
      timeouts: { connect: 5, reply: 10, tls: 10, delivery: 30 },
    });
    relay = await startRelay(config, { logger });
    const nodemailer = peerDependency('nodemailer', 'mtasts demo');
    const deliveries = [];
    for (const [i, d] of DELIVERIES.entries()) {
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port: relay.addresses[0].port, ignoreTLS: true, name: 'client.lab.test' });
      const to = `user${i}@${d.domain}`;
      let got;
      try {
        const info = await transport.sendMail({ envelope: { from: 'demo@origin.lab.test', to: [to] }, raw: `From: <demo@origin.lab.test>\r\nTo: <${to}>\r\nMessage-ID: <${i}.${Date.now()}@origin.lab.test>\r\nSubject: mtasts demo\r\n\r\nhello\r\n` });
        got = { outcome: 'delivered', reply: String(info.response ?? '') };
      } catch (err) {
        got = { outcome: err.responseCode >= 400 && err.responseCode < 500 ? 'deferred' : 'rejected', reply: String(err.response ?? err.message) };
      } finally {
        transport.close();
      }
      deliveries.push({ to, mx: d.mx, expect: d.expect, ...got, matches: got.outcome === d.expect });
    }
    const day = dayOf(new Date(now()));
    const results = await sessionResultsFor(relay.tlsrpt, day);
    const built = buildTlsRptReports({ organization: ORG, contact: `mailto:postmaster@${SUBMITTER}`, submitter: SUBMITTER, day, results });
    const reports = built.map((r) => ({ fileName: r.fileName, ...readTlsRptReport(r.json) }));
    return { ok: deliveries.every((d) => d.matches) && reports.length > 0, deliveries, reports };
  } finally {
    await relay?.close();
    await mx.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The demo's text for this part. */
export function renderReportDemo({ deliveries, reports }, { m, paint }) {
  const out = ['', paint.bold('TLS reporting (RFC 8460): the relay delivers through the lab MX, then the day\'s report'), ''];
  const width = Math.max(...deliveries.map((d) => d.to.length));
  for (const d of deliveries) {
    out.push(`${d.matches ? m.ok : m.bad} ${d.to.padEnd(width)}  MX certificate ${d.mx.padEnd(9)}  ${d.outcome}: ${d.reply.split('\n')[0].slice(0, 90)}`);
  }
  out.push('', `what the domains' report endpoints would receive (${reports.length} reports, built by the core and read back):`);
  for (const r of reports) {
    for (const p of r.policies) {
      const failures = p.failures.map((f) => `${f.resultType} ×${f.count}${f.receivingMxHostname ? ` (${f.receivingMxHostname} ${f.receivingIp ?? ''})`.replace(' )', ')') : ''}`).join(', ');
      out.push(`  ${p.policyDomain.padEnd(28)} ${p.policyType.padEnd(15)} ${String(p.successful).padStart(2)} ok  ${String(p.failed).padStart(2)} failed${failures ? `: ${failures}` : ''}`);
    }
  }
  out.push(`  (one file each, named as RFC 8460 §5.3 says, e.g. ${reports[0]?.fileName ?? '-'})`);
  return out;
}
