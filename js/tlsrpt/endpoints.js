// Where a policy domain wants its TLS reports (RFC 8460 §3): the `rua` URIs of the one TLS-RPT
// record at `_smtp._tls.<domain>`, selected by the core (selectTlsRptRecord), and the address of a
// `mailto:` URI.

import { selectTlsRptRecord } from '../node/index.js';

/**
 * RFC 8460 §3: the TXT records at `_smtp._tls.<domain>`, selected by the core. No record, more
 * than one, or an invalid one: the domain does not take reports ("senders MUST assume the
 * recipient domain does not implement TLSRPT"). A temporary DNS failure is also a skip, with its
 * own code (the next run may find the record).
 */
export async function tlsRptRecordOf(dns, domain) {
  const name = `_smtp._tls.${domain}`;
  const answer = await dns.resolveTxt(name);
  if (!answer.ok) {
    if (answer.kind === 'none') return { ok: false, code: 'tlsrpt-record-none', why: `no TLS-RPT record at ${name} (${answer.detail})` };
    return { ok: false, temporary: true, code: 'tlsrpt-send-dns-temporary', why: `cannot look up ${name}: ${answer.message}` };
  }
  let record;
  try {
    record = selectTlsRptRecord(answer.records);
  } catch (err) {
    return { ok: false, code: err.code ?? 'tlsrpt-record-invalid', why: `${name}: ${err.message}` };
  }
  if (record === null) return { ok: false, code: 'tlsrpt-record-none', why: `no TLS-RPT record at ${name} (no TXT record starts with v=TLSRPTv1;)` };
  if (record.rua.length === 0) return { ok: false, code: 'tlsrpt-record-invalid', why: `${name} names no https: or mailto: endpoint` };
  return { ok: true, rua: record.rua };
}

/** The address of a `mailto:` URI (RFC 6068), without any `?headers`; null when it has none. */
export function mailtoAddress(rua) {
  let addr;
  try {
    addr = decodeURIComponent(rua.slice('mailto:'.length).split('?')[0]);
  } catch {
    return null;
  }
  return /^[^\s@<>,]+@[^\s@<>,]+$/.test(addr) ? addr : null;
}
