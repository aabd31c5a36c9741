// The lab's DNS zone `test.`, built from the current state of every scenario.
//
// One zone feeds the embedded server (dns-server.js) and the configurations of the real servers
// (dnsmasq.js, unbound.js), so the three answer the same questions the same way.

export const ZONE_ORIGIN = 'test';
export const TTL = 1; // short, so lab.rotate() shows through any caching peer at once

const MX_HOST_V4 = '127.0.0.1';
const MX_HOST_V6 = '::1';

/** RFC 1035 §3.3: a <character-string> holds at most 255 octets; longer text is split. */
export function wireStrings(strings) {
  const out = [];
  for (const s of strings) {
    const bytes = Buffer.from(s, 'utf8');
    if (bytes.length === 0) out.push('');
    for (let i = 0; i < bytes.length; i += 255) out.push(bytes.subarray(i, i + 255).toString('utf8'));
  }
  return out;
}

export const normalise = (name) => name.toLowerCase().replace(/\.$/, '');

/** Is `name` inside the lab zone (the only names the lab answers for)? */
export function inZone(name) {
  const n = normalise(name);
  return n === ZONE_ORIGIN || n.endsWith(`.${ZONE_ORIGIN}`);
}

/**
 * Builds the zone from scenario states ({ domain, txt, txtName, dnsFault, policy, mx }).
 * `policyAddress` is the loopback address the HTTPS policy host listens on.
 * Returns { names: Map<name, { A, AAAA, MX, TXT }>, faults: Map<name, 'timeout'|'servfail'> }.
 */
export function buildZone(states, { policyAddress }) {
  const names = new Map();
  const faults = new Map();
  const node = (name) => {
    const n = normalise(name);
    if (!names.has(n)) names.set(n, { A: [], AAAA: [], MX: [], TXT: [] });
    return names.get(n);
  };
  const addAddress = (name, address) => {
    const rr = node(name);
    const list = address.includes(':') ? rr.AAAA : rr.A;
    if (!list.includes(address)) list.push(address);
  };

  for (const s of states) {
    const txtName = s.txtName ?? `_mta-sts.${s.domain}`;
    // A faulty name has no data: real servers would answer from data before applying the fault.
    if (s.dnsFault) faults.set(normalise(`_mta-sts.${s.domain}`), s.dnsFault);
    else for (const record of s.txt) node(txtName).TXT.push(wireStrings(record));
    for (const { priority, host } of s.mx) {
      node(s.domain).MX.push({ preference: priority, exchange: host });
      addAddress(host, MX_HOST_V4);
      addAddress(host, MX_HOST_V6);
    }
    if (s.policy) addAddress(`mta-sts.${s.domain}`, policyAddress);
    for (const [name, records] of Object.entries(s.extraTxt ?? {})) {
      for (const record of records) node(name).TXT.push(wireStrings(record));
    }
  }
  return { names, faults };
}

/**
 * The authoritative answer for one question:
 *   { fault: 'timeout'|'servfail' } | { rcode: 'NOERROR'|'NXDOMAIN'|'REFUSED', answers: [...] }
 * where answers are { name, type, data } with data as dns-wire.js encodes it.
 */
export function answer(zone, qname, qtype) {
  const n = normalise(qname);
  if (!inZone(n)) return { rcode: 'REFUSED', answers: [] };
  const fault = zone.faults.get(n);
  if (fault) return { fault };
  const rr = zone.names.get(n);
  if (!rr) {
    // An empty non-terminal (e.g. `_tls.x.test` above `_smtp._tls.x.test`) exists, with no data.
    const exists = n === ZONE_ORIGIN || [...zone.names.keys()].some((k) => k.endsWith(`.${n}`));
    return { rcode: exists ? 'NOERROR' : 'NXDOMAIN', answers: [] };
  }
  const data = { A: rr.A, AAAA: rr.AAAA, MX: rr.MX, TXT: rr.TXT }[qtype] ?? [];
  if (qtype === 'ANY') {
    const all = ['A', 'AAAA', 'MX', 'TXT'].flatMap((t) => rr[t].map((d) => ({ name: qname, type: t, data: d })));
    return { rcode: 'NOERROR', answers: all };
  }
  return { rcode: 'NOERROR', answers: data.map((d) => ({ name: qname, type: qtype, data: d })) };
}
