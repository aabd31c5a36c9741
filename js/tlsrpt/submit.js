// Sending one UTC day's TLS reports (RFC 8460 §5): the core builds them from the recorded session
// results (buildTlsRptReports, as `report build` does), each policy domain's `_smtp._tls` record
// says where they go (endpoints.js), https: endpoints get a POST (https-post.js), mailto: endpoints
// a message through the submission server (report-mail.js), and the ledger (ledger.js) makes each
// (day, domain, rua) happen once, with retries of temporary failures for a bounded time.
// `mtasts report send` (js/cli/report-send.js) and the relay's sender (js/relay/tlsrpt-sender.js)
// both run this; neither decides anything of its own.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildTlsRptReports } from '../node/index.js';
import { sessionResultsFor } from '../relay/tlsrpt-log.js';
import { mailtoAddress, tlsRptRecordOf } from './endpoints.js';
import { postReport } from './https-post.js';
import { reportMessage } from './report-mail.js';
import { openLedger } from './ledger.js';
import { writeAtomically } from '../cli/report-args.js';

/**
 * @param {object} o
 * @param {object} o.log the TLS-RPT log (tlsrpt-log.js interface)
 * @param {string} o.ledgerDir where the ledger files are (ledger.js)
 * @param {string} o.day `YYYY-MM-DD`
 * @param {string} o.organization @param {string} o.contact @param {string} o.submitter
 * @param {object} o.dns the Node DNS host (resolveTxt, lookup)
 * @param {object} o.post { secureContext, policyPort, timeout } for https-post.js
 * @param {object|null} o.mailer smtpMailer(...) or null (mailto: endpoints are then skipped)
 * @param {string} o.from the messages' From
 * @param {boolean} [o.onlyFailures] send only the reports of domains with a failed session
 * @param {boolean} [o.dryRun] send nothing, write no ledger line; with `out`, write the files
 * @param {string} [o.out] the directory for --dry-run files
 * @param {boolean} [o.retryNow] try deferred endpoints now, whatever their backoff
 * @param {() => number} [o.now] clock (ms)
 * @param {object} [o.timing] ledger timings ({ retryBase, retryWindow }) for tests
 * @returns {Promise<{ day, reports: number, why: string|null, results: object[], pending: number }>}
 *   one result per (domain, rua) or per skipped domain: { domain, rua, status, code, detail, temporary, until }
 *   status: sent | already-sent | refused | given-up | failed | deferred | waiting | skipped | dry-run
 */
export async function sendDay(o) {
  const now = o.now ?? Date.now;
  const results = await sessionResultsFor(o.log, o.day);
  let reports = results.length === 0 ? [] : buildTlsRptReports({ organization: o.organization, contact: o.contact, submitter: o.submitter, day: o.day, results });
  if (o.onlyFailures) {
    const failing = new Set(results.filter((r) => r.result !== 'success').map((r) => r.policyDomain));
    reports = reports.filter((r) => failing.has(r.policyDomain));
  }
  const summary = { day: o.day, reports: reports.length, why: null, results: [], pending: 0 };
  if (reports.length === 0) {
    summary.why = results.length === 0 ? 'no session recorded' : 'no policy domain had a failed session (--only-failures)';
    return summary;
  }
  if (o.out !== undefined) await mkdir(o.out, { recursive: true });
  const ledger = await openLedger(o.ledgerDir, o.day, o.timing);
  const out = (r) => {
    summary.results.push({ code: null, detail: null, temporary: false, until: null, ...r });
    if (r.status === 'deferred' || r.status === 'waiting' || (r.status === 'skipped' && r.temporary)) summary.pending += 1;
  };

  for (const report of reports) {
    const domain = report.policyDomain;
    const record = await tlsRptRecordOf(o.dns, domain);
    if (!record.ok) {
      out({ domain, rua: null, status: 'skipped', code: record.code, detail: record.why, temporary: record.temporary === true });
      continue;
    }
    const gz = gzipSync(Buffer.from(report.json, 'utf8'));
    if (o.out !== undefined) await writeAtomically(join(o.out, report.fileName), gz);
    for (const rua of record.rua) {
      const due = ledger.due(domain, rua, now());
      const entry = due.entry;
      if (due.action === 'done') {
        const status = { sent: 'already-sent', failed: 'refused', 'given-up': 'given-up' }[entry.outcome];
        out({ domain, rua, status, code: entry.code ?? null, detail: `${entry.outcome} at ${entry.at}${entry.detail ? `: ${entry.detail}` : ''}`, final: true });
        continue;
      }
      if (due.action === 'give-up' && !o.dryRun) {
        const detail = `still failing ${entry.deferred} ${entry.deferred === 1 ? 'try' : 'tries'} after ${entry.firstDeferredAt}: ${entry.detail}`;
        await ledger.append({ at: new Date(now()).toISOString(), policyDomain: domain, rua, reportId: report.reportId, outcome: 'given-up', code: entry.code, detail });
        out({ domain, rua, status: 'given-up', code: entry.code, detail });
        continue;
      }
      if (due.action === 'wait' && !o.retryNow && !o.dryRun) {
        out({ domain, rua, status: 'waiting', code: entry.code, detail: entry.detail, until: due.until, temporary: true });
        continue;
      }
      const outcome = await deliver(o, report, gz, rua);
      if (outcome.dry || outcome.skip) {
        out({ domain, rua, status: outcome.dry ? 'dry-run' : 'skipped', code: outcome.code ?? null, detail: outcome.dry ?? outcome.skip });
        continue;
      }
      // sent; failed: refused for good; deferred: a temporary failure, retried after its backoff.
      const status = outcome.ok ? 'sent' : outcome.temporary ? 'deferred' : 'failed';
      const code = outcome.ok ? undefined : outcome.code;
      await ledger.append({ at: new Date(now()).toISOString(), policyDomain: domain, rua, reportId: report.reportId, outcome: status, code, detail: outcome.detail });
      const until = status === 'deferred' ? (ledger.due(domain, rua, now()).until ?? now()) : null;
      out({ domain, rua, status, code: code ?? null, detail: outcome.detail, temporary: status === 'deferred', until });
    }
  }
  return summary;
}

/** One report to one endpoint: { ok, detail } | { ok: false, temporary, code, detail } | { skip, code } | { dry }. */
async function deliver(o, report, gz, rua) {
  if (rua.startsWith('https:')) {
    if (o.dryRun) return { dry: `would POST ${gz.length} bytes${o.out === undefined ? '' : ` (${join(o.out, report.fileName)})`}` };
    return postReport(rua, gz, { lookup: o.dns.lookup, ...o.post });
  }
  if (!rua.startsWith('mailto:')) return { skip: 'not an https: or mailto: uri', code: 'tlsrpt-send-scheme' };
  const to = mailtoAddress(rua);
  if (to === null) return { skip: 'not a mailto: address the sender can use', code: 'tlsrpt-send-mailto-invalid' };
  if (o.mailer === null && !(o.dryRun && o.out !== undefined)) return { skip: 'no --smtp server to send mail through', code: 'tlsrpt-send-no-smtp' };
  const eml = reportMessage({ report, gz, to, from: o.from, submitter: o.submitter, date: new Date((o.now ?? Date.now)()) });
  if (o.dryRun) {
    const file = o.out === undefined ? null : join(o.out, `${report.fileName.replace(/\.json\.gz$/, '')}!${to}.eml`);
    if (file) await writeAtomically(file, Buffer.from(eml, 'utf8'));
    return { dry: `would mail ${to}${file ? ` (${file})` : ''}` };
  }
  return o.mailer.send({ from: o.from, to, eml });
}
