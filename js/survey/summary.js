// The survey for a person reading a terminal: for a small list, the original study's table (domain,
// TXT record ○/×, policy mode or "no policy"); for any list, counts and percentages.

import { CATEGORIES } from './classify.js';

/** Lists up to this long get the per-domain table. */
export const SMALL_LIST = 200;

const pct = (n, of) => (of === 0 ? '-' : `${((100 * n) / of).toFixed(1)} %`);

/** The study's table: one row per domain, sorted by name. */
export function studyTable(rows) {
  const sorted = rows.slice().sort((a, b) => a.domain.localeCompare(b.domain));
  const width = Math.max('domain'.length, ...sorted.map((r) => r.domain.length));
  const lines = [`${'domain'.padEnd(width)}  TXT  policy`];
  for (const r of sorted) {
    const policy = r.mode ?? (r.hasRecord || r.category !== 'no-record' ? `no policy (${r.category})` : 'no policy');
    lines.push(`${r.domain.padEnd(width)}  ${r.hasRecord ? '○' : '×'}    ${policy}`);
  }
  return lines.join('\n');
}

/** Counts and percentages (tally.js counts). */
export function aggregate(counts) {
  const t = counts.total;
  const rec = counts.hasRecord;
  const line = (label, n, of = t) => `  ${label.padEnd(46)}${String(n).padStart(9)}  ${pct(n, of).padStart(8)}`;
  const out = [
    `domains surveyed ${t}`,
    line('with an MTA-STS record (v=STSv1 at _mta-sts)', rec),
    line('  of those, valid policy and MX', counts.category.valid, rec),
    line('  of those, misconfigured', counts.misconfigured, rec),
    line('temporary DNS failures (not counted as none)', counts.category['dns-temporary'] ?? 0),
    '',
    'policy mode (valid policies)',
    ...Object.entries(counts.mode).map(([m, n]) => line(m, n)),
    '',
    'category',
    ...Object.entries(counts.category)
      .filter(([, n]) => n > 0)
      .map(([c, n]) => `${line(c, n)}  ${CATEGORIES[c]?.label ?? ''}`),
    '',
    'TLS-RPT record at _smtp._tls (RFC 8460 §3)',
    ...Object.entries(counts.tlsrpt)
      .filter(([k, n]) => n > 0 || k !== 'temperror')
      .map(([k, n]) => line(k, n)),
    '',
    'max_age of valid policies',
    ...Object.entries(counts.maxAge).map(([k, n]) => line(k, n, counts.mode.enforce + counts.mode.testing + counts.mode.none)),
  ];
  return out.join('\n');
}

/** The whole text summary: the table when the list is small, then the aggregate. */
export function renderSummary(tally) {
  const counts = tally.counts();
  const parts = [];
  if (counts.total <= SMALL_LIST && tally.rowsLeftOut() === 0) parts.push(studyTable(tally.rows()), '');
  parts.push(aggregate(counts), '');
  return parts.join('\n');
}
