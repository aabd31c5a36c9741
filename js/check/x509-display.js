// What a person is shown of a leaf certificate — its dNSNames, notAfter and issuer — read from the
// DER in JS, for the page, which has no X509Certificate. Display only: the RFC 8461 §4.2 verdict on the
// chain is the core's (webpki). The fields equal what js/node/probe-mx.js shows from node:crypto.
//
// X.509 (RFC 5280 §4.1): Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature };
// tbsCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer, validity,
// subject, subjectPublicKeyInfo, [1] [2] OPTIONAL, [3] extensions OPTIONAL }.

const DAY_MS = 86_400_000;
const SAN_OID = [0x55, 0x1d, 0x11]; // 2.5.29.17 subjectAltName (RFC 5280 §4.2.1.6)

/** One DER TLV at `pos` (X.690 §8.1): { tag, start (of contents), end }; throws when truncated. */
function tlv(bytes, pos, limit = bytes.length) {
  if (pos + 2 > limit) throw new RangeError('truncated');
  const tag = bytes[pos];
  let len = bytes[pos + 1];
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new RangeError('bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + bytes[start + i];
    start += n;
  }
  if (start + len > limit) throw new RangeError('truncated');
  return { tag, start, end: start + len };
}

/** The TLVs inside a constructed TLV. */
function children(bytes, parent) {
  const out = [];
  for (let pos = parent.start; pos < parent.end; ) {
    const t = tlv(bytes, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

const ascii = (bytes, t) => String.fromCharCode(...bytes.subarray(t.start, t.end));

/** RFC 5280 §4.1.2.5: UTCTime (YY < 50 is 20YY) or GeneralizedTime, in UTC ("Z"). */
function timeOf(bytes, t) {
  const s = ascii(bytes, t);
  const m = t.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return null;
  let year = Number(m[1]);
  if (t.tag === 0x17) year += year < 50 ? 2000 : 1900;
  const ms = Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return Number.isNaN(ms) ? null : ms;
}

function sameBytes(bytes, t, expected) {
  return t.end - t.start === expected.length && expected.every((b, i) => bytes[t.start + i] === b);
}

/** dNSName entries ([2] IA5String) of the subjectAltName extension, in order. */
function dnsNames(bytes, extensions) {
  for (const ext of children(bytes, children(bytes, extensions)[0])) {
    const parts = children(bytes, ext);
    if (parts.length < 2 || parts[0].tag !== 0x06 || !sameBytes(bytes, parts[0], SAN_OID)) continue;
    const value = parts[parts.length - 1]; // OCTET STRING holding GeneralNames
    const names = children(bytes, tlv(bytes, value.start, value.end));
    return names.filter((n) => n.tag === 0x82).map((n) => ascii(bytes, n));
  }
  return [];
}

/**
 * @param {Uint8Array | undefined} der the leaf certificate
 * @param {Date} at the time daysLeft is counted from
 * @returns {{ subjectAltNames: string[], notAfter: string | null, daysLeft: number | null }}
 */
export function leafForDisplay(der, at) {
  const none = { subjectAltNames: [], notAfter: null, daysLeft: null };
  if (!(der instanceof Uint8Array)) return none;
  try {
    const cert = tlv(der, 0);
    const tbs = children(der, cert)[0];
    const fields = children(der, tbs);
    const offset = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] version present
    const validity = children(der, fields[offset + 3]);
    const extensions = fields.slice(offset + 6).find((f) => f.tag === 0xa3);
    const subjectAltNames = extensions ? dnsNames(der, extensions) : [];
    const notAfterMs = validity[1] ? timeOf(der, validity[1]) : null;
    if (notAfterMs === null) return { ...none, subjectAltNames };
    return { subjectAltNames, notAfter: new Date(notAfterMs).toISOString(), daysLeft: Math.floor((notAfterMs - at.getTime()) / DAY_MS) };
  } catch {
    return none;
  }
}

// RFC 5280 §4.1.2.4: Name ::= SEQUENCE OF RelativeDistinguishedName (SET OF { type OID, value }).
// Shown in the order of the certificate, as RFC 4514 names the common attribute types.
const ATTRIBUTE_NAMES = new Map([
  ['2.5.4.3', 'CN'],
  ['2.5.4.5', 'serialNumber'],
  ['2.5.4.6', 'C'],
  ['2.5.4.7', 'L'],
  ['2.5.4.8', 'ST'],
  ['2.5.4.10', 'O'],
  ['2.5.4.11', 'OU'],
  ['0.9.2342.19200300.100.1.25', 'DC'],
]);

/** X.690 §8.19: an OBJECT IDENTIFIER's contents as dotted decimal. */
function oidOf(bytes, t) {
  const arcs = [];
  let n = 0;
  for (let i = t.start; i < t.end; i++) {
    n = n * 128 + (bytes[i] & 0x7f);
    if (!(bytes[i] & 0x80)) {
      arcs.push(n);
      n = 0;
    }
  }
  if (arcs.length === 0) return '';
  const first = arcs[0] < 80 ? Math.floor(arcs[0] / 40) : 2;
  return [first, arcs[0] - first * 40, ...arcs.slice(1)].join('.');
}

/** A directory string's text: UTF8String, PrintableString, IA5String, T61String, BMPString. */
function textOf(bytes, t) {
  const contents = bytes.subarray(t.start, t.end);
  if (t.tag === 0x1e) {
    let s = '';
    for (let i = 0; i + 1 < contents.length; i += 2) s += String.fromCharCode((contents[i] << 8) | contents[i + 1]);
    return s;
  }
  return t.tag === 0x0c ? new TextDecoder().decode(contents) : String.fromCharCode(...contents);
}

/**
 * The issuer of a certificate as one line, e.g. "CN=Example CA, O=Example" (display only).
 * @param {Uint8Array | undefined} der
 * @returns {string | null} null when there is no certificate or it cannot be read
 */
export function issuerName(der) {
  if (!(der instanceof Uint8Array)) return null;
  try {
    const tbs = children(der, tlv(der, 0))[0];
    const fields = children(der, tbs);
    const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
    const parts = [];
    for (const rdn of children(der, fields[offset + 2])) {
      for (const attribute of children(der, rdn)) {
        const [type, value] = children(der, attribute);
        const oid = oidOf(der, type);
        parts.push(`${ATTRIBUTE_NAMES.get(oid) ?? oid}=${textOf(der, value)}`);
      }
    }
    return parts.join(', ');
  } catch {
    return null;
  }
}
