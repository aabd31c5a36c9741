// A DNS host over DNS over HTTPS (RFC 8484, wire format, POST): TXT, MX and A/AAAA answers in the
// shapes of the Node DNS host (js/node/dns.js), so the check assembly and the core see the same
// answers in a page as in `mtasts check`. Only NXDOMAIN and an empty answer are "no record"; every
// other failure is temporary (RFC 8461 §10: a blocked lookup must not read as "no policy").
// `mtasts serve`'s /dns-query puts the server resolver's failure code in an Extended DNS Error
// (RFC 8914); from another resolver the code is derived from the RCODE.

const TYPE = { A: 1, MX: 15, TXT: 16, AAAA: 28 };
const RCODE_DETAIL = { 1: 'EFORMERR', 2: 'ESERVFAIL', 3: 'ENOTFOUND', 4: 'ENOTIMP', 5: 'EREFUSED' };
/** Spec: an answer larger than this is not read (a DNS message is at most 65535 octets). */
const MAX_ANSWER = 65535;

class Malformed extends Error {}

/** RFC 1035 §4.1: a query for `name` and `type` with RD set, ID 0 (RFC 8484 §4.1). */
export function encodeQuery(name, type) {
  const labels = name.replace(/\.$/, '').split('.');
  const bytes = [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
  for (const label of labels) {
    const l = new TextEncoder().encode(label);
    if (l.length === 0 || l.length > 63) throw new RangeError(`not a DNS name: ${JSON.stringify(name)}`);
    bytes.push(l.length, ...l);
  }
  bytes.push(0, 0, TYPE[type], 0, 1);
  return new Uint8Array(bytes);
}

function readName(buf, offset) {
  const labels = [];
  let end = null;
  for (let pos = offset, hops = 0; ; ) {
    if (pos >= buf.length) throw new Malformed('name runs past the message');
    const len = buf[pos];
    if (len === 0) return { name: labels.join('.'), next: end ?? pos + 1 };
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw new Malformed('truncated pointer');
      const target = ((len & 0x3f) << 8) | buf[pos + 1];
      if (target >= pos || ++hops > 64) throw new Malformed('bad compression pointer');
      end ??= pos + 2;
      pos = target;
    } else if ((len & 0xc0) !== 0) throw new Malformed('bad label type');
    else {
      if (pos + 1 + len > buf.length) throw new Malformed('label runs past the message');
      labels.push(String.fromCharCode(...buf.subarray(pos + 1, pos + 1 + len)));
      pos += 1 + len;
    }
  }
}

const u16 = (b, i) => {
  if (i + 2 > b.length) throw new Malformed('truncated');
  return (b[i] << 8) | b[i + 1];
};

/** A response: { rcode, answers: [{ type, data }], ede: string | null }. */
export function decodeResponse(buf) {
  if (buf.length < 12) throw new Malformed('shorter than a header');
  const rcode = buf[3] & 0x0f;
  const counts = [u16(buf, 4), u16(buf, 6), u16(buf, 8), u16(buf, 10)];
  let pos = 12;
  for (let i = 0; i < counts[0]; i++) pos = readName(buf, pos).next + 4;
  const answers = [];
  let ede = null;
  const total = counts[1] + counts[2] + counts[3];
  for (let i = 0; i < total; i++) {
    const next = readName(buf, pos).next;
    const type = u16(buf, next);
    const len = u16(buf, next + 8);
    const start = next + 10;
    if (start + len > buf.length) throw new Malformed('record runs past the message');
    const rdata = buf.subarray(start, start + len);
    if (i < counts[1]) answers.push({ type, data: rdataOf(type, buf, start, rdata) });
    if (type === 41) ede = extendedError(rdata) ?? ede;
    pos = start + len;
  }
  return { rcode, answers, ede };
}

