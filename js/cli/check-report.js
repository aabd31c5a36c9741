// The human rendering of a `mtasts check` report (check-domain.js): one step per line with ✓ (good),
// ✗ (wrong), ! (worth knowing) or - (skipped), the RFC reason, and the details indented below.

import { plain, marks } from './colour.js';
import { EXPIRY_WARNING_DAYS } from './check-domain.js';

/** @returns {string} the whole text, ending with a newline */
export function renderReport(report, paint = plain) {
  const m = { ...marks(paint), skip: paint.dim('-') };
  const out = [];
  const line = (mark, text) => out.push(`${mark} ${text}`);
  const detail = (text) => out.push(`    ${text}`);
  const rfc = (s) => (s ? ` ${paint.dim(`(${s})`)}` : '');
  const showError = (e) => detail(`${paint.red(`[${e.code}]`)} ${e.message}${rfc(e.rfc)}`);
  const showDiagnostic = (d) => {
    const label = d.severity === 'error' ? paint.red('error') : paint.yellow('warning');
    const where = d.line > 0 ? `line ${d.line}, column ${d.column}: ` : '';
    detail(`${label} [${d.code}] ${where}${d.message}${rfc(d.rfc)}`);
  };
  const errorsOf = (step) => report.errors.filter((e) => stepOf(e) === step);

  out.push(paint.bold(`MTA-STS check of ${report.domain}`), '');

  // Step 1: the TXT record (RFC 8461 §3.1).
  const r = report.record;
  const records = r.raw.length;
  const txt = `TXT record ${r.name}`;
  if (r.status === 'found') line(m.ok, `${txt}: one MTA-STS record, id ${r.id}${rfc('RFC 8461 §3.1')}`);
  else if (r.status === 'multiple') line(m.bad, `${txt}: ${records} records begin with v=STSv1, exactly one is allowed: no policy${rfc('RFC 8461 §3.1')}`);
  else if (r.status === 'invalid') line(m.bad, `${txt}: the MTA-STS record is invalid: no policy${rfc('RFC 8461 §3.1')}`);
  else if (r.status === 'temperror') line(m.bad, `${txt}: temporary DNS failure (${r.detail}), which is not "no record"${rfc('RFC 8461 §3.3, §10.2')}`);
  else if (records > 0) line(m.bad, `${txt}: ${plural(records, 'TXT record')}, none begins with "v=STSv1;": no policy${rfc('RFC 8461 §3.1')}`);
  else line(m.bad, `${txt}: none${r.detail ? ` (${r.detail})` : ''}: the domain publishes no MTA-STS policy${rfc('RFC 8461 §3.1')}`);
  for (const strings of r.raw) detail(strings.map((s) => JSON.stringify(s)).join(' '));
  if (r.draft) for (const strings of r.draft.raw) detail(`at ${r.draft.name}: ${strings.map((s) => JSON.stringify(s)).join(' ')}`);
  r.diagnostics.forEach(showDiagnostic);
  errorsOf('record').filter((e) => e.code !== 'record-invalid' || r.diagnostics.length === 0).forEach(showError);

  // Step 2: the policy fetch (RFC 8461 §3.3).
  const p = report.policy;
  const f = p.fetch;
  const fetchErrors = errorsOf('fetch');
  if (f) {
    // RFC 8461 §3.3: only a 200 answer carries a policy; the body of another is not read.
    const body = f.answered && f.httpStatus === 200 ? `, ${f.contentType ?? 'no content type'}, ${plural(f.bytes, 'byte')}` : '';
    const what = f.answered ? `HTTP ${f.httpStatus}${body}` : f.message;
    line(fetchErrors.length ? m.bad : m.ok, `policy fetch ${p.url}: ${what}${rfc('RFC 8461 §3.3')}`);
    if (f.answered && f.location) detail(`Location: ${f.location}`);
    // The policy host's certificate (RFC 8461 §3.3: valid for mta-sts.<domain>), also a failed one.
    const c = p.certificate;
    if (c) {
      const left = c.daysLeft === null ? '' : c.daysLeft < 0 ? `, expired ${plural(-c.daysLeft, 'day')} ago` : `, ${plural(c.daysLeft, 'day')} left`;
      const names = c.subjectAltNames.length > 5 ? `${c.subjectAltNames.slice(0, 5).join(', ')}, … (${c.subjectAltNames.length} in all)` : c.subjectAltNames.join(', ') || 'none';
      detail(`certificate: ${c.ok ? 'valid' : `not valid (${c.code})`}; names ${names}; issuer ${c.issuer ?? '?'}; expires ${c.notAfter?.slice(0, 10) ?? '?'}${left}`);
    }
  } else if (p.status === 'cached') {
    line(m.ok, `policy fetch: not needed, id ${p.id} is unchanged; the policy was fetched ${p.fetchedAt}${rfc('RFC 8461 §3.3')}`);
  } else {
    line(m.skip, `policy fetch ${p.url}: skipped, there is no valid TXT record`);
  }
  fetchErrors.forEach(showError);

  // Step 3: the policy (RFC 8461 §3.2).
  if (p.mode) {
    const mark = p.mode === 'none' ? m.note : m.ok;
    line(mark, `policy: mode ${p.mode}, max_age ${p.maxAge} (${duration(p.maxAge)}), ${plural(p.mx.length, 'mx pattern')}${rfc('RFC 8461 §3.2')}`);
    for (const pattern of p.mx) detail(`mx: ${pattern}`);
    const when = p.source === 'cache' ? `from the cache, fetched ${p.fetchedAt}` : `fetched now (${p.fetchedAt})`;
    detail(`id ${p.id}, ${when}, expires ${p.expiresAt}`);
    p.diagnostics.forEach(showDiagnostic);
  } else if (p.status === 'temperror') {
    line(m.bad, `policy: unknown after a temporary failure; a sender keeps a cached policy or retries${rfc('RFC 8461 §10.2')}`);
  } else {
    const invalid = errorsOf('policy').length > 0;
    line(m.bad, `policy: ${invalid ? 'invalid, so ' : ''}none: senders deliver to ${report.domain} without MTA-STS${rfc('RFC 8461 §5')}`);
    if (p.diagnostics.length) p.diagnostics.forEach(showDiagnostic);
    else errorsOf('policy').forEach(showError);
  }

  // Step 4: the MX hosts (RFC 5321 §5.1) and RFC 8461 §4.1 matching.
  const mx = report.mx;
  const matched = mx.filter((h) => h.matchesPolicy).length;
  const head = `MX hosts of ${report.domain}`;
  if (report.mxLookup.status === 'temperror') line(m.bad, `${head}: temporary DNS failure${rfc('RFC 5321 §5.1')}`);
  else if (report.mxLookup.status === 'null') line(m.bad, `${head}: ${report.mxLookup.message}`);
  else if (report.mxLookup.status === 'nxdomain') line(m.bad, `${head}: none, ${report.mxLookup.message}${report.mxLookup.dnsBroken ? '; the DNS server looks broken (see the notes)' : ''}${rfc('RFC 5321 §5.1')}`);
  else if (!p.mode) line(m.note, `${head}: ${mx.length}, not matched (no policy)${rfc('RFC 8461 §4.1')}`);
  else if (matched === mx.length) line(m.ok, `${head}: ${mx.length}, ${mx.length === 1 ? 'it matches' : 'all match'} the policy${rfc('RFC 8461 §4.1')}`);
  else line(p.mode === 'none' ? m.note : m.bad, `${head}: ${matched} of ${mx.length} match the policy${rfc('RFC 8461 §4.1')}`);
  const width = Math.max(0, ...mx.map((h) => h.host.length));
  for (const h of mx) {
    const mark = h.matchesPolicy === null ? m.skip : h.matchesPolicy ? m.ok : m.bad;
    const how = h.matchesPolicy === null ? '' : h.matchesPolicy ? `matches ${h.matchedBy}` : 'matches no pattern';
    const implicit = h.implicit ? ' (implicit MX)' : '';
    detail(`${mark} ${String(h.priority).padStart(5)} ${h.host.padEnd(width)}  ${how}${implicit}`.trimEnd());
    if (h.probe) renderProbe(h, p.mode, { m, paint, rfc, out });
  }
  errorsOf('mx').filter((e) => e.code !== 'mx-not-in-policy').forEach(showError);

  // Step 5: the TLS-RPT record (RFC 8460 §3). Optional: shown, never counted against the policy.
  const t = report.tlsrpt;
  if (t) {
    const head = `TLS-RPT record ${t.name}`;
    const none = 'senders send no TLS reports, so failures go unseen';
    if (t.status === 'found') line(m.ok, `${head}: reports go to ${t.rua.join(', ')}${rfc('RFC 8460 §3')}`);
    else if (t.status === 'multiple') line(m.note, `${head}: ${t.raw.length} records begin with v=TLSRPTv1, exactly one is allowed: ${none}${rfc('RFC 8460 §3')}`);
    else if (t.status === 'invalid') line(m.note, `${head}: the record is invalid: ${none}${rfc('RFC 8460 §3')}`);
    else if (t.status === 'temperror') line(m.note, `${head}: temporary DNS failure (${t.detail})${rfc('RFC 8460 §3')}`);
    else line(m.note, `${head}: none: ${none}${rfc('RFC 8460 §3')}`);
    for (const strings of t.raw) detail(strings.map((s) => JSON.stringify(s)).join(' '));
    t.diagnostics.forEach(showDiagnostic);
  }

  // Whatever no step shows, then the notes and the verdict.
  report.errors.filter((e) => stepOf(e) === 'other').forEach((e) => line(m.bad, `[${e.code}] ${e.message}${rfc(e.rfc)}`));
  if (report.notes.length) out.push('');
  for (const note of report.notes) line(m.note, note);
  out.push('', verdict(report, m, paint), '');
  return out.join('\n');
}

