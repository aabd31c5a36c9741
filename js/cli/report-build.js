// `mtasts report build`: the TLS reports (RFC 8460 §4) of one UTC day, from the sessions the
// relay recorded (js/relay/tlsrpt-log.js). The core aggregates and writes each report's JSON
// (buildTlsRptReports, src/tlsrpt/report.rs); this command reads the records, gzips each report
// under the core's RFC 8460 §5.3 file name, and optionally prunes old records. Sending is
// `report send` (report-send.js).

import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildTlsRptReports, readTlsRptReport } from '../node/index.js';
import { DEFAULT_KEEP_DAYS, pruneTlsrptLog, sessionResultsFor } from '../relay/tlsrpt-log.js';
import { parseCommandLine, UsageError } from './usage.js';
import { dateArgument, dayOf, required, storeDirOf, submitterOf, tlsrptLogOf, writeAtomically } from './report-args.js';

export const usage = `usage: mtasts report build --org NAME --contact ADDR --out DIR [options]

Builds the TLS reports (RFC 8460 §4) of one UTC day from the sessions \`mtasts relay\` recorded in
its store (<store dir>/tlsrpt/<YYYY-MM-DD>/<policy domain>.jsonl): one report per policy domain,
written gzipped to DIR under its RFC 8460 §5.3 name
(<submitter>!<policy domain>!<begin>!<end>.json.gz). Building a day again gives the same
bytes and the same report-id, and replaces the file.

options:
  --store file:DIR       the relay's store (default: file:$XDG_CACHE_HOME/mtasts, or
                         ~/.cache/mtasts, the relay's default); redis://HOST[:PORT][/DB] reads a
                         fleet's records in Redis
  --date YYYY-MM-DD      the UTC day to report (default: yesterday, UTC)
  --out DIR              where the .json.gz files go (created if missing)
  --org NAME             RFC 8460 §4.4 organization-name: who sends the reports
  --contact ADDR         RFC 8460 §4.4 contact-info: an address or URI to reach the sender
  --submitter NAME       the submitter's domain: the file name's first part (RFC 8460 §5.3) and
                         part of the report-id (default: this host's name, as --helo takes it)
  --json                 print one JSON object instead of one line per report
  --prune                also delete recorded days older than --keep-days
  --keep-days N          with --prune: days of records kept before today (default ${DEFAULT_KEEP_DAYS})
  -h, --help             show this help

output: one line per report: policy domain, report-id, sessions ok and failed, file.

exit status: 0 reports written,
             1 no session recorded on that day (nothing to build),
             2 usage or local error
`;

const OPTIONS = {
  store: { type: 'string' },
  date: { type: 'string' },
  out: { type: 'string' },
  org: { type: 'string' },
  contact: { type: 'string' },
  submitter: { type: 'string' },
  json: { type: 'boolean' },
  prune: { type: 'boolean' },
  'keep-days': { type: 'string' },
};

const DAY_MS = 86_400_000;

export async function run(args, io) {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (positionals.length > 0) throw new UsageError(`report build takes no arguments, found ${JSON.stringify(positionals[0])}`);
  const organization = required(values.org, '--org', 'build');
  const contact = required(values.contact, '--contact', 'build');
  const out = required(values.out, '--out', 'build');
  const storeDir = storeDirOf(values.store, io.env);
  const day = values.date === undefined ? dayOf(Date.now() - DAY_MS) : dateArgument(values.date);
  const submitter = submitterOf(values.submitter);
  if (values['keep-days'] !== undefined && !values.prune) throw new UsageError('--keep-days needs --prune');
  const keepDays = keepDaysOf(values['keep-days']);

  const { log, store, where } = tlsrptLogOf(values.store, storeDir);
  const results = await sessionResultsFor(log, day);
  const reports = [];
  if (results.length > 0) {
    const built = buildTlsRptReports({ organization, contact, submitter, day, results });
    await mkdir(out, { recursive: true }).catch((err) => {
      throw new UsageError(`cannot create ${out}: ${err.code ?? err.message}`);
    });
    for (const report of built) {
      const file = join(out, report.fileName);
      await writeAtomically(file, gzipSync(Buffer.from(report.json, 'utf8')));
      // The counts as the core's reader sees the file's JSON.
      const summary = readTlsRptReport(report.json);
      const sum = (k) => summary.policies.reduce((n, p) => n + p[k], 0);
      reports.push({ policyDomain: report.policyDomain, reportId: report.reportId, successful: sum('successful'), failed: sum('failed'), file: resolve(file) });
    }
  }
  const pruned = values.prune ? await pruneTlsrptLog(log, { now: Date.now(), keepDays }) : [];

  if (values.json) {
    io.stdout.write(`${JSON.stringify({ day, store, submitter, reports, pruned }, null, 2)}\n`);
  } else {
    for (const r of reports) {
      io.stdout.write(`${r.policyDomain}  ${r.reportId}  sessions: ${r.successful} ok, ${r.failed} failed  ${r.file}\n`);
    }
    if (pruned.length > 0) io.stdout.write(`pruned ${pruned.length} day${pruned.length === 1 ? '' : 's'} of records: ${pruned.join(', ')}\n`);
  }
  if (reports.length === 0) {
    io.stderr.write(`mtasts: no TLS-RPT session recorded on ${day} in ${where}: no report to build\n`);
    return 1;
  }
  return 0;
}

function keepDaysOf(text) {
  if (text === undefined) return DEFAULT_KEEP_DAYS;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 3660) {
    throw new UsageError(`--keep-days needs a whole number from 1 to 3660, found ${JSON.stringify(text)}`);
  }
  return Number(text);
}

