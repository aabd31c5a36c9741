// The report of checkDomain (the object `mtasts check --json` prints) as rows of checks, each with
// what was expected, what was found, the RFC section and the fix.

import { el, checkRow, copyable, finding } from './dom.js';

const NOT_CHECKABLE = 'not-checkable-from-browser';

function diagnostics(list) {
  return list.map((d) => finding(d.severity === 'error' ? 'bad' : 'warn', d.message, { where: d.line ? `line ${d.line}, column ${d.column}` : null, rfc: d.rfc }));
}

const rawRecords = (raw) => raw.map((strings) => copyable(strings.map((s) => JSON.stringify(s)).join(' '), 'record'));

function recordRow(r, domain) {
  const title = `TXT record ${r.name}`;
  const fix = `publish one TXT record at ${r.name}: v=STSv1; id=<1-32 letters or digits, changed whenever the policy changes>`;
  switch (r.status) {
    case 'found':
      return checkRow(r.diagnostics.length ? 'warn' : 'ok', title, `found, id ${r.id}`, ...rawRecords(r.raw), ...diagnostics(r.diagnostics));
    case 'none':
      return checkRow('bad', title, 'no MTA-STS record: senders apply no policy', finding('bad', `no TXT record starting with v=STSv1 at ${r.name}`, { rfc: 'RFC 8461 §3.1', fix }), suggestion(domain), ...diagnostics(r.diagnostics));
    case 'multiple':
      return checkRow('bad', title, 'more than one MTA-STS record', ...rawRecords(r.raw), finding('bad', 'senders treat several v=STSv1 records as no policy', { rfc: 'RFC 8461 §3.1', fix: 'keep exactly one' }), suggestion(domain));
    case 'invalid':
      return checkRow('bad', title, 'the record is invalid', ...rawRecords(r.raw), ...diagnostics(r.diagnostics), finding('bad', 'an invalid record means no policy', { rfc: 'RFC 8461 §3.1', fix }), suggestion(domain));
    default:
      return checkRow('warn', title, `lookup failed temporarily (${r.detail})`, finding('warn', 'the DNS answer says nothing about the record; senders keep a cached policy', { rfc: 'RFC 8461 §10' }));
  }
}

/** What a certificate shows: the verdict, its names, issuer and expiry. */
function certificateLine(c, host) {
  const verdict = c.ok ? `valid for ${host}` : `${c.code}: ${c.message}`;
  const issuer = c.issuer === undefined ? '' : `; issuer ${c.issuer ?? '?'}`;
  return el('p', { class: 'certificate' }, `certificate: ${verdict}; names ${c.subjectAltNames.join(', ') || 'none'}${issuer}; expires ${c.notAfter ?? '?'}${c.daysLeft !== null ? ` (${c.daysLeft} days)` : ''}`);
}

function fetchRow(p) {
  const title = 'Policy fetch';
  const f = p.fetch;
  const host = new URL(p.url).hostname;
  const cert = p.certificate ? certificateLine(p.certificate, host) : null;
  if (!f) return checkRow('info', title, 'not fetched (no valid TXT record)', el('p', {}, p.url));
  if (!f.answered) {
    if (isNotCheckable(f.detail)) return checkRow('warn', title, notChecked(f.detail), el('p', {}, f.message), el('p', {}, p.url));
    return checkRow('bad', title, f.message, el('p', {}, p.url), cert, finding('bad', `the policy host did not answer: ${f.kind} (${f.detail})`, { rfc: 'RFC 8461 §3.3', fix: `serve the policy over HTTPS at ${p.url} with a certificate valid for ${host}, from a CA senders trust` }));
  }
  const good = f.httpStatus === 200 && /^text\/plain(\s*;|$)/i.test(f.contentType ?? '');
  return checkRow(good ? 'ok' : 'bad', title, `HTTP ${f.httpStatus}, ${f.contentType ?? 'no content type'}, ${f.bytes} bytes`, el('p', {}, p.url), cert, good ? null : finding('bad', 'the policy must be served with status 200 and Content-Type text/plain, without redirects', { rfc: 'RFC 8461 §3.3' }));
}