function verdict(report, m, paint) {
  const d = paint.bold(report.domain);
  if (report.ok) {
    const mode = report.policy.mode;
    if (mode === 'none') return `${m.ok} ${d}: valid MTA-STS policy in mode none (senders apply no policy)`;
    const probed = report.mx.some((h) => h.probe) ? ' and passes the STARTTLS probe' : '';
    return `${m.ok} ${d}: valid MTA-STS policy in mode ${mode}, and every MX host matches it${probed}`;
  }
  const n = report.errors.length;
  const errors = n ? ` (${plural(n, 'error')}: ${[...new Set(report.errors.map((e) => e.code))].join(', ')})` : '';
  if (report.policy.status === 'temperror') return `${m.bad} ${d}: policy unknown after a temporary failure${errors}`;
  if (report.policy.mode) return `${m.bad} ${d}: MTA-STS policy in mode ${report.policy.mode}, but something is wrong${errors}`;
  return `${m.bad} ${d}: no usable MTA-STS policy${errors}`;
}

/** Which step shows an error, by its code (an MX probe's failure is shown under its host). */
function stepOf({ code, mx }) {
  if (mx) return 'probe';
  if (code.startsWith('record-') || code.startsWith('dns-')) return 'record';
  if (code === 'policy-invalid') return 'policy';
  if (code.startsWith('policy-')) return 'fetch';
  if (code.startsWith('mx-')) return 'mx';
  return 'other';
}

