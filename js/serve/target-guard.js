// Which targets the helpers may reach: no SSRF. The policy fetch and the MX probe go only to
// addresses on the public Internet, unless `--allow-private` (the lab on loopback needs it).
// Refused: unspecified, loopback, private (RFC 1918, RFC 4193), shared (RFC 6598), link-local,
// multicast, documentation, benchmarking and other reserved ranges (IANA special-purpose address
// registries, RFC 6890), IPv4-mapped IPv6 judged as the IPv4 address inside it.

import net from 'node:net';
import { normalizeDomain } from '../core.js';
import { ServeError } from './errors.js';

const V4_REFUSED = [
  ['0.0.0.0', 8], // "this network" (RFC 791)
  ['10.0.0.0', 8], // private (RFC 1918)
  ['100.64.0.0', 10], // shared address space (RFC 6598)
  ['127.0.0.0', 8], // loopback (RFC 1122)
  ['169.254.0.0', 16], // link-local (RFC 3927)
  ['172.16.0.0', 12], // private (RFC 1918)
  ['192.0.0.0', 24], // IETF protocol assignments (RFC 6890)
  ['192.0.2.0', 24], // documentation (RFC 5737)
  ['192.88.99.0', 24], // 6to4 relay anycast (RFC 7526, deprecated)
  ['192.168.0.0', 16], // private (RFC 1918)
  ['198.18.0.0', 15], // benchmarking (RFC 2544)
  ['198.51.100.0', 24], // documentation (RFC 5737)
  ['203.0.113.0', 24], // documentation (RFC 5737)
  ['224.0.0.0', 4], // multicast (RFC 5771)
  ['240.0.0.0', 4], // reserved, and broadcast (RFC 1112, RFC 919)
];

const V6_REFUSED = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b:1::', 48], // local-use IPv4/IPv6 translation (RFC 8215)
  ['100::', 64], // discard-only (RFC 6666)
  ['2001::', 23], // IETF protocol assignments (RFC 2928)
  ['2001:db8::', 32], // documentation (RFC 3849)
  ['2002::', 16], // 6to4 (RFC 3056): reaches IPv4 addresses of any kind
  ['fc00::', 7], // unique local (RFC 4193)
  ['fe80::', 10], // link-local (RFC 4291)
  ['fec0::', 10], // site-local, deprecated (RFC 3879)
  ['ff00::', 8], // multicast (RFC 4291)
];

function v4Bits(address) {
  return address.split('.').reduce((n, part) => (n << 8n) | BigInt(Number(part)), 0n);
}

function v6Bits(address) {
  let text = address.toLowerCase();
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  // A trailing dotted quad (::ffff:1.2.3.4) is two groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const n = v4Bits(quad[1]);
    text = `${text.slice(0, quad.index)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

const inRange = (bits, width, [base, prefix], parse) => bits >> BigInt(width - prefix) === parse(base) >> BigInt(width - prefix);

/** Why `address` is refused (a short phrase), or null when it is a public unicast address. */
export function refusedBecause(address) {
  const family = net.isIP(address);
  if (family === 4) {
    const bits = v4Bits(address);
    return V4_REFUSED.some((r) => inRange(bits, 32, r, v4Bits)) ? 'not a public IPv4 address' : null;
  }
  if (family === 6) {
    const bits = v6Bits(address);
    // IPv4-mapped (::ffff:0:0/96) and IPv4-compatible (::/96): the IPv4 address decides.
    const high = bits >> 32n;
    if (high === 0xffffn || high === 0n) {
      const v4 = bits & 0xffffffffn;
      if (high === 0n && v4 <= 1n) return 'not a public IPv6 address';
      const dotted = [24n, 16n, 8n, 0n].map((s) => String((v4 >> s) & 0xffn)).join('.');
      return refusedBecause(dotted) ? 'an IPv4-mapped address that is not public' : null;
    }
    return V6_REFUSED.some((r) => inRange(bits, 128, r, v6Bits)) ? 'not a public IPv6 address' : null;
  }
  return 'not an IP address';
}

/**
 * Throws serve-target-refused unless every address may be reached (or private targets are allowed).
 * @param {string} name the host name the addresses belong to (for the message)
 * @param {string[]} addresses
 * @param {boolean} allowPrivate
 */
export function checkTargets(name, addresses, allowPrivate) {
  if (allowPrivate) return;
  for (const address of addresses) {
    const why = refusedBecause(address);
    if (why) throw new ServeError('serve-target-refused', `${name} resolves to ${address}, ${why}: this server reaches only public addresses`, { address });
  }
}

/**
 * A domain name as the helpers accept it: the core's normalisation (A-labels, lowercase), at most
 * 253 octets, at least two labels, no address literal. serve-not-a-domain otherwise.
 */
export function domainParameter(value, what = 'domain') {
  if (typeof value !== 'string' || value === '' || value.length > 253) {
    throw new ServeError('serve-not-a-domain', `${what} must be a domain name of 1-253 characters`);
  }
  let name;
  try {
    name = normalizeDomain(value.endsWith('.') ? value.slice(0, -1) : value);
  } catch (err) {
    throw new ServeError('serve-not-a-domain', `${what} is not a domain name: ${err.message}`);
  }
  if (net.isIP(name) || !name.includes('.') || name.length > 253) {
    throw new ServeError('serve-not-a-domain', `${what} must be a domain name with at least two labels, found ${JSON.stringify(value.slice(0, 80))}`);
  }
  return name;
}
