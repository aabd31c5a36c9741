// `mtasts lint`: every problem in a policy file (RFC 8461 §3.2), an _mta-sts TXT record (§3.1) or an
// _smtp._tls TLS-RPT record (RFC 8460 §3), one line each.

import { open } from 'node:fs/promises';
import { lintPolicy, lintRecord, lintTlsRptRecord } from '../node/index.js';
import { fileProblem, parseCommandLine, UsageError } from './usage.js';

export const usage = `usage: mtasts lint [--json] <policy-file | ->
       mtasts lint [--json] --record '<txt>' [--name _mta-sts.<domain>]
       mtasts lint [--json] --tlsrpt '<txt>' [--name _smtp._tls.<domain>]

Checks an MTA-STS policy file (RFC 8461 §3.2; '-' reads standard input), the text of an
_mta-sts TXT record (§3.1) or of an _smtp._tls TLS-RPT record (RFC 8460 §3) and prints every
problem as
  file:line:column: error|warning [code] message (RFC section)

options:
  --record <txt>   lint this _mta-sts TXT record text instead of a policy file
  --tlsrpt <txt>   lint this _smtp._tls TLS-RPT record text instead of a policy file
  --name <name>    with --record or --tlsrpt: the DNS name the record was found at (checked too)
  --json           print the lint result as JSON: { policy|record, diagnostics }
  -h, --help       show this help

At most 1 MiB is read from the file or standard input (a policy may be 64 KiB, RFC 8461 §3.3).

exit status: 0 no errors (warnings allowed), 1 errors found, 2 usage or local error
`;

/**
 * The most `lint` reads from a file or standard input. RFC 8461 §3.3 lets a sender stop at 64 KiB
 * (MAX_POLICY_BYTES in src/fetch.rs); lint reads well past that so that it can still point at the
 * problems of an oversized file, but never without bound (`mtasts lint /dev/zero`).
 */
export const MAX_INPUT_BYTES = 1024 * 1024;

const tooLarge = (what) =>
  new UsageError(
    `${what} is larger than ${MAX_INPUT_BYTES} bytes (1 MiB), the most lint reads; ` +
      'an MTA-STS policy may be at most 65536 bytes (64 KiB, RFC 8461 §3.3)',
  );

const OPTIONS = {
  record: { type: 'string' },
  tlsrpt: { type: 'string' },
  name: { type: 'string' },
  json: { type: 'boolean' },
};

export async function run(args, io) {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  let label;
  let result;
  if (values.record !== undefined && values.tlsrpt !== undefined) {
    throw new UsageError('give either --record or --tlsrpt, not both');
  }
  if (values.record !== undefined) {
    if (positionals.length > 0) throw new UsageError('give either --record or a policy file, not both');
    label = values.name ?? 'record';
    result = lintRecord(values.record, values.name);
  } else if (values.tlsrpt !== undefined) {
    if (positionals.length > 0) throw new UsageError('give either --tlsrpt or a policy file, not both');
    label = values.name ?? 'record';
    result = lintTlsRptRecord(values.tlsrpt, values.name);
  } else {
    if (values.name !== undefined) throw new UsageError('--name applies only with --record or --tlsrpt');
    if (positionals.length === 0) throw new UsageError('missing policy file (or - for standard input); try mtasts lint --help');
    if (positionals.length > 1) throw new UsageError('give one policy file at a time');
    const [file] = positionals;
    label = file === '-' ? '<stdin>' : file;
    result = lintPolicy(file === '-' ? await readStdin(io.stdin) : await readPolicyFile(file));
  }

  const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
  if (values.json) {
    io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    const paint = painter(io);
    for (const d of result.diagnostics) io.stdout.write(`${formatDiagnostic(label, d, paint)}\n`);
    io.stdout.write(`${summarize(label, result, paint)}\n`);
  }
  return errors > 0 ? 1 : 0;
}

/** `file:line:column: severity [code] message (RFC 8461 §3.2)` */
export function formatDiagnostic(label, d, paint = plain) {
  const where = d.line > 0 ? `${label}:${d.line}:${d.column}` : label;
  const severity = d.severity === 'error' ? paint.red('error') : paint.yellow('warning');
  const rfc = d.rfc ? ` ${paint.dim(`(${d.rfc})`)}` : '';
  return `${paint.bold(`${where}:`)} ${severity} [${d.code}] ${d.message}${rfc}`;
}

function summarize(label, result, paint) {
  const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = result.diagnostics.length - errors;
  const counts = `${plural(errors, 'error')}, ${plural(warnings, 'warning')}`;
  if (errors > 0) return `${label}: ${paint.red('invalid')}: ${counts}`;
  const what = result.policy
    ? `mode ${result.policy.mode}, max_age ${result.policy.maxAge}, ${plural(result.policy.mx.length, 'mx pattern')}`
    : result.record?.rua
      ? `rua ${result.record.rua.join(', ')}`
      : result.record
        ? `id ${result.record.id}`
        : '';
  return `${label}: ${paint.green('valid')}${what ? ` (${what})` : ''}: ${counts}`;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Reads at most MAX_INPUT_BYTES of `file` (any kind: a device or FIFO has no size to trust). */
async function readPolicyFile(file) {
  let fh;
  try {
    fh = await open(file, 'r');
    const buf = Buffer.alloc(MAX_INPUT_BYTES + 1);
    let size = 0;
    while (size < buf.length) {
      const { bytesRead } = await fh.read(buf, size, buf.length - size, null);
      if (bytesRead === 0) break;
      size += bytesRead;
    }
    if (size > MAX_INPUT_BYTES) throw tooLarge(file);
    return new Uint8Array(buf.buffer, buf.byteOffset, size);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot read ${file}: ${fileProblem(err)}`);
  } finally {
    await fh?.close().catch(() => {});
  }
}


/** Reads standard input to its end, or stops (and gives up) past MAX_INPUT_BYTES. */
async function readStdin(stdin) {
  const chunks = [];
  let size = 0;
  try {
    for await (const chunk of stdin) {
      chunks.push(chunk);
      size += chunk.length;
      if (size > MAX_INPUT_BYTES) break; // leaving the loop stops reading
    }
  } catch (err) {
    throw new UsageError(`cannot read standard input: ${fileProblem(err)}`);
  }
  if (size > MAX_INPUT_BYTES) throw tooLarge('standard input');
  const buf = Buffer.concat(chunks);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

const plain = { red: String, yellow: String, green: String, bold: String, dim: String };

// Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
function painter(io) {
  if (!io.stdout.isTTY || io.env.NO_COLOR) return plain;
  const sgr = (open, close) => (s) => `\x1b[${open}m${s}\x1b[${close}m`;
  return { red: sgr(31, 39), yellow: sgr(33, 39), green: sgr(32, 39), bold: sgr(1, 22), dim: sgr(2, 22) };
}