function policyRow(p, domain) {
  const title = 'Policy';
  if (p.status === 'found' || p.status === 'cached') {
    const lines = [`version: STSv1`, `mode: ${p.mode}`, ...p.mx.map((m) => `mx: ${m}`), `max_age: ${p.maxAge}`].join('\n');
    return checkRow(p.diagnostics.some((d) => d.severity === 'error') ? 'bad' : p.diagnostics.length ? 'warn' : 'ok', title, `mode ${p.mode}, max_age ${p.maxAge}`, copyable(lines, 'policy'), ...diagnostics(p.diagnostics));
  }
  if (p.status === 'none') return checkRow('info', title, 'no policy');
  return checkRow('bad', title, `no usable policy (${p.status})`, ...diagnostics(p.diagnostics), suggestion(domain));
}

function mxRows(report) {
  return report.mx.map((h) => {
    const title = `MX ${h.host}`;
    const body = [];
    let state = 'ok';
    const parts = [`priority ${h.priority}`];
    if (h.matchesPolicy === true) parts.push(`matches ${h.matchedBy}`);
    if (h.matchesPolicy === false) {
      parts.push('matches no mx pattern');
      if (report.policy.mode !== 'none') state = 'bad';
      body.push(finding(state === 'bad' ? 'bad' : 'warn', `${h.host} is not covered by the policy's mx patterns (${report.policy.mx.join(', ')})`, { rfc: 'RFC 8461 §4.1', fix: `add "mx: ${h.host}" (or a matching *.${h.host.split('.').slice(1).join('.')} pattern) to the policy` }));
    }
    const pr = h.probe;
    if (pr?.error && isNotCheckable(pr.error.code)) {
      parts.push(pr.error.code === NOT_CHECKABLE ? 'STARTTLS not checkable from a browser' : notChecked(pr.error.code));
      body.push(el('p', {}, pr.error.message));
      if (state === 'ok') state = 'warn';
    } else if (pr) {
      parts.push(pr.starttls ? `STARTTLS, ${pr.tlsVersion ?? '?'}` : pr.starttls === false ? 'no STARTTLS' : 'not reached');
      if (pr.certificate) body.push(certificateLine(pr.certificate, h.host));
      if (pr.error) body.push(el('p', {}, `${pr.error.code}: ${pr.error.message}`));
      const f = h.verdict?.failure;
      if (f) {
        body.push(finding(h.matchesPolicy && report.policy.mode === 'enforce' ? 'bad' : 'warn', f.message, { rfc: f.rfc, where: f.tlsrpt ? `TLS-RPT result: ${f.tlsrpt}` : null }));
        if (h.matchesPolicy && (report.policy.mode === 'enforce' || report.policy.mode === 'testing')) state = 'bad';
        else if (state === 'ok') state = 'warn';
      }
      if (h.verdict) body.push(el('p', {}, `a sender would: ${h.verdict.verdict}`));
    }
    return checkRow(state, title, parts.join(' · '), ...body);
  });
}

function tlsrptRow(t) {
  const title = `TLS-RPT record ${t.name}`;
  if (t.status === 'found') return checkRow(t.diagnostics.length ? 'warn' : 'ok', title, `reports go to ${t.rua.join(', ')}`, ...rawRecords(t.raw), ...diagnostics(t.diagnostics));
  const fix = `publish one TXT record at ${t.name}: v=TLSRPTv1; rua=mailto:tlsrpt@<your domain>`;
  if (t.status === 'none') return checkRow('warn', title, 'none: senders send you no TLS reports', finding('warn', 'TLS-RPT is optional, but without it you never hear of failed deliveries', { rfc: 'RFC 8460 §3', fix }));
  if (t.status === 'temperror') return checkRow('warn', title, `lookup failed temporarily (${t.detail})`);
  return checkRow('bad', title, t.status === 'multiple' ? 'more than one TLS-RPT record' : 'the record is invalid', ...rawRecords(t.raw), ...diagnostics(t.diagnostics), finding('bad', 'senders send no report unless exactly one valid record is published', { rfc: 'RFC 8460 §3', fix }));
}

