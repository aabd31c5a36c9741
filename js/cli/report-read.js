// `mtasts report read`: the TLS reports a domain received (RFC 8460 §4), in every form they arrive
// — the JSON text, gzipped (`application/tlsrpt+gzip`), or the whole report mail (RFC 8460 §5.3) —
// summarised per report, with the problems the core noted and the totals across reports.
//
// The host's part is getting the JSON text out (read the file, gunzip with a bound, walk the MIME,
// js/cli/mime.js); every check of the report itself is the core's `readTlsRptReport`.

import { open } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { readTlsRptReport } from '../node/index.js';
import { painter } from './colour.js';
import { looksLikeMessage, leafParts, MimeError } from './mime.js';
import { fileProblem, parseCommandLine, UsageError } from './usage.js';

/** The most report JSON text read, gunzipped: the core's own bound (MAX_REPORT_BYTES, src/tlsrpt/report/read.rs). */
export const MAX_REPORT_BYTES = 16 * 1024 * 1024;
/** The most bytes read of one file or standard input (a mail of a 16 MiB report, base64: ~22 MiB). */
export const MAX_FILE_BYTES = 32 * 1024 * 1024;

function mib(n) {
  return `${n / (1024 * 1024)} MiB`;
}

export const usage = `usage: mtasts report read [--json] FILE...

Reads TLS reports received (RFC 8460 §4) and summarises each: organisation, report-id, date
range, and per policy domain the policy type, successful and failed sessions, and the failures by
result type with the receiving MX and IP; then the problems the reader noted. With several
reports, the totals per policy domain and result type follow.

FILE is the report JSON (.json), gzipped (.json.gz, .gz: application/tlsrpt+gzip) or a report
mail (.eml: multipart/report; report-type="tlsrpt", RFC 8460 §5.3), recognised by content, not
by name; '-' reads standard input. A file that cannot be read gives one line
  FILE: error [code] message
on standard error, and the other files are still read.

options:
  --json       print an array with one object per report read:
               { file, organization, reportId, dateRange: { start, end }, policies, problems }
  -h, --help   show this help

At most ${mib(MAX_FILE_BYTES)} are read from a file and a report is at most ${mib(MAX_REPORT_BYTES)} of JSON
once gunzipped (a larger one is refused, tlsrpt-gzip-too-large).

exit status: 0 every file read, 1 some file not read, 2 usage error
`;

/** A file that is not a readable report, before the core saw any JSON. `code` is stable. */
export class ReportInputError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'ReportInputError';
    this.code = code;
  }
}

const OPTIONS = { json: { type: 'boolean' } };

export async function run(args, io) {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('missing report file (or - for standard input); try mtasts report read --help');
  if (positionals.filter((f) => f === '-').length > 1) throw new UsageError("give '-' (standard input) once");

  const reports = [];
  let unread = 0;
  for (const file of positionals) {
    const label = file === '-' ? '<stdin>' : file;
    try {
      const bytes = file === '-' ? await readBounded(io.stdin, 'standard input') : await readFile(file);
      for (const json of reportTexts(bytes)) reports.push({ file: label, ...readTlsRptReport(json) });
    } catch (err) {
      if (typeof err?.code !== 'string' || !(err instanceof ReportInputError || err instanceof MimeError || err.name === 'MtaStsError')) throw err;
      unread++;
      const rfc = err.rfc ? ` (${err.rfc})` : '';
      io.stderr.write(`${label}: error [${err.code}] ${err.message}${rfc}\n`);
    }
  }

  if (values.json) {
    io.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
  } else {
    const paint = painter(io);
    for (const r of reports) io.stdout.write(formatReport(r, paint));
    if (reports.length > 1) io.stdout.write(formatTotals(reports, paint));
  }
  return unread > 0 ? 1 : 0;
}

// --- getting the JSON text out ---------------------------------------------------------------------

const GZIP_MAGIC = [0x1f, 0x8b]; // RFC 1952 §2.3.1

/**
 * The report JSON texts in `bytes`, told apart by content: gzip (magic number), JSON (`{`), or a
 * message (header fields) whose report parts are read in turn.
 */
export function reportTexts(bytes) {
  if (isGzip(bytes)) return [utf8(gunzip(bytes))];
  const start = firstNonSpace(bytes);
  // A `[` is JSON too: the core names what is wrong with it (tlsrpt-report-not-object).
  if (bytes[start] === 0x7b /* { */ || bytes[start] === 0x5b /* [ */) return [utf8(bytes)];
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  if (looksLikeMessage(text)) return fromMail(text);
  if (bytes.length === 0) throw new ReportInputError('tlsrpt-input-empty', 'the file is empty');
  throw new ReportInputError('tlsrpt-input-unknown', 'not a report: neither gzip (1f 8b), nor JSON ({), nor a mail (header fields)');
}

