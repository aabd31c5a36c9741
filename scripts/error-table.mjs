#!/usr/bin/env node
// Writes the error-code table of pkg-template/README.md from the core's own list (errorCodes(),
// made in Rust from the error types, src/codes.rs), between the markers
//   <!-- error-codes:begin --> ... <!-- error-codes:end -->
// Usage: node scripts/error-table.mjs          rewrite the table (after scripts/build)
//        node scripts/error-table.mjs --check  exit 1 when the README's table is stale
// tests/js/package-readme.test.mjs runs the check.

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README = join(ROOT, 'pkg-template', 'README.md');
const BEGIN = '<!-- error-codes:begin -->';
const END = '<!-- error-codes:end -->';

/** The Markdown table for `codes` (errorCodes()' entries). */
export function errorTable(codes) {
  const cell = (text) => String(text).replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const temporary = (t) => (t === null ? 'depends' : t ? 'yes' : 'no');
  const rows = codes.map((c) => `| \`${c.code}\` | ${cell(c.example)} | ${cell(c.rfc)} | ${temporary(c.temporary)} | \`${c.tlsrpt}\` |`);
  return [
    '| code | meaning (an example message) | RFC | temporary | TLS-RPT result type |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

/** `readme` with its table replaced by `table`. */
export function withTable(readme, table) {
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`pkg-template/README.md has no ${BEGIN} ... ${END} section`);
  return `${readme.slice(0, start + BEGIN.length)}\n${table}\n${readme.slice(end)}`;
}

async function main(args) {
  const { errorCodes } = await import(pathToFileURL(join(ROOT, 'pkg', 'js', 'node', 'index.js')).href);
  const readme = readFileSync(README, 'utf8');
  const wanted = withTable(readme, errorTable(errorCodes()));
  if (args.includes('--check')) {
    if (wanted !== readme) {
      process.stderr.write('pkg-template/README.md: the error-code table is stale: run node scripts/error-table.mjs\n');
      return 1;
    }
    return 0;
  }
  if (wanted !== readme) writeFileSync(README, wanted);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
