// `mtasts report send`: delivers the TLS reports of one UTC day (RFC 8460 §5) to the endpoints the
// policy domains publish. The core builds the reports (buildTlsRptReports, as `report build` does)
// and selects the `_smtp._tls.<domain>` record (selectTlsRptRecord, RFC 8460 §3); this command
// looks the record up through the Node DNS host, POSTs to `https:` endpoints (RFC 8460 §5.4),
// mails `mailto:` endpoints through a submission server with nodemailer (RFC 8460 §5.3), and keeps
// a ledger so that each (day, domain, rua) is delivered once.
//
// Ledger: <store dir>/tlsrpt-sent/<YYYY-MM-DD>.jsonl, one JSON line per (domain, rua) done —
// `{ at, policyDomain, rua, reportId, outcome: 'sent' | 'failed', code, detail }` — appended and
// fsync'd before the next endpoint is tried. A temporary failure writes no line: the next run
// tries again. A permanent failure (a redirect, a 4xx from HTTPS, a 5xx from SMTP) writes one with
// outcome `failed`, so that an endpoint that refuses the report is not hammered daily.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, open, readFile } from 'node:fs/promises';
import https from 'node:https';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildTlsRptReports, selectTlsRptRecord } from '../node/index.js';
import { createDnsHost } from '../node/dns.js';
import { classifyFetchError, policyTrustAnchors } from '../node/https.js';
import { sessionResultsFor } from '../relay/tlsrpt-log.js';
import { integer, parseCommandLine, UsageError } from './usage.js';
import { readCaFile } from './check.js';
import { dateArgument, dayOf, required, storeDirOf, submitterOf, tlsrptLogOf, writeAtomically } from './report-args.js';

export const usage = `usage: mtasts report send --org NAME --contact ADDR [options]

Builds the TLS reports (RFC 8460 §4) of one UTC day from the sessions \`mtasts relay\` recorded,
as \`mtasts report build\` does, and sends each to the endpoints its policy domain publishes in
the TXT record at _smtp._tls.<policy domain> (RFC 8460 §3): https: URIs get an HTTP POST of the
gzipped report (RFC 8460 §5.4), mailto: URIs one message through the --smtp submission server
(RFC 8460 §5.3). A ledger in <store dir>/tlsrpt-sent/<YYYY-MM-DD>.jsonl remembers what was sent
(and what an endpoint refused for good), so a second run for the same day sends nothing new; a
temporary failure is tried again by the next run.

options:
  --store file:DIR       the relay's store (default: file:$XDG_CACHE_HOME/mtasts, or
                         ~/.cache/mtasts, the relay's default); redis://HOST[:PORT][/DB] reads a
                         fleet's records in Redis (the ledger stays in its local=DIR)
  --date YYYY-MM-DD      the UTC day to report (default: yesterday, UTC)
  --org NAME             RFC 8460 §4.4 organization-name: who sends the reports
  --contact ADDR         RFC 8460 §4.4 contact-info: an address or URI to reach the sender
  --submitter NAME       the submitter's domain (file name, report-id, TLS-Report-Submitter;
                         default: this host's name)
  --only-failures        send only reports with at least one failed session
  --dry-run              send nothing and write no ledger line; with --out, write what would be
                         sent: the .json.gz of each report and the .eml of each mailto: message
  --out DIR              with --dry-run: where those files go (created if missing)
  --smtp HOST:PORT       the submission server for mailto: endpoints (without it, mailto:
                         endpoints are skipped)
  --smtp-user USER       authenticate to --smtp as USER (needs --smtp-pass-file)
  --smtp-pass-file FILE  the password for --smtp-user (first line of FILE)
  --from ADDR            the messages' From (default: tlsrpt@<submitter>)
  --dkim-key FILE        sign messages with DKIM with this PEM private key (needs
                         --dkim-selector and --dkim-domain; TLS-Report-Domain and
                         TLS-Report-Submitter are in the signed headers)
  --dkim-selector S      the DKIM selector
  --dkim-domain D        the DKIM signing domain (d=)
  --dns-server HOST:PORT ask this name server instead of the system's (repeatable)
  --ca-file FILE         also trust the CA certificates (PEM) in FILE (https: endpoints and the
                         --smtp server's STARTTLS)
  --policy-port N        connect to port N for every https: endpoint instead of the URI's port
                         (test infrastructure only)
  --timeout MS           limit of one HTTPS POST or one SMTP submission (default 60000)
  -h, --help             show this help

output: one line per (policy domain, endpoint): sent, skipped (why) or failed (why, and whether
temporary: tried again on the next run); and a last line with the totals.

exit status: 0 every due report was sent or skipped for a reason (nothing to send included),
             1 a delivery failed,
             2 usage or local error
`;

