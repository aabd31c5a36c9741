// The survey as CSV (RFC 4180), one row per domain, written as results come.

const COLUMNS = ['domain', 'category', 'has_record', 'mode', 'max_age', 'tlsrpt', 'id', 'mx_hosts', 'errors'];

const field = (v) => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export const csvHeader = () => `${COLUMNS.join(',')}\r\n`;

/** One CSV line of a row (tally.js rowOf). */
export function csvLine(row) {
  const values = [row.domain, row.category, row.hasRecord ? 'yes' : 'no', row.mode, row.maxAge, row.tlsrpt, row.id, row.mx, row.errors.join(' ')];
  return `${values.map(field).join(',')}\r\n`;
}
