// `mtasts report send`: delivers the TLS reports of one UTC day (RFC 8460 §5) to the endpoints the
// policy domains publish. The core builds the reports (buildTlsRptReports, as `report build` does)
// and selects the `_smtp._tls.<domain>` record (selectTlsRptRecord, RFC 8460 §3); this command
// looks the record up through the Node DNS host, POSTs to `https:` endpoints (RFC 8460 §5.4),
// mails `mailto:` endpoints through a submission server with nodemailer (RFC 8460 §5.3), and keeps
// a ledger so that each (day, domain, rua) is delivered once.
//
// The work is js/tlsrpt/submit.js's (sendDay), shared with the relay's own sender
// (`mtasts relay --tlsrpt-send`); the ledger and its retry rules are js/tlsrpt/ledger.js's. This
// file reads the command line and prints one line per endpoint.

import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { join } from 'node:path';
import { createDnsHost } from '../node/dns.js';
import { policyTrustAnchors } from '../node/https.js';
import { dkimOptions, smtpMailer } from '../tlsrpt/report-mail.js';
import { sendDay } from '../tlsrpt/submit.js';
import { integer, parseCommandLine, UsageError } from './usage.js';
import { readCaFile } from './check.js';
import { dateArgument, dayOf, required, storeDirOf, submitterOf, tlsrptLogOf } from './report-args.js';

export const usage = `usage: mtasts report send --org NAME --contact ADDR [options]

Builds the TLS reports (RFC 8460 §4) of one UTC day from the sessions \`mtasts relay\` recorded,
as \`mtasts report build\` does, and sends each to the endpoints its policy domain publishes in
the TXT record at _smtp._tls.<policy domain> (RFC 8460 §3): https: URIs get an HTTP POST of the
gzipped report (RFC 8460 §5.4), mailto: URIs one message through the --smtp submission server
(RFC 8460 §5.3). A ledger in <store dir>/tlsrpt-sent/<YYYY-MM-DD>.jsonl remembers what was sent
(and what an endpoint refused for good), so a second run for the same day sends nothing new. A
temporary failure (connect, timeout, HTTP 5xx/429, SMTP 4xx) is retried by a later run after a
backoff (5 min, then 3x longer each time, at most 6 h) and given up 24 h after its first failure.
Run it hourly from cron or a systemd timer (the README has both), or let the relay send
(\`mtasts relay --tlsrpt-send\`).

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
  --retry-now            try endpoints whose last try failed now, whatever their backoff
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

output: one line per (policy domain, endpoint): sent, skipped (why), waiting (backing off after a
failure), failed (why, and whether temporary: when it is tried again) or given up; and a last
line with the totals.

exit status: 0 every due report was sent, skipped for a reason or is waiting for its retry
             (nothing to send included),
             1 a delivery failed or was given up,
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
  'retry-now': { type: 'boolean' },
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

  const post = { secureContext: tls.createSecureContext({ ca: policyTrustAnchors(ca), minVersion: 'TLSv1.2' }), policyPort, timeout };
  const mailer = smtp === null || dryRun ? null : await smtpMailer({ smtp, auth, ca, timeout, dkim, submitter });
  // The records: the relay's files, or a fleet's shared counters (redis://); the ledger stays local.
  const records = tlsrptLogOf(values.store, storeDir);
  let sent;
  try {
    sent = await sendDay({
      log: records.log,
      ledgerDir: join(storeDir, 'tlsrpt-sent'),
      day, organization, contact, submitter, dns, post, mailer, from, dryRun, out,
      onlyFailures: values['only-failures'] === true,
      retryNow: values['retry-now'] === true,
    });
  } catch (err) {
    if (err?.code === 'tlsrpt-ledger-io' || err?.code === 'EACCES' || err?.code === 'ENOSPC') throw new UsageError(err.message);
    throw err;
  } finally {
    mailer?.close();
  }
  if (sent.reports === 0) {
    const why = sent.why === 'no session recorded' ? `no session recorded in ${records.where}` : sent.why;
    io.stdout.write(`no report to send for ${day}: ${why}\n`);
    return 0;
  }
  const totals = { sent: 0, skipped: 0, waiting: 0, failed: 0, 'given up': 0, 'already done': 0 };
  for (const r of sent.results) {
    const [total, what] = describe(r);
    totals[total] += 1;
    io.stdout.write(`${r.domain}  ${r.rua ?? '-'}  ${what}\n`);
  }
  const parts = Object.entries(totals).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`);
  const nothingNew = totals.sent === 0 && totals.failed === 0 && totals['already done'] > 0 ? ': nothing new to send' : '';
  io.stdout.write(`${day}: ${parts.join(', ') || 'no endpoint'}${nothingNew}${dryRun ? ' (dry run: nothing sent)' : ''}\n`);
  return totals.failed > 0 || totals['given up'] > 0 ? 1 : 0;
}

/** One output line per endpoint: [the total it counts in, what happened]. */
function describe(r) {
  const code = r.code ? ` [${r.code}]` : '';
  const at = (ms) => new Date(ms).toISOString();
  switch (r.status) {
    case 'sent': return ['sent', `sent (${r.detail})`];
    case 'already-sent': return ['already done', `already ${r.detail} (ledger)`];
    case 'refused': return ['already done', `skipped: refused for good, ${r.detail}${code} (ledger)`];
    case 'given-up': return r.final ? ['already done', `given up before: ${r.detail}${code} (ledger)`] : ['given up', `given up: ${r.detail}${code}`];
    case 'failed': return ['failed', `failed (permanent): ${r.detail}${code}`];
    case 'deferred': return ['failed', `failed (temporary, tried again from ${at(r.until)}): ${r.detail}${code}`];
    case 'waiting': return ['waiting', `waiting: the last try failed (${r.detail}${code}); next try from ${at(r.until)} (--retry-now tries now)`];
    case 'dry-run': return ['skipped', `dry run: ${r.detail}`];
    default: return ['skipped', `skipped: ${r.detail}${code}`];
  }
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
  return dkimOptions({ privateKey, selector: values['dkim-selector'], domain: values['dkim-domain'] });
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



