// `/dns-query`: DNS over HTTPS (RFC 8484) answered from the server's resolvers (the Node DNS host:
// the system's name servers or `--dns-server`). A, AAAA, MX and TXT only — what a check asks. The
// answer carries the resolver's facts; a failure's Node code (ETIMEOUT, ESERVFAIL, ...) rides in an
// Extended DNS Error (RFC 8914) so the page reports the same detail as `mtasts check`.

import { decodeQuery, encodeResponse } from '../lab/dns-wire.js';
import { ServeError } from './errors.js';

export const DNS_MESSAGE = 'application/dns-message';
/** RFC 8484 §6: a query is small; anything larger is refused before it is parsed. */
export const MAX_QUERY_BYTES = 512;
const TYPES = new Set(['A', 'AAAA', 'MX', 'TXT']);
const EDE_OTHER = 0; // RFC 8914 §4.1: INFO-CODE 0 "Other", the EXTRA-TEXT says what

/** RFC 8484 §4.1: the `dns` parameter is base64url without padding. */
export function queryFromParameter(value) {
  if (typeof value !== 'string' || value === '') throw new ServeError('serve-dns-query-malformed', 'the dns parameter is missing (RFC 8484 §4.1)');
  if (value.length > Math.ceil((MAX_QUERY_BYTES * 4) / 3)) throw new ServeError('serve-request-too-large', `a DNS query is at most ${MAX_QUERY_BYTES} bytes`);
  if (!/^[A-Za-z0-9_-]+$/.test(value)) throw new ServeError('serve-dns-query-malformed', 'the dns parameter must be base64url without padding (RFC 8484 §4.1)');
  return Buffer.from(value, 'base64url');
}

function parse(bytes) {
  let query;
  try {
    query = decodeQuery(bytes);
  } catch (err) {
    throw new ServeError('serve-dns-query-malformed', `not a DNS query: ${err.message || 'truncated'}`);
  }
  if (query.isResponse) throw new ServeError('serve-dns-query-malformed', 'the message is a response, not a query');
  return query;
}

/** The OPT record (RFC 6891 §6.1.2) with one EDE option, appended to a response. */
function withExtendedError(response, text) {
  const extra = Buffer.from(text, 'utf8');
  const option = Buffer.alloc(6 + extra.length);
  option.writeUInt16BE(15, 0); // EDE option code (RFC 8914 §2)
  option.writeUInt16BE(2 + extra.length, 2);
  option.writeUInt16BE(EDE_OTHER, 4);
  extra.copy(option, 6);
  const opt = Buffer.alloc(11);
  opt.writeUInt8(0, 0); // root name
  opt.writeUInt16BE(41, 1); // OPT
  opt.writeUInt16BE(1232, 3); // UDP payload size
  opt.writeUInt32BE(0, 5); // extended RCODE, version, flags
  opt.writeUInt16BE(option.length, 9);
  const out = Buffer.concat([response, opt, option]);
  out.writeUInt16BE(out.readUInt16BE(10) + 1, 10); // ARCOUNT
  return out;
}

const RCODE_OF = { ENOTFOUND: 'NXDOMAIN', ESERVFAIL: 'SERVFAIL', EREFUSED: 'REFUSED', EFORMERR: 'FORMERR', ENOTIMP: 'NOTIMP' };

/**
 * Answers one wire-format query.
 * @param {Buffer} bytes the query
 * @param {object} dns the Node DNS host ({ resolver, resolveTxt, resolveMx })
 * @returns {Promise<{ response: Buffer, name: string | null }>}
 */
export async function answerQuery(bytes, dns) {
  if (bytes.length > MAX_QUERY_BYTES) throw new ServeError('serve-request-too-large', `a DNS query is at most ${MAX_QUERY_BYTES} bytes`);
  const query = parse(bytes);
  const q = query.question;
  if (query.opcode !== 0 || !q || q.classCode !== 1) return { response: encodeResponse(query, { rcode: q ? 'NOTIMP' : 'FORMERR' }), name: null };
  if (!TYPES.has(q.type)) return { response: encodeResponse(query, { rcode: 'NOTIMP' }), name: q.name };
  if (q.name === '' || q.name.length > 253 || q.name.split('.').some((l) => l === '' || l.length > 63)) {
    return { response: encodeResponse(query, { rcode: 'FORMERR' }), name: null };
  }
  const answer = await resolve(dns, q.name, q.type);
  if (answer.ok) {
    const answers = answer.data.map((data) => ({ name: q.name, type: q.type, ttl: 0, data }));
    return { response: encodeResponse(query, { rcode: 'NOERROR', answers }), name: q.name };
  }
  // ENODATA is an empty NOERROR answer; every other failure keeps its Node code in the EDE text.
  if (answer.detail === 'ENODATA') return { response: encodeResponse(query, { rcode: 'NOERROR' }), name: q.name };
  const response = encodeResponse(query, { rcode: RCODE_OF[answer.detail] ?? 'SERVFAIL' });
  return { response: withExtendedError(response, answer.detail), name: q.name };
}

async function resolve(dns, name, type) {
  const fail = (err) => ({ ok: false, detail: typeof err?.code === 'string' ? err.code : 'EUNKNOWN' });
  try {
    switch (type) {
      case 'TXT':
        return { ok: true, data: await dns.resolver.resolveTxt(name) };
      case 'MX':
        return { ok: true, data: (await dns.resolver.resolveMx(name)).map((r) => ({ preference: r.priority, exchange: r.exchange })) };
      case 'A':
        return { ok: true, data: await dns.resolver.resolve4(name) };
      default:
        return { ok: true, data: await dns.resolver.resolve6(name) };
    }
  } catch (err) {
    return fail(err);
  }
}
