// `mtasts survey`: the `check` pipeline over a list of domains (README: "mtasts survey"), and
// `mtasts survey merge` over the JSON lines of several shards.

import { closeSync, existsSync, openSync, writeFileSync, writeSync } from 'node:fs';
import tls from 'node:tls';
import { heloName, readCaFile } from './check.js';
import { fileProblem, integer, parseCommandLine, UsageError } from './usage.js';
import { readDomains } from '../survey/input.js';
import { parseShard } from '../survey/shard.js';
import { surveySession, HTML_ROWS } from '../survey/session.js';
import { createProgress } from '../survey/progress.js';
import { renderSummary } from '../survey/summary.js';
import { createTally } from '../survey/tally.js';
import { renderHtml } from '../survey/html.js';
import { csvHeader, csvLine } from '../survey/csv.js';
import { mergeResults } from '../survey/merge.js';
import { openResults, ResultsError } from '../survey/results.js';

export const handlesHelp = true;

export const usage = `usage: mtasts survey [options] <domains.txt | ->
       mtasts survey merge [options] <results.jsonl ...>

Runs \`mtasts check\` over a list of domains — the TXT record at _mta-sts (RFC 8461 §3.1), the
policy (§3.3, §3.2), the MX hosts against it (§4.1), the TLS-RPT record (RFC 8460 §3) and, with
--probe, each MX host's STARTTLS and certificate (§4.2) — and sorts each domain into a category
(no record, not an MTA-STS record, invalid record, several records, no policy and why, invalid
policy, valid by mode, MX outside the policy, MX certificate or STARTTLS failures).

The list: one domain per line (blank lines and # comments ignored), or a CSV file whose header
has a "domain" column; - reads standard input.

options:
  --out FILE             write one JSON line per domain (the check --json object plus "survey":
                         { category, attempts, at }), flushed per domain; - for standard output
  --resume FILE          continue FILE (as --out): skip the domains it holds, redo a last line
                         cut short by a crash
  --html FILE            a self-contained HTML report (charts and a sortable table)
  --csv FILE             one CSV row per domain
  --concurrency N        domains checked at once (default 50)
  --rate N               DNS queries per second per resolver (default 200; 0: no limit)
  --retries N            tries again after a temporary DNS failure (default 2), pausing
  --backoff MS           before the first retry, then twice as long each time (default 1000)
  --shard K/N            survey only the domains of shard K of N (by a hash of the name)
  --probe                also probe each MX host (EHLO, STARTTLS, certificate; never mail)
  --helo NAME            the name the probe gives in EHLO (default: this host's name)
  --timeout MS           policy fetch time limit (default 10000)
  --dns-timeout MS       DNS time limit per try (default 3000)
  --quiet                no progress on stderr
  -h, --help             show this help

merge: reads the JSON lines of every file (shards of one list, or runs), counts each domain once,
and prints the summary; --out FILE writes the merged lines, --html and --csv as above.

test infrastructure (off by default; for a lab such as \`mtasts lab world\` starts):
  --dns-server HOST:PORT ask this name server instead of the system's (repeatable: the domains
                         are spread over them, each with its own --rate)
  --ca-file FILE         also trust the CA certificates (PEM) in FILE
  --policy-port N        fetch policies from port N instead of 443
  --smtp-port N          probe the MX hosts on port N instead of 25
  --allow-private        probe MX addresses in special-purpose ranges (loopback, private: RFC 6890)

Without --out the summary goes to standard output: for up to 200 domains the original study's
table (domain, TXT record ○/×, policy mode or "no policy"), then counts and percentages. With
--out - the JSON lines go to standard output and the summary to stderr.

exit status: 0 every domain surveyed, 2 usage or local error, 130 interrupted (Ctrl-C: the
             output holds every domain finished so far; continue with --resume)
`;

const COMMON = {
  out: { type: 'string' },
  html: { type: 'string' },
  csv: { type: 'string' },
  quiet: { type: 'boolean' },
};
const OPTIONS = {
  ...COMMON,
  resume: { type: 'string' },
  concurrency: { type: 'string' },
  rate: { type: 'string' },
  retries: { type: 'string' },
  backoff: { type: 'string' },
  shard: { type: 'string' },
  probe: { type: 'boolean' },
  helo: { type: 'string' },
  timeout: { type: 'string' },
  'dns-timeout': { type: 'string' },
  'dns-server': { type: 'string', multiple: true },
  'ca-file': { type: 'string' },
  'policy-port': { type: 'string' },
  'smtp-port': { type: 'string' },
  'allow-private': { type: 'boolean' },
};

