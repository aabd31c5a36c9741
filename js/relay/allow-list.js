// Which clients may relay through `mtasts relay`: a list of networks (CIDR), loopback by default.
// An open relay would deliver anyone's mail, so the default admits only this machine.

import net from 'node:net';
import { MtaStsError } from '../error.js';

export const DEFAULT_ALLOW = Object.freeze(['127.0.0.0/8', '::1/128']);

/** Parses `10.0.0.0/8`, `::1/128` or a single address; throws `invalid-argument`. */
function parseNetwork(text) {
  const [address, bits, extra] = String(text).trim().split('/');
  const family = net.isIPv4(address) ? 'ipv4' : net.isIPv6(address) ? 'ipv6' : null;
  const max = family === 'ipv4' ? 32 : 128;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (!family || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
    throw new MtaStsError('invalid-argument', `an allowed network is an address or address/prefix (127.0.0.0/8, ::1/128), found ${JSON.stringify(text)}`);
  }
  return { address, prefix, family };
}

/** @param {string[]} networks */
export function createAllowList(networks = DEFAULT_ALLOW) {
  const list = new net.BlockList();
  for (const n of networks) {
    const { address, prefix, family } = parseNetwork(n);
    list.addSubnet(address, prefix, family);
  }
  return {
    networks: [...networks],
    /** Whether a client at `address` may use the relay. */
    allows(address) {
      if (typeof address !== 'string') return false;
      // A dual-stack listener reports IPv4 clients as IPv4-mapped IPv6 addresses.
      const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
      if (mapped) return list.check(mapped[1], 'ipv4');
      if (net.isIPv4(address)) return list.check(address, 'ipv4');
      if (net.isIPv6(address)) return list.check(address.split('%')[0], 'ipv6');
      return false;
    },
  };
}

/** Whether `address` is a loopback address (127.0.0.0/8, ::1, or IPv4-mapped loopback). */
export function isLoopback(address) {
  return typeof address === 'string' && (/^(::ffff:)?127\./i.test(address) || address === '::1');
}
