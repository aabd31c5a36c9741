// The survey's output file: JSON lines, one `check --json` object per domain (with a `survey`
// field), appended and flushed one line at a time. Reading it back serves --resume, merge and the
// reports; a last line cut short by a crash is not a result and is cut off before appending.

import { closeSync, createReadStream, existsSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** A line of the output that cannot be read: exit 2 with the file and line number. */
export class ResultsError extends Error {}

/**
 * Every result in `file`, in order: { result, line }. A last line without its newline was cut
 * short by a crash and is skipped (--resume checks that domain again); any other line that is not
 * a survey result is a ResultsError.
 */
export async function* readResults(file) {
  const complete = endsWithNewline(file);
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let number = 0;
  let pending = null; // one line of look-ahead: only the last line may be cut short
  for await (const text of lines) {
    if (pending) yield parse(file, pending);
    number += 1;
    pending = text.trim() === '' ? null : { text, line: number };
  }
  if (pending && complete) yield parse(file, pending);
}

function parse(file, { text, line }) {
  let result;
  try {
    result = JSON.parse(text);
  } catch {
    result = null;
  }
  // A result is a check object (record, policy, mx, errors) or a line that says why there is none.
  const isCheck = typeof result?.record === 'object' && typeof result?.policy === 'object' && Array.isArray(result?.mx) && Array.isArray(result?.errors);
  if (typeof result?.domain !== 'string' || !(isCheck || typeof result?.error?.code === 'string')) {
    throw new ResultsError(`${file}:${line}: not a survey result (a check object or an error, with a domain)`);
  }
  return { result, line };
}

function endsWithNewline(file) {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return true;
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, size - 1);
    return b[0] === 0x0a;
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens `file` for appending results. With `resume`, a last line cut short is cut off first;
 * otherwise the file is created or emptied. Returns { write(result), close() }; each write is
 * one whole line, written with writeSync (so it is in the file when the next domain starts).
 */
export function openResults(file, { resume = false } = {}) {
  const fd = openSync(file, resume && existsSync(file) ? 'r+' : 'w');
  if (resume) cutPartialLine(fd);
  let position = fstatSync(fd).size;
  return {
    write(result) {
      const bytes = Buffer.from(`${JSON.stringify(result)}\n`);
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
      position += bytes.length;
    },
    close: () => closeSync(fd),
  };
}

function cutPartialLine(fd) {
  const size = fstatSync(fd).size;
  const chunk = Buffer.alloc(64 * 1024);
  for (let end = size; end > 0; ) {
    const start = Math.max(0, end - chunk.length);
    readSync(fd, chunk, 0, end - start, start);
    const nl = chunk.subarray(0, end - start).lastIndexOf(0x0a);
    if (nl >= 0) {
      if (start + nl + 1 < size) ftruncateSync(fd, start + nl + 1);
      return;
    }
    end = start;
  }
  ftruncateSync(fd, 0);
}