// What one MX host showed on the probe (probeMx), and the verdict the policy implies for it:
//         ✓ STARTTLS offered (RFC 3207), TLSv1.3, TLS_AES_256_GCM_SHA384
//         ✓ certificate valid for mx1.example.com (RFC 8461 §4.2)
//         ✓ expires 2025-01-01 (200 days left)
//         ✓ verdict under mode enforce: deliver (RFC 8461 §5)
function renderProbe(h, mode, { m, paint, rfc, out }) {
  const say = (mark, text) => out.push(`          ${mark} ${text}`);
  const probe = h.probe;
  const where = probe.addresses.map((a) => a.address).join(', ');
  // Addresses that answered differently are each shown; else the host's result stands for all.
  const views = new Set(probe.addresses.map(probeKey)).size > 1 ? probe.addresses : [probe];
  if (probe.addresses.length > 0) say(m.skip, `probed ${where} on port ${probe.port}`);
  for (const v of views) {
    const prefix = views.length > 1 ? `${v.address}: ` : '';
    if (v.starttls === true) {
      const tls = v.tlsVersion ? `, ${v.tlsVersion}${v.cipher ? `, ${v.cipher}` : ''}` : '';
      say(m.ok, `${prefix}STARTTLS offered${tls}${rfc('RFC 3207')}`);
    } else if (v.starttls === false) {
      say(m.bad, `${prefix}STARTTLS not offered${rfc('RFC 3207')}`);
    }
    if (v.error) say(m.bad, `${prefix}${paint.red(`[${v.error.code}]`)} ${v.error.message}`);
    const c = v.certificate;
    if (c) {
      if (c.ok) say(m.ok, `${prefix}certificate valid for ${h.host}${rfc('RFC 8461 §4.2')}`);
      else say(m.bad, `${prefix}certificate not valid for ${h.host}: ${paint.red(`[${c.code}]`)} ${c.message}${rfc('RFC 8461 §4.2')}`);
      if (c.subjectAltNames.length) out.push(`              names: ${c.subjectAltNames.join(', ')}`);
      if (c.notAfter) {
        const left = c.daysLeft < 0 ? `expired ${plural(-c.daysLeft, 'day')} ago` : `${plural(c.daysLeft, 'day')} left`;
        const mark = c.daysLeft < 0 ? m.bad : c.daysLeft < EXPIRY_WARNING_DAYS ? m.note : m.ok;
        say(mark, `${prefix}expires ${c.notAfter.slice(0, 10)} (${left})`);
      }
    }
  }
  const v = h.verdict;
  if (!v) return;
  const under = mode ? `mode ${mode}` : 'no policy';
  if (v.verdict === 'excluded') {
    say(m.bad, `verdict under ${under}: excluded, a sender does not deliver to a host outside the policy${rfc('RFC 8461 §5')}`);
    return;
  }
  const judged = probe.addresses.find((a) => a.address === v.address) ?? probe;
  const verified = judged.certificate?.ok === true;
  const why = {
    deliver: verified ? 'a sender delivers over this verified connection' : 'a sender delivers over TLS even so',
    'deliver-plaintext': 'a sender delivers in plaintext (opportunistic, no policy applied)',
    'try-next': 'a sender does not deliver to this host and tries the next',
  }[v.verdict] ?? '';
  const failure = v.failure ? ` ${paint.red(`[${v.failure.code}]`)}` : '';
  const reported = v.failure && v.verdict !== 'try-next' && mode ? ', and reports the failure' : '';
  const mark = v.verdict === 'try-next' ? m.bad : v.failure ? m.note : m.ok;
  const at = v.address && views.length > 1 ? ` (${v.address})` : '';
  say(mark, `verdict under ${under}${at}: ${v.verdict}${failure}: ${why}${reported}${rfc('RFC 8461 §5')}`);
}

const probeKey = (a) => [a.starttls, a.tlsVersion, a.certificate?.code, a.error?.code].join('|');

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

const UNITS = [
  [31557600, 'year'],
  [86400, 'day'],
  [3600, 'hour'],
  [60, 'minute'],
  [1, 'second'],
];

/** max_age in human units: 86400 → "1 day", 31557600 → "1 year", 100000 → "about 1.2 days". */
export function duration(seconds) {
  const [size, unit] = UNITS.find(([s]) => seconds >= s) ?? UNITS[UNITS.length - 1];
  const value = seconds / size;
  const shown = Math.round(value * 10) / 10;
  return `${shown === value ? '' : 'about '}${shown} ${unit}${shown === 1 ? '' : 's'}`;
}