const OPTIONS = {
  store: { type: 'string' },
  date: { type: 'string' },
  org: { type: 'string' },
  contact: { type: 'string' },
  submitter: { type: 'string' },
  'only-failures': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  out: { type: 'string' },
  smtp: { type: 'string' },
  'smtp-user': { type: 'string' },
  'smtp-pass-file': { type: 'string' },
  from: { type: 'string' },
  'dkim-key': { type: 'string' },
  'dkim-selector': { type: 'string' },
  'dkim-domain': { type: 'string' },
  'dns-server': { type: 'string', multiple: true },
  'ca-file': { type: 'string' },
  'policy-port': { type: 'string' },
  timeout: { type: 'string' },
};

const DAY_MS = 86_400_000;
const MAX_ANSWER = 4096;

export async function run(args, io) {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (positionals.length > 0) throw new UsageError(`report send takes no arguments, found ${JSON.stringify(positionals[0])}`);
  const organization = required(values.org, '--org', 'send');
  const contact = required(values.contact, '--contact', 'send');
  const storeDir = storeDirOf(values.store, io.env);
  const day = values.date === undefined ? dayOf(Date.now() - DAY_MS) : dateArgument(values.date);
  const submitter = submitterOf(values.submitter);
  const dryRun = values['dry-run'] === true;
  if (values.out !== undefined && !dryRun) throw new UsageError('--out needs --dry-run (a real send writes no files but the ledger)');
  const out = values.out;
  const smtp = values.smtp === undefined ? null : hostPort(values.smtp, '--smtp');
  if (values['smtp-user'] !== undefined && values['smtp-pass-file'] === undefined) throw new UsageError('--smtp-user needs --smtp-pass-file');
  if (values['smtp-pass-file'] !== undefined && values['smtp-user'] === undefined) throw new UsageError('--smtp-pass-file needs --smtp-user');
  if ((values['smtp-user'] !== undefined || values.from !== undefined) && smtp === null) throw new UsageError(`${values.from !== undefined ? '--from' : '--smtp-user'} needs --smtp`);
  const auth = values['smtp-user'] === undefined ? null : { user: values['smtp-user'], pass: firstLine(values['smtp-pass-file']) };
  const from = values.from ?? `tlsrpt@${submitter}`;
  if (!/^[^\s@<>]+@[^\s@<>]+$/.test(from)) throw new UsageError(`--from needs an address local@domain, found ${JSON.stringify(from)}`);
  const dkim = dkimOf(values);
  const ca = values['ca-file'] === undefined ? undefined : readCaFile(values['ca-file']);
  const policyPort = integer(values['policy-port'], '--policy-port', 1, 65535);
  const timeout = integer(values.timeout, '--timeout', 1, 3_600_000) ?? 60000;
  let dns;
  try {
    dns = createDnsHost({ servers: values['dns-server'] });
  } catch (err) {
    if (err?.code === 'ERR_INVALID_IP_ADDRESS') throw new UsageError(`--dns-server needs an IP address with an optional port (127.0.0.1:5353, [::1]:53), found ${values['dns-server'].join(', ')}`);
    throw err;
  }

  const records = tlsrptLogOf(values.store, storeDir);
  const results = await sessionResultsFor(records.log, day);
  let reports = results.length === 0 ? [] : buildTlsRptReports({ organization, contact, submitter, day, results });
  if (values['only-failures']) {
    const failing = new Set(results.filter((r) => r.result !== 'success').map((r) => r.policyDomain));
    reports = reports.filter((r) => failing.has(r.policyDomain));
  }
  if (reports.length === 0) {
    const why = results.length === 0 ? `no session recorded in ${records.where}` : 'no policy domain had a failed session (--only-failures)';
    io.stdout.write(`no report to send for ${day}: ${why}\n`);
    return 0;
  }
  if (out !== undefined) {
    await mkdir(out, { recursive: true }).catch((err) => {
      throw new UsageError(`cannot create ${out}: ${err.code ?? err.message}`);
    });
  }

  const ledger = await openLedger(join(storeDir, 'tlsrpt-sent'), day);
  const secureContext = tls.createSecureContext({ ca: policyTrustAnchors(ca), minVersion: 'TLSv1.2' });
  const mailer = smtp === null || dryRun ? null : await smtpMailer({ smtp, auth, ca, timeout, dkim, submitter });
  const totals = { sent: 0, skipped: 0, failed: 0, 'already done': 0 };
  const say = (domain, rua, what) => io.stdout.write(`${domain}  ${rua}  ${what}\n`);

  try {
    for (const report of reports) {
      const domain = report.policyDomain;
      const gz = gzipSync(Buffer.from(report.json, 'utf8'));
      const record = await tlsRptRecordOf(dns, domain);
      if (!record.ok) {
        totals.skipped += 1;
        say(domain, '-', `skipped: ${record.why} [${record.code}]`);
        continue;
      }
      if (out !== undefined) await writeAtomically(join(out, report.fileName), gz);
      for (const rua of record.rua) {
        const done = ledger.find(domain, rua);
        if (done) {
          totals['already done'] += 1;
          say(domain, rua, done.outcome === 'sent' ? `already sent at ${done.at} (ledger)` : `skipped: refused for good at ${done.at}: ${done.detail} [${done.code}] (ledger)`);
          continue;
        }
        let outcome;
        if (rua.startsWith('https:')) {
          if (dryRun) outcome = { dry: `would POST ${gz.length} bytes${out === undefined ? '' : ` (${join(out, report.fileName)})`}` };
          else outcome = await postReport(rua, gz, { lookup: dns.lookup, secureContext, policyPort, timeout });
        } else if (rua.startsWith('mailto:')) {
          const to = mailtoAddress(rua);
          if (to === null) outcome = { skip: `not a mailto: address the sender can use`, code: 'tlsrpt-send-mailto-invalid' };
          else if (smtp === null && !(dryRun && out !== undefined)) outcome = { skip: 'no --smtp server to send mail through', code: 'tlsrpt-send-no-smtp' };
          else {
            const eml = reportMessage({ report, gz, to, from, submitter });
            if (dryRun) {
              const file = out === undefined ? null : join(out, `${report.fileName.replace(/\.json\.gz$/, '')}!${to}.eml`);
              if (file) await writeAtomically(file, Buffer.from(eml, 'utf8'));
              outcome = { dry: `would mail ${to}${file ? ` (${file})` : ''}` };
            } else {
              outcome = await mailer.send({ from, to, eml });
            }
          }
        } else {
          // selectTlsRptRecord keeps https: and mailto: only; kept total.
          outcome = { skip: 'not an https: or mailto: uri', code: 'tlsrpt-send-scheme' };
        }

        if (outcome.dry) {
          totals.skipped += 1;
          say(domain, rua, `dry run: ${outcome.dry}`);
        } else if (outcome.skip) {
          totals.skipped += 1;
          say(domain, rua, `skipped: ${outcome.skip} [${outcome.code}]`);
        } else if (outcome.ok) {
          await ledger.append({ at: new Date().toISOString(), policyDomain: domain, rua, reportId: report.reportId, outcome: 'sent', detail: outcome.detail });
          totals.sent += 1;
          say(domain, rua, `sent (${outcome.detail})`);
        } else {
          if (!outcome.temporary) {
            await ledger.append({ at: new Date().toISOString(), policyDomain: domain, rua, reportId: report.reportId, outcome: 'failed', code: outcome.code, detail: outcome.detail });
          }
          totals.failed += 1;
          say(domain, rua, `failed (${outcome.temporary ? 'temporary, tried again next run' : 'permanent'}): ${outcome.detail} [${outcome.code}]`);
        }
      }
    }
  } finally {
    mailer?.close();
  }
  const parts = Object.entries(totals).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`);
  const nothingNew = totals.sent === 0 && totals.failed === 0 && totals['already done'] > 0 ? ': nothing new to send' : '';
  io.stdout.write(`${day}: ${parts.join(', ') || 'no endpoint'}${nothingNew}${dryRun ? ' (dry run: nothing sent)' : ''}\n`);
  return totals.failed > 0 ? 1 : 0;
}

/**
 * RFC 8460 §3: the TXT records at `_smtp._tls.<domain>`, selected by the core. No record, more
 * than one, or an invalid one: the domain does not take reports ("senders MUST assume the
 * recipient domain does not implement TLSRPT"). A temporary DNS failure is also a skip, with its
 * own code (the next run may find the record).
 */
async function tlsRptRecordOf(dns, domain) {
  const name = `_smtp._tls.${domain}`;
  const answer = await dns.resolveTxt(name);
  if (!answer.ok) {
    if (answer.kind === 'none') return { ok: false, code: 'tlsrpt-record-none', why: `no TLS-RPT record at ${name} (${answer.detail})` };
    return { ok: false, code: 'tlsrpt-send-dns-temporary', why: `cannot look up ${name}: ${answer.message}` };
  }
  let record;
  try {
    record = selectTlsRptRecord(answer.records);
  } catch (err) {
    return { ok: false, code: err.code ?? 'tlsrpt-record-invalid', why: `${name}: ${err.message}` };
  }
  if (record === null) return { ok: false, code: 'tlsrpt-record-none', why: `no TLS-RPT record at ${name} (no TXT record starts with v=TLSRPTv1;)` };
  if (record.rua.length === 0) return { ok: false, code: 'tlsrpt-record-invalid', why: `${name} names no https: or mailto: endpoint` };
  return { ok: true, rua: record.rua };
}

/**
 * RFC 8460 §5.4: one HTTP POST of the gzipped report, `Content-Type: application/tlsrpt+gzip`;
 * a 2xx is success. TLS is verified against the system roots plus --ca-file, the host name is
 * resolved through the injected DNS (js/node/dns.js lookup, as js/node/https.js does for policy
 * hosts), one timer bounds the whole exchange.
 * @returns {Promise<{ ok: true, detail } | { ok: false, temporary: boolean, code, detail }>}
 */
function postReport(rua, gz, { lookup, secureContext, policyPort, timeout }) {
  let target;
  try {
    target = new URL(rua);
  } catch {
    return Promise.resolve({ ok: false, temporary: false, code: 'tlsrpt-send-uri-invalid', detail: `not a uri: ${JSON.stringify(rua)}` });
  }
  const host = target.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    let settled = false;
    let req;
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req?.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, temporary: true, code: 'tlsrpt-send-timeout', detail: `no answer from ${host} within ${timeout} ms` }), timeout);
    req = https.request({
      host,
      port: policyPort ?? (target.port ? Number(target.port) : 443),
      path: `${target.pathname}${target.search}`,
      method: 'POST',
      lookup,
      servername: isIP(host) ? undefined : host,
      secureContext,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      agent: false,
      headers: {
        // RFC 8460 §5.4: "application/tlsrpt+gzip" for the gzipped report.
        'Content-Type': 'application/tlsrpt+gzip',
        'Content-Length': gz.length,
        'User-Agent': 'mtasts',
        Connection: 'close',
      },
    });
    req.on('error', (err) => {
      const kind = classifyFetchError(err);
      const first = err?.code ? err : err?.errors?.[0] ?? err;
      const why = `${first?.code ?? 'EUNKNOWN'}: ${first?.message ?? String(err)}`;
      // Spec: a certificate the sender does not trust is not fixed by retrying tomorrow's run
      // alone, but it is a configuration the receiver can repair; like a connect failure it is
      // tried again (RFC 8460 §5.4 leaves retries to the sender).
      const code = { certificate: 'tlsrpt-send-certificate', tls: 'tlsrpt-send-tls', dns: 'tlsrpt-send-dns', connect: 'tlsrpt-send-connect' }[kind] ?? 'tlsrpt-send-http';
      finish({ ok: false, temporary: true, code, detail: `${kind === 'protocol' ? 'http exchange' : kind} with ${host} failed: ${why}` });
    });
    req.on('response', (res) => {
      const status = res.statusCode;
      // The answer's body is not needed; read a little so the server can finish, then close.
      let size = 0;
      res.on('data', (c) => {
        size += c.length;
        if (size > MAX_ANSWER) res.destroy();
      });
      if (status >= 200 && status < 300) return finish({ ok: true, detail: `http ${status}` });
      if (status >= 300 && status < 400) {
        // Spec: RFC 8460 §5.4 names no redirect; like the policy fetch (RFC 8461 §3.3) a redirect
        // is not followed, and the report is not posted to a URI the domain did not publish.
        return finish({ ok: false, temporary: false, code: 'tlsrpt-send-redirect', detail: `http ${status} redirect to ${JSON.stringify(res.headers.location ?? '')} not followed` });
      }
      // 5xx (and 429): the server's trouble, tried again; other 4xx: the report was refused.
      const temporary = status >= 500 || status === 429;
      finish({ ok: false, temporary, code: 'tlsrpt-send-http-status', detail: `http ${status}` });
    });
    req.end(gz);
  });
}

/** The address of a `mailto:` URI (RFC 6068), without any `?headers`; null when it has none. */
function mailtoAddress(rua) {
  let addr;
  try {
    addr = decodeURIComponent(rua.slice('mailto:'.length).split('?')[0]);
  } catch {
    return null;
  }
  return /^[^\s@<>,]+@[^\s@<>,]+$/.test(addr) ? addr : null;
}

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
async function smtpMailer({ smtp, auth, ca, timeout, dkim, submitter }) {
  const { default: nodemailer } = await import('nodemailer');
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

/** The day's ledger: what was done, per (policy domain, rua); append() is fsync'd. */
async function openLedger(dir, day) {
  const file = join(dir, `${day}.jsonl`);
  const done = new Map();
  const key = (domain, rua) => `${domain} ${rua}`;
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err.code !== 'ENOENT') throw new UsageError(`cannot read the ledger ${file}: ${err.code ?? err.message}`);
  }
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const r = JSON.parse(line);
      if (typeof r.policyDomain === 'string' && typeof r.rua === 'string') done.set(key(r.policyDomain, r.rua), r);
    } catch {
      // a line cut short by a crash: that endpoint is tried again
    }
  }
  return {
    file,
    find: (domain, rua) => done.get(key(domain, rua)) ?? null,
    async append(entry) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const fh = await open(file, 'a', 0o600);
      try {
        await fh.write(`${JSON.stringify(entry)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      done.set(key(entry.policyDomain, entry.rua), entry);
    },
  };
}

function dkimOf(values) {
  const given = ['dkim-key', 'dkim-selector', 'dkim-domain'].filter((k) => values[k] !== undefined);
  if (given.length === 0) return null;
  if (given.length !== 3) throw new UsageError('--dkim-key, --dkim-selector and --dkim-domain go together');
  let privateKey;
  try {
    privateKey = readFileSync(values['dkim-key'], 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${values['dkim-key']}: ${err.code ?? err.message}`);
  }
  return {
    domainName: values['dkim-domain'],
    keySelector: values['dkim-selector'],
    privateKey,
    // RFC 8460 §5.3: the TLS-Report-Domain and TLS-Report-Submitter headers are signed.
    headerFieldNames: 'from:to:subject:date:message-id:tls-report-domain:tls-report-submitter:content-type:mime-version',
  };
}

function firstLine(file) {
  try {
    return readFileSync(file, 'utf8').split(/\r?\n/)[0];
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${err.code ?? err.message}`);
  }
}

function hostPort(text, flag) {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535) throw new UsageError(`${flag} needs HOST:PORT, found ${JSON.stringify(text)}`);
  return { host: m[1] ?? m[2], port: Number(m[3]) };
}



