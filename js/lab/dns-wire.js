// DNS messages on the wire (RFC 1035 §4), just what the lab's authoritative server needs: read a
// query's header, question and EDNS OPT record; write a response with A, AAAA, MX, TXT and SOA records.

import net from 'node:net';

export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, TXT: 16, AAAA: 28, OPT: 41, ANY: 255 };
const TYPE_NAME = Object.fromEntries(Object.entries(TYPE).map(([k, v]) => [v, k]));
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };
const CLASS_IN = 1;
const FLAG = { QR: 0x8000, AA: 0x0400, TC: 0x0200, RD: 0x0100 };

class Truncated extends Error {}

/** RFC 1035 §4.1.4: a name, following compression pointers (backwards only, so no loops). */
function readName(buf, offset) {
  const labels = [];
  let end = null;
  for (let pos = offset, hops = 0; ; ) {
    if (pos >= buf.length) throw new Truncated();
    const len = buf[pos];
    if (len === 0) return { name: labels.join('.'), next: end ?? pos + 1 };
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw new Truncated();
      const target = ((len & 0x3f) << 8) | buf[pos + 1];
      if (target >= pos || ++hops > 64) throw new Error('bad compression pointer');
      end ??= pos + 2;
      pos = target;
    } else if ((len & 0xc0) !== 0) {
      throw new Error('bad label type');
    } else {
      if (pos + 1 + len > buf.length) throw new Truncated();
      labels.push(buf.toString('latin1', pos + 1, pos + 1 + len));
      pos += 1 + len;
    }
  }
}

/**
 * Reads a query: { id, opcode, rd, question: { name, type, typeCode } | null, udpPayloadSize | null }.
 * Throws on a message too short or malformed to answer.
 */
export function decodeQuery(buf) {
  if (buf.length < 12) throw new Truncated();
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  const qdcount = buf.readUInt16BE(4);
  const arcount = buf.readUInt16BE(10);
  const query = { id, opcode: (flags >> 11) & 0xf, rd: (flags & FLAG.RD) !== 0, isResponse: (flags & FLAG.QR) !== 0, question: null, udpPayloadSize: null };
  let pos = 12;
  if (qdcount >= 1) {
    const { name, next } = readName(buf, pos);
    if (next + 4 > buf.length) throw new Truncated();
    const typeCode = buf.readUInt16BE(next);
    query.question = { name, typeCode, type: TYPE_NAME[typeCode] ?? `TYPE${typeCode}`, classCode: buf.readUInt16BE(next + 2) };
    pos = next + 4;
  }
  // RFC 6891 §6.1.2: the OPT pseudo-record in the additional section carries the UDP payload size.
  if (qdcount === 1 && buf.readUInt16BE(6) === 0 && buf.readUInt16BE(8) === 0) {
    for (let i = 0; i < arcount && pos < buf.length; i++) {
      const { next } = readName(buf, pos);
      if (next + 10 > buf.length) break;
      const type = buf.readUInt16BE(next);
      if (type === TYPE.OPT) query.udpPayloadSize = buf.readUInt16BE(next + 2);
      pos = next + 10 + buf.readUInt16BE(next + 8);
    }
  }
  return query;
}

function encodeName(name) {
  const parts = [];
  for (const label of name.replace(/\.$/, '').split('.').filter(Boolean)) {
    const bytes = Buffer.from(label, 'latin1');
    if (bytes.length > 63) throw new Error(`label too long: ${label}`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

const u16 = (n) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const u32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

function rdata(type, data) {
  switch (type) {
    case 'A':
    case 'AAAA':
      return addressBytes(data);
    case 'MX':
      return Buffer.concat([u16(data.preference), encodeName(data.exchange)]);
    case 'TXT': // RFC 1035 §3.3.14: one or more <character-string>s, each at most 255 octets
      return Buffer.concat(
        data.flatMap((s) => {
          const b = Buffer.from(s, 'utf8');
          if (b.length > 255) throw new Error('TXT character-string over 255 octets');
          return [Buffer.from([b.length]), b];
        }),
      );
    case 'SOA':
      return Buffer.concat([encodeName(data.mname), encodeName(data.rname), ...[data.serial, data.refresh, data.retry, data.expire, data.minimum].map(u32)]);
    default:
      throw new Error(`cannot encode ${type}`);
  }
}

function addressBytes(address) {
  if (net.isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  // RFC 4291 §2.2 text form, with at most one "::"
  const [head, tail = null] = address.split('::');
  const groups = (s) => (s ? s.split(':') : []);
  const h = groups(head);
  const t = tail === null ? [] : groups(tail);
  const all = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.concat(all.map((g) => u16(parseInt(g, 16))));
}

function record({ name, type, ttl, data }) {
  const body = rdata(type, data);
  return Buffer.concat([encodeName(name), u16(TYPE[type]), u16(CLASS_IN), u32(ttl), u16(body.length), body]);
}

/**
 * Writes a response to `query`: { rcode, aa, tc, answers: [{ name, type, ttl, data }], authorities }.
 * The question is echoed as asked (RFC 1035 §4.1.2).
 */
export function encodeResponse(query, { rcode = 'NOERROR', aa = false, tc = false, answers = [], authorities = [] }) {
  const q = query.question;
  const flags = FLAG.QR | (query.opcode << 11) | (aa ? FLAG.AA : 0) | (tc ? FLAG.TC : 0) | (query.rd ? FLAG.RD : 0) | RCODE[rcode];
  const header = Buffer.concat([u16(query.id), u16(flags), u16(q ? 1 : 0), u16(answers.length), u16(authorities.length), u16(0)]);
  const question = q ? Buffer.concat([encodeName(q.name), u16(q.typeCode), u16(q.classCode)]) : Buffer.alloc(0);
  return Buffer.concat([header, question, ...answers.map(record), ...authorities.map(record)]);
}