function rdataOf(type, buf, start, rdata) {
  switch (type) {
    case TYPE.TXT: {
      const strings = [];
      for (let p = 0; p < rdata.length; ) {
        const n = rdata[p];
        if (p + 1 + n > rdata.length) throw new Malformed('TXT string runs past its record');
        strings.push(new TextDecoder().decode(rdata.subarray(p + 1, p + 1 + n)));
        p += 1 + n;
      }
      return strings;
    }
    case TYPE.MX:
      return { priority: u16(buf, start), exchange: readName(buf, start + 2).name };
    case TYPE.A:
      if (rdata.length !== 4) throw new Malformed('A record of the wrong size');
      return [...rdata].join('.');
    case TYPE.AAAA: {
      if (rdata.length !== 16) throw new Malformed('AAAA record of the wrong size');
      const groups = [];
      for (let i = 0; i < 16; i += 2) groups.push(((rdata[i] << 8) | rdata[i + 1]).toString(16));
      return compressV6(groups);
    }
    default:
      return null;
  }
}

/** RFC 5952 §4.2: the longest run of two or more zero groups becomes "::". */
function compressV6(groups) {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** RFC 8914: the EXTRA-TEXT of the first EDE option in an OPT record's data. */
function extendedError(rdata) {
  for (let p = 0; p + 4 <= rdata.length; ) {
    const code = (rdata[p] << 8) | rdata[p + 1];
    const len = (rdata[p + 2] << 8) | rdata[p + 3];
    if (code === 15 && len >= 2 && p + 4 + len <= rdata.length) return new TextDecoder().decode(rdata.subarray(p + 6, p + 4 + len));
    p += 4 + len;
  }
  return null;
}

function failure(kind, detail, name) {
  const what = kind === 'none' ? 'no such record' : 'temporary dns failure';
  return { ok: false, kind, detail, message: `${what} for ${name}: ${detail}` };
}

/**
 * @param {object} options
 * @param {string} options.url the DoH endpoint (`/dns-query` of mtasts serve, or a public resolver)
 * @param {typeof fetch} [options.fetch]
 * @param {number} [options.timeout] ms per query (default 10000)
 */
export function createDohDns({ url, fetch: fetchFn = globalThis.fetch.bind(globalThis), timeout = 10_000 }) {
  async function query(name, type) {
    let response;
    try {
      response = await fetchFn(url, {
        method: 'POST',
        headers: { 'content-type': 'application/dns-message', accept: 'application/dns-message' },
        body: encodeQuery(name, type),
        signal: AbortSignal.timeout(timeout),
      });
    } catch (err) {
      return { failed: failure('temporary', err?.name === 'TimeoutError' ? 'ETIMEOUT' : 'ECONNREFUSED', name) };
    }
    if (!response.ok) return { failed: failure('temporary', response.status === 429 ? 'ERATELIMITED' : 'ESERVFAIL', name) };
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (bytes.length > MAX_ANSWER) return { failed: failure('temporary', 'EBADRESP', name) };
    let message;
    try {
      message = decodeResponse(bytes);
    } catch {
      return { failed: failure('temporary', 'EBADRESP', name) };
    }
    if (message.rcode !== 0) {
      const detail = message.ede && /^E[A-Z]+$/.test(message.ede) ? message.ede : RCODE_DETAIL[message.rcode] ?? 'ESERVFAIL';
      return { failed: failure(detail === 'ENOTFOUND' ? 'none' : 'temporary', detail, name) };
    }
    const data = message.answers.filter((a) => a.type === TYPE[type]).map((a) => a.data);
    if (data.length === 0) return { failed: failure('none', 'ENODATA', name) };
    return { data };
  }

  return {
    async resolveTxt(name) {
      const r = await query(name, 'TXT');
      return r.failed ?? { ok: true, records: r.data };
    },
    async resolveMx(name) {
      const r = await query(name, 'MX');
      return r.failed ?? { ok: true, records: r.data };
    },
    async resolveAddresses(name) {
      const [a, aaaa] = await Promise.all([query(name, 'A'), query(name, 'AAAA')]);
      const addresses = [...(a.data ?? []).map((address) => ({ address, family: 4 })), ...(aaaa.data ?? []).map((address) => ({ address, family: 6 }))];
      if (addresses.length > 0) return { ok: true, addresses };
      const fails = [a.failed, aaaa.failed];
      return fails.find((f) => f.kind === 'temporary') ?? fails[0];
    },
  };
}
