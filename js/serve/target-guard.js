// Which targets the helpers may reach: no SSRF. The policy fetch and the MX probe go only to
// addresses on the public Internet, unless `--allow-private` (the lab on loopback needs it).
// Refused: every special-purpose range of the core's table (RFC 6890: unspecified, loopback,
// private, shared, link-local, multicast, documentation, benchmarking, reserved, ...).

import net from 'node:net';
import { normalizeDomain, specialAddressRange } from '../core.js';
import { ServeError } from './errors.js';

/**
 * Why `address` is refused (a short phrase), or null when it is a public unicast address. The
 * core's table decides (src/delivery/address.rs, the one connectMx and the relay use): IPv4-mapped
 * and IPv4-compatible IPv6 are refused as such, NAT64 and 6to4 as the IPv4 address they carry.
 */
export function refusedBecause(address) {
  if (net.isIP(address) === 0) return 'not an IP address';
  let range;
  try {
    range = specialAddressRange(address);
  } catch (err) {
    if (err?.code === 'invalid-argument') return 'not an IP address'; // e.g. with an IPv6 zone index
    throw err;
  }
  return range ? `in the ${range.kind} range (${range.rfc})` : null;
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