export async function run(args, io) {
  if (args[0] === 'merge') return merge(args.slice(1), io);
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('give one list of domains (a file, or - for standard input); try mtasts survey --help');
  const source = positionals[0];
  if (source !== '-' && !existsSync(source)) throw new UsageError(`cannot read ${source}: no such file`);
  if (values.resume && values.out && values.out !== values.resume) throw new UsageError('--resume FILE is the output: give --resume or --out, not both');
  const out = values.resume ?? values.out;
  if (values.resume === '-') throw new UsageError('--resume needs a file');
  let shard = null;
  if (values.shard !== undefined) {
    try {
      shard = parseShard(values.shard);
    } catch (err) {
      throw new UsageError(err.message);
    }
  }
  const ca = values['ca-file'] === undefined ? undefined : readCaFile(values['ca-file']);
  const host = {
    dnsServers: values['dns-server'],
    ca,
    policyPort: integer(values['policy-port'], '--policy-port', 1, 65535),
    timeout: integer(values.timeout, '--timeout', 1, 3_600_000) ?? 10_000,
    dnsTimeout: integer(values['dns-timeout'], '--dns-timeout', 1, 600_000) ?? 3000,
    rate: integer(values.rate, '--rate', 0, 1_000_000) ?? 200,
  };
  const probe = values.probe
    ? {
        heloName: heloName(values.helo),
        port: integer(values['smtp-port'], '--smtp-port', 1, 65535) ?? 25,
        allowPrivate: values['allow-private'] === true,
        // The extra CAs are trusted for the MX certificates too, as in check.
        roots: ca === undefined ? undefined : [...tls.rootCertificates, ca],
      }
    : false;

  const toStdout = out === '-';
  const summaryStream = toStdout ? io.stderr : io.stdout;
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  process.once('SIGINT', interrupt);
  let outcome;
  try {
    outcome = await surveySession({
      entries: () => readDomains(source, { stdin: io.stdin }),
      countFirst: source !== '-',
      host,
      probe,
      out: toStdout ? undefined : out,
      resume: values.resume !== undefined,
      stdoutLines: toStdout ? (line) => io.stdout.write(line) : undefined,
      csv: values.csv,
      html: values.html,
      concurrency: integer(values.concurrency, '--concurrency', 1, 100_000) ?? 50,
      retries: integer(values.retries, '--retries', 0, 100) ?? 2,
      backoffMs: integer(values.backoff, '--backoff', 0, 3_600_000) ?? 1000,
      shard,
      progress: createProgress({ stream: io.stderr, quiet: values.quiet }),
      signal: controller.signal,
    });
  } catch (err) {
    if (err instanceof ResultsError) throw new UsageError(err.message);
    if (err?.syscall && err.path) throw new UsageError(`cannot write ${err.path}: ${fileProblem(err)}`);
    throw err;
  } finally {
    process.off('SIGINT', interrupt);
  }
  if (!(values.quiet && toStdout)) summaryStream.write(renderSummary(outcome.tally));
  if (outcome.interrupted) {
    io.stderr.write(`mtasts survey: interrupted; ${outcome.tally.counts().total} domains are in the output${out && !toStdout ? ` (continue: mtasts survey --resume ${out} ${source})` : ''}\n`);
    // Checks still in flight hold sockets open until their time limits: leave now (every result
    // written is already whole in the file).
    setImmediate(() => process.exit(130));
    return 130;
  }
  return 0;
}

async function merge(args, io) {
  const { values, positionals } = parseCommandLine(args, COMMON);
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('give the JSON lines files to merge; try mtasts survey --help');
  for (const f of positionals) if (!existsSync(f)) throw new UsageError(`cannot read ${f}: no such file`);
  const tally = createTally({ keepRows: values.html ? HTML_ROWS : 1000 });
  const toStdout = values.out === '-';
  const results = values.out && !toStdout ? openResults(values.out) : null;
  const csv = values.csv ? openSync(values.csv, 'w') : null;
  if (csv !== null) writeSync(csv, csvHeader());
  let summary;
  try {
    summary = await mergeResults(positionals, (result) => {
      results?.write(result);
      if (toStdout) io.stdout.write(`${JSON.stringify(result)}\n`);
      const row = tally.add(result);
      if (csv !== null) writeSync(csv, csvLine(row));
    });
  } catch (err) {
    if (err instanceof ResultsError) throw new UsageError(err.message);
    throw err;
  } finally {
    results?.close();
    if (csv !== null) closeSync(csv);
  }
  if (values.html) writeFileSync(values.html, renderHtml(tally));
  const stream = toStdout ? io.stderr : io.stdout;
  stream.write(renderSummary(tally));
  if (!values.quiet) {
    const files = summary.perFile.map((f) => `${f.file} ${f.lines}`).join(', ');
    io.stderr.write(`mtasts survey merge: ${summary.domains} domains from ${files}; ${summary.duplicates} duplicate line${summary.duplicates === 1 ? '' : 's'} counted once\n`);
  }
  return 0;
}
