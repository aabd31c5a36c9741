// RFC 8460 §5.3: a report submitted by mail — the message (multipart/report, the gzipped report
// as an application/tlsrpt+gzip part) and a nodemailer submission transport, optionally signing
// with DKIM over the TLS-Report headers. The outcome is classified like https-post.js's.

import { randomBytes } from 'node:crypto';
import { policyTrustAnchors } from '../node/https.js';
import { peerDependency } from '../peer-dependency.js';

/**
 * RFC 8460 §5.3: the report message. `multipart/report; report-type="tlsrpt"` with a short
 * text part and the gzipped report as `application/tlsrpt+gzip` under the core's file name;
 * `TLS-Report-Domain` and `TLS-Report-Submitter` headers, the subject
 * `Report Domain: D Submitter: S Report-ID: <id>`. RFC 8689 §5: `TLS-Required: No`, so a
 * report about broken TLS still reaches the domain. RFC 3834: `Auto-Submitted: auto-generated`.
 */
export function reportMessage({ report, gz, to, from, submitter, date = new Date() }) {
  const boundary = `tlsrpt-${randomBytes(12).toString('hex')}`;
  const domain = report.policyDomain;
  const id = `<${report.reportId}@${submitter}>`;
  const base64 = gz.toString('base64').replace(/.{1,76}/g, '$&\r\n');
  const lines = [
    `From: ${from}`,
    `To: ${to}`,
    `Subject: Report Domain: ${domain} Submitter: ${submitter} Report-ID: ${id}`,
    `Date: ${date.toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${randomBytes(8).toString('hex')}.${report.reportId}@${submitter}>`,
    `TLS-Report-Domain: ${domain}`,
    `TLS-Report-Submitter: ${submitter}`,
    'TLS-Required: No',
    'Auto-Submitted: auto-generated',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type="tlsrpt"; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Transfer-Encoding: 7bit',
    '',
    `This is an aggregate TLS report (RFC 8460) from ${submitter} for ${domain},`,
    `covering the UTC day ${JSON.parse(report.json)['date-range']?.['start-datetime']?.slice(0, 10) ?? ''}. The report is attached, gzipped.`,
    '',
    `--${boundary}`,
    'Content-Type: application/tlsrpt+gzip',
    'Content-Transfer-Encoding: base64',
    `Content-Disposition: attachment; filename="${report.fileName}"`,
    '',
  ];
  return `${lines.join('\r\n')}\r\n${base64}--${boundary}--\r\n`;
}

/** A nodemailer SMTP transport for --smtp; send() classifies the outcome like postReport. */
export async function smtpMailer({ smtp, auth, ca, timeout, dkim, submitter }) {
  const nodemailer = peerDependency('nodemailer', 'mailing TLS reports (--smtp)');
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: false,
    name: submitter,
    auth: auth ?? undefined,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    // The submission server's certificate is checked against the system roots plus --ca-file.
    tls: { ca: policyTrustAnchors(ca), rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    dnsTimeout: timeout,
    ...(dkim ? { dkim } : {}),
  });
  return {
    async send({ from, to, eml }) {
      try {
        const info = await transport.sendMail({ envelope: { from, to: [to] }, raw: eml });
        return { ok: true, detail: `smtp ${String(info.response ?? '').slice(0, 80)}` };
      } catch (err) {
        const code = Number(err?.responseCode);
        if (code >= 500 && code < 600) return { ok: false, temporary: false, code: 'tlsrpt-send-smtp-rejected', detail: `smtp ${String(err.response ?? err.message).slice(0, 120)}` };
        if (code >= 400 && code < 500) return { ok: false, temporary: true, code: 'tlsrpt-send-smtp-deferred', detail: `smtp ${String(err.response ?? err.message).slice(0, 120)}` };
        return { ok: false, temporary: true, code: 'tlsrpt-send-smtp-connect', detail: `smtp ${smtp.host}:${smtp.port}: ${err?.code ?? ''} ${err?.message ?? err}`.trim() };
      }
    },
    close: () => transport.close(),
  };
}

/**
 * nodemailer's DKIM options for a report message (`null` without a key). RFC 8460 §5.3: the
 * TLS-Report-Domain and TLS-Report-Submitter headers are among the signed ones.
 */
export function dkimOptions({ privateKey, selector, domain }) {
  return {
    domainName: domain,
    keySelector: selector,
    privateKey,
    headerFieldNames: 'from:to:subject:date:message-id:tls-report-domain:tls-report-submitter:content-type:mime-version',
  };
}
