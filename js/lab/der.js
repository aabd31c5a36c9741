// A minimal DER encoder (ITU-T X.690 §8, §10) for the few ASN.1 types an X.509 certificate needs.
// Each function returns a Buffer holding one complete TLV.

function length(n) {
  if (n < 0x80) return Buffer.from([n]); // X.690 §8.1.3.4: short form
  const bytes = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]); // §8.1.3.5: long form, minimal octets
}

export const tlv = (tag, ...contents) => {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};

export const sequence = (...items) => tlv(0x30, ...items);
export const set = (...items) => tlv(0x31, ...items);
export const explicit = (n, item) => tlv(0xa0 | n, item); // context-specific, constructed
export const implicitPrimitive = (n, bytes) => tlv(0x80 | n, bytes);
export const boolean = (v) => tlv(0x01, Buffer.from([v ? 0xff : 0x00])); // §11.1: TRUE is 0xFF
export const octetString = (bytes) => tlv(0x04, bytes);
export const utf8String = (s) => tlv(0x0c, Buffer.from(s, 'utf8'));
export const ia5String = (s) => tlv(0x16, Buffer.from(s, 'ascii'));

/** A non-negative INTEGER from a Buffer of big-endian magnitude octets (or a small number). */
export function integer(value) {
  let bytes = typeof value === 'number' ? Buffer.from([value]) : Buffer.from(value);
  while (bytes.length > 1 && bytes[0] === 0 && bytes[1] < 0x80) bytes = bytes.subarray(1); // §8.3.2
  if (bytes[0] >= 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]); // keep it positive
  return tlv(0x02, bytes);
}

/** BIT STRING with `unusedBits` unused bits in the last octet (§8.6). */
export const bitString = (bytes, unusedBits = 0) => tlv(0x03, Buffer.from([unusedBits]), bytes);

/** OBJECT IDENTIFIER from dotted text (§8.19). */
export function oid(dotted) {
  const arcs = dotted.split('.').map(Number);
  const out = [40 * arcs[0] + arcs[1]];
  for (const arc of arcs.slice(2)) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; always UTC with seconds. */
export function time(date) {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '') + 'Z';
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return tlv(0x17, Buffer.from(digits.slice(2), 'ascii'));
  return tlv(0x18, Buffer.from(digits, 'ascii'));
}