function fromMail(text) {
  const parts = leafParts(text);
  // RFC 8460 §5.3: the report is a part of type application/tlsrpt+gzip or application/tlsrpt+json.
  let reports = parts.filter((p) => p.type === 'application/tlsrpt+gzip' || p.type === 'application/tlsrpt+json');
  if (reports.length === 0) {
    // Interop: some senders label the report application/gzip, application/json or
    // application/octet-stream; the §5.3 file name (…!begin!end.json[.gz]) still says what it is.
    reports = parts.filter((p) => /\.json(\.gz)?$/i.test(p.filename ?? '') && /^application\//.test(p.type));
  }
  if (reports.length === 0) {
    const types = [...new Set(parts.map((p) => p.type))].join(', ') || 'none';
    throw new ReportInputError(
      'tlsrpt-mail-no-report',
      `the mail has no application/tlsrpt+gzip or application/tlsrpt+json part (its parts: ${types})`,
    );
  }
  return reports.map((p) => {
    const bytes = Buffer.from(p.body, 'latin1');
    // By content: a +json part that is gzipped, or a +gzip part that is not, is still read.
    return utf8(isGzip(bytes) ? gunzip(bytes) : bytes);
  });
}

function isGzip(bytes) {
  return bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

function firstNonSpace(bytes) {
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3; // a UTF-8 BOM
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  return i;
}

/** Gunzips at most MAX_REPORT_BYTES: a gzip bomb stops there, it is never inflated whole. */
function gunzip(bytes) {
  try {
    return gunzipSync(bytes, { maxOutputLength: MAX_REPORT_BYTES });
  } catch (err) {
    if (err.code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ReportInputError('tlsrpt-gzip-too-large', `gunzipped, the report is larger than ${mib(MAX_REPORT_BYTES)}, the most read (a report is far smaller)`);
    }
    throw new ReportInputError('tlsrpt-gzip-invalid', `not valid gzip: ${err.message}`);
  }
}

// RFC 8460 §4 reports are JSON, and JSON exchanged is UTF-8 (RFC 8259 §8.1).
const DECODER = new TextDecoder('utf-8', { fatal: true });

function utf8(bytes) {
  try {
    return DECODER.decode(bytes);
  } catch {
    throw new ReportInputError('tlsrpt-input-not-utf8', 'the report text is not UTF-8 (RFC 8259 §8.1)');
  }
}

async function readFile(file) {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    throw new ReportInputError('tlsrpt-input-unreadable', `cannot open: ${fileProblem(err)}`);
  }
  try {
    return await readBounded(fh.createReadStream({ autoClose: false }), 'the file');
  } finally {
    await fh.close().catch(() => {});
  }
}

/** Reads a stream to its end, or gives up past MAX_FILE_BYTES (`/dev/zero` is not read forever). */
async function readBounded(stream, what) {
  const chunks = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      chunks.push(chunk);
      size += chunk.length;
      if (size > MAX_FILE_BYTES) break; // leaving the loop stops reading
    }
  } catch (err) {
    throw new ReportInputError('tlsrpt-input-unreadable', `cannot read ${what}: ${fileProblem(err)}`);
  }
  if (size > MAX_FILE_BYTES) throw new ReportInputError('tlsrpt-input-too-large', `${what} is larger than ${mib(MAX_FILE_BYTES)}, the most read`);
  const buf = Buffer.concat(chunks);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}


// --- printing -------------------------------------------------------------------------------------

function formatReport(r, paint) {
  const lines = [];
  const org = r.organization || '(no organization-name)';
  const id = r.reportId || '(no report-id)';
  lines.push(`${paint.bold(`${r.file}:`)} ${org}, report ${id}, ${r.dateRange.start} to ${r.dateRange.end}`);
  for (const p of r.policies) {
    const failed = p.failed > 0 ? paint.red(`${p.failed} failed`) : `${p.failed} failed`;
    lines.push(`  ${p.policyDomain} (${p.policyType || 'no policy-type'}): ${p.successful} successful, ${failed}${share(p)}`);
    for (const f of p.failures) {
      const where = [f.receivingMxHostname && `mx ${f.receivingMxHostname}`, f.receivingIp && `ip ${f.receivingIp}`].filter(Boolean).join(', ');
      lines.push(`    ${f.resultType}: ${f.count}${where ? ` (${where})` : ''}`);
    }
  }
  for (const d of r.problems) {
    lines.push(`  ${paint.yellow('warning')} [${d.code}] ${d.message}${d.rfc ? ` ${paint.dim(`(${d.rfc})`)}` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

function share({ successful, failed }) {
  const total = successful + failed;
  return total > 0 && failed > 0 ? ` (${((100 * failed) / total).toFixed(1)}% failed)` : '';
}

/**
 * The totals across reports, one line per policy domain: what a domain owner reads before moving
 * a policy from `mode: testing` to `enforce` (RFC 8461 §5).
 */
export function totals(reports) {
  const byDomain = new Map();
  for (const r of reports) {
    for (const p of r.policies) {
      let t = byDomain.get(p.policyDomain);
      if (!t) byDomain.set(p.policyDomain, (t = { policyDomain: p.policyDomain, reports: new Set(), successful: 0, failed: 0, byResult: new Map() }));
      t.reports.add(r);
      t.successful += p.successful;
      t.failed += p.failed;
      for (const f of p.failures) t.byResult.set(f.resultType, (t.byResult.get(f.resultType) ?? 0) + f.count);
    }
  }
  return [...byDomain.values()]
    .sort((a, b) => (a.policyDomain < b.policyDomain ? -1 : a.policyDomain > b.policyDomain ? 1 : 0))
    .map((t) => ({
      policyDomain: t.policyDomain,
      reports: t.reports.size,
      successful: t.successful,
      failed: t.failed,
      failures: [...t.byResult].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([resultType, count]) => ({ resultType, count })),
    }));
}

function formatTotals(reports, paint) {
  const lines = [paint.bold(`total of ${reports.length} reports:`)];
  for (const t of totals(reports)) {
    const failures = t.failures.map((f) => `${f.resultType} ${f.count}`).join(', ');
    const failed = t.failed > 0 ? paint.red(`${t.failed} failed`) : `${t.failed} failed`;
    lines.push(`  ${t.policyDomain}: ${t.reports} report${t.reports === 1 ? '' : 's'}, ${t.successful} successful, ${failed}${share(t)}${failures ? `: ${failures}` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}
