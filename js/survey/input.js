// The survey's input: a list of domains, streamed (never read whole), one per line. Blank lines and
// `#` comments are ignored; a file whose first line is a CSV header with a `domain` column is read
// as CSV (that column); `-` is standard input. Each entry keeps its line number for messages.

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/**
 * @param {string} source a file name, or '-' for `stdin`
 * @param {{ stdin?: NodeJS.ReadableStream }} [io]
 * @returns {AsyncGenerator<{ domain: string, line: number }>} the raw names (not yet normalised)
 */
export async function* readDomains(source, { stdin = process.stdin } = {}) {
  const stream = source === '-' ? stdin : createReadStream(source, { encoding: 'utf8' });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let column = null; // index of the `domain` column once a CSV header was seen
  let first = true;
  let number = 0;
  for await (const raw of lines) {
    number += 1;
    const text = (number === 1 ? raw.replace(/^\uFEFF/, '') : raw).trim();
    if (text === '' || text.startsWith('#')) continue;
    if (first) {
      first = false;
      const header = csvFields(text).map((f) => f.trim().toLowerCase());
      if (text.includes(',') && header.includes('domain')) {
        column = header.indexOf('domain');
        continue;
      }
    }
    const domain = column === null ? text.split(/\s+/)[0] : (csvFields(text)[column] ?? '').trim();
    if (domain !== '') yield { domain, line: number };
  }
}

/** The fields of one CSV line (RFC 4180: double quotes around a field, "" for a quote inside). */
export function csvFields(line) {
  const fields = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
}
