// Counting survey results: the aggregate a report shows (categories, modes, max_age, TLS-RPT),
// and one short row per domain for the tables. Counting keeps no result; rows are kept only when
// asked for (the HTML table, the small-list table), up to a limit.

import { CATEGORIES, MISCONFIGURED_GROUPS, classify } from './classify.js';

/** max_age buckets (RFC 8461 §3.2: at most 31557600 s, about a year), upper bounds in seconds. */
export const MAX_AGE_BUCKETS = Object.freeze([
  ['≤ 1 hour', 3600],
  ['≤ 1 day', 86400],
  ['≤ 1 week', 604800],
  ['≤ 30 days', 2592000],
  ['≤ 1 year', 31557600],
]);

/** The short row of one result: what the tables and the CSV show. */
export function rowOf(result) {
  if (result.error) {
    return { domain: result.domain, category: result.survey?.category ?? 'check-failed', hasRecord: false, mode: null, maxAge: null, tlsrpt: 'missing', id: null, mx: 0, errors: [result.error.code] };
  }
  const c = classify(result);
  return {
    domain: result.domain,
    category: c.category,
    hasRecord: c.hasRecord,
    mode: c.mode,
    maxAge: c.maxAge,
    tlsrpt: c.tlsrpt,
    id: result.record.id ?? null,
    mx: result.mx.length,
    errors: [...new Set(result.errors.map((e) => e.code))],
  };
}

export function createTally({ keepRows = 0 } = {}) {
  const counts = {
    total: 0,
    hasRecord: 0,
    misconfigured: 0,
    category: Object.fromEntries(Object.keys(CATEGORIES).map((k) => [k, 0])),
    group: {},
    mode: { enforce: 0, testing: 0, none: 0 },
    tlsrpt: { valid: 0, invalid: 0, missing: 0, temperror: 0 },
    maxAge: Object.fromEntries(MAX_AGE_BUCKETS.map(([label]) => [label, 0])),
  };
  const rows = [];
  let rowsLeftOut = 0;
  return {
    add(result) {
      const row = rowOf(result);
      counts.total += 1;
      counts.category[row.category] = (counts.category[row.category] ?? 0) + 1;
      const group = CATEGORIES[row.category]?.group ?? 'failed';
      counts.group[group] = (counts.group[group] ?? 0) + 1;
      if (row.hasRecord) counts.hasRecord += 1;
      if (MISCONFIGURED_GROUPS.includes(group)) counts.misconfigured += 1;
      if (row.mode) counts.mode[row.mode] += 1;
      counts.tlsrpt[row.tlsrpt] += 1;
      if (row.maxAge !== null) {
        const bucket = MAX_AGE_BUCKETS.find(([, top]) => row.maxAge <= top) ?? MAX_AGE_BUCKETS.at(-1);
        counts.maxAge[bucket[0]] += 1;
      }
      if (rows.length < keepRows) rows.push(row);
      else rowsLeftOut += 1;
      return row;
    },
    counts: () => counts,
    rows: () => rows,
    rowsLeftOut: () => rowsLeftOut,
  };
}