let suggestionFor = null;
/** A correct record and policy built from the MX hosts, for an owner who has none. */
function suggestion(domain) {
  const mx = suggestionFor?.mx.map((h) => h.host) ?? [];
  if (mx.length === 0) return null;
  const id = new Date().toISOString().slice(0, 10).replace(/-/g, '') + '01';
  return el(
    'div',
    { class: 'suggestion' },
    el('p', {}, `A correct setup for ${domain}: the TXT record, then the policy at https://mta-sts.${domain}/.well-known/mta-sts.txt (start with mode testing, move to enforce once the TLS reports are clean):`),
    copyable(`_mta-sts.${domain}. TXT "v=STSv1; id=${id}"`, 'TXT record'),
    copyable(['version: STSv1', 'mode: testing', ...mx.map((h) => `mx: ${h}`), 'max_age: 604800', ''].join('\n'), 'policy'),
  );
}

/** The summary line and the rows for `report`. */
export function renderReport(report) {
  suggestionFor = report;
  const rows = [recordRow(report.record, report.domain), fetchRow(report.policy), policyRow(report.policy, report.domain), ...mxRows(report), tlsrptRow(report.tlsrpt)];
  // What the page could not check (no helper, or the helper refused) is no failure of the domain.
  const notCheckable = isNotCheckable(report.policy.fetch?.detail);
  const problems = report.errors.filter((x) => !(notCheckable && x.tlsrpt === 'sts-policy-fetch-error'));
  for (const e of problems.filter((x) => !x.mx && x.code !== 'mx-not-in-policy')) rows.push(checkRow('bad', `Error ${e.code}`, e.message, finding('bad', e.message, { rfc: e.rfc, where: e.tlsrpt ? `TLS-RPT result: ${e.tlsrpt}` : null })));
  for (const n of report.notes) rows.push(checkRow('info', 'Note', n));
  const state = report.ok ? 'ok' : problems.length === 0 && notCheckable ? 'warn' : 'bad';
  const verdict =
    state === 'ok'
      ? `✓ ${report.domain}: valid MTA-STS policy in mode ${report.policy.mode}; senders ${report.policy.mode === 'enforce' ? 'deliver only over verified TLS to the listed MX hosts' : report.policy.mode === 'testing' ? 'deliver anyway and report failures' : 'treat the domain as having no policy'}.`
      : state === 'warn'
        ? `! ${report.domain}: the DNS checks found no problem; the policy and the MX hosts are not checkable from this browser (run mtasts serve or mtasts check).`
        : `✗ ${report.domain}: ${[problems.length > 0 ? `${problems.length} ${problems.length === 1 ? 'problem' : 'problems'}` : null, report.policy.status === 'none' ? 'no MTA-STS policy: senders deliver with opportunistic TLS only' : null].filter(Boolean).join(', ') || 'something to fix (see below)'}.`;
  return { verdict, ok: report.ok, state, rows };
}

const isNotCheckable = (detail) => detail === NOT_CHECKABLE || String(detail ?? '').startsWith('serve-');

/** The brief of a step the page could not take: no helper, or the checker's server refused. */
function notChecked(code) {
  if (code === NOT_CHECKABLE) return 'not checkable from a browser';
  if (code === 'serve-target-refused') return `not checked: the checker's server does not connect to private or loopback addresses (${code})`;
  if (code === 'serve-rate-limited' || code === 'serve-busy') return `not checked: the checker's server is busy, try again in a minute (${code})`;
  return `not checked: the checker's server refused (${code})`;
}

