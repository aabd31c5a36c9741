// A lab world at scale: N domains with a chosen mix of MTA-STS situations (the categories of
// `mtasts survey`, js/survey/classify.js), served by ONE embedded DNS server, ONE HTTPS policy host
// for every `mta-sts.<domain>` and, for `survey --probe`, ONE STARTTLS MX for every MX host.
// Used by the survey tests, tests/bench/survey.mjs, `mtasts lab world` and `mtasts demo survey`.
//
//   const world = await startWorld({ domains: 10000, mix: 'random', seed: 7 });
//   world.domains            [{ domain, kind, expect: { category, mode, tlsrpt } }] in list order
//   world.expected()         { category: { name: n }, mode: { .. }, tlsrpt: { .. } } what a survey must count
//   world.dns.server, world.policyPort, world.smtpPort, world.caPem
//   await world.stop();
//
// Certificates: making one per domain at start costs ~2.6 ms each (26 s for 10,000 domains, measured
// with js/lab/pki.js on this machine kind), so they are made lazily, on the first TLS handshake that
// asks for a name, and shared: one certificate with the names of a batch of CERT_BATCH domains.
// Only the deliberately broken certificates (another CA, another name) are made one per domain.

import net from 'node:net';
import tls from 'node:tls';
import { buildZone, answer, inZone, normalise } from './zone.js';
import { startDnsServer } from './dns-server.js';
import { startPolicyHost, secureContext } from './policy-host.js';
import { createAuthority, issueCertificate } from './pki.js';
import { policyText } from './scenarios.js';
import { serverString } from './peer-process.js';

/** Domains whose certificates share one certificate (its subjectAltNames). */
export const CERT_BATCH = 100;
const MX_ADDRESS = '127.0.0.1';
// The MX that offers no STARTTLS listens on its own loopback address (the EHLO reply is sent before
// the client names the host it dialled, so only the address can tell the two apart).
const PLAIN_MX_ADDRESS = '127.0.0.2';
const SMTP_LINE_LIMIT = 4096;

const ok = (body, contentType = 'text/plain') => ({ status: 200, contentType, body });
const record = (id) => [[`v=STSv1; id=${id}`]];
const mxOf = (d) => [
  { priority: 10, host: `mx1.${d}` },
  { priority: 20, host: `mx2.${d}` },
];
const validPolicy = (d, mode, maxAge) => ok(policyText({ mode, mx: [`mx1.${d}`, `*.${d}`], maxAge }));

/**
 * The kinds of domain a world is made of. Each builds the DNS and HTTPS state of one domain
 * (the scenario shape of scenarios.js) and says which survey category it must land in. `probe`
 * kinds differ from a valid policy only when the MX hosts are probed.
 */
export const KINDS = Object.freeze({
  'no-record': { category: 'no-record', mode: null, build: () => ({ txt: [], policy: null }) },
  'not-mta-sts': {
    category: 'record-not-mta-sts',
    mode: null,
    // The original study found SPF-like text published at _mta-sts.
    build: (d) => ({ txt: [[`v=spf1 include:_spf.${d} ~all`]], policy: null }),
  },
  'record-invalid': { category: 'record-invalid', mode: null, build: () => ({ txt: record('bad-id!') }) },
  'record-multiple': { category: 'record-multiple', mode: null, build: () => ({ txt: [...record('one1'), ...record('two2')] }) },
  'dns-servfail': { category: 'dns-temporary', mode: null, build: () => ({ dnsFault: 'servfail' }) },
  'policy-404': { category: 'policy-http-status', mode: null, build: () => ({ policy: { status: 404, contentType: 'text/plain', body: 'not found\n' } }) },
  'policy-untrusted': { category: 'policy-webpki-invalid', mode: null, cert: 'untrusted', build: () => ({}) },
  'policy-content-type': { category: 'policy-content-type', mode: null, build: (d) => ({ policy: { ...validPolicy(d, 'enforce', 86400), contentType: 'text/html' } }) },
  'policy-redirect': {
    category: 'policy-redirect',
    mode: null,
    build: (d) => ({ policy: { status: 301, contentType: 'text/plain', body: 'moved\n', location: `https://www.${d}/.well-known/mta-sts.txt` } }),
  },
  'policy-timeout': {
    category: 'policy-fetch-timeout',
    mode: null,
    build: (d) => ({ policy: { ...validPolicy(d, 'enforce', 86400), trickle: { intervalMs: 250, totalBytes: 2400 } } }),
  },
  'policy-host-missing': { category: 'policy-fetch-error', mode: null, build: () => ({ policy: null }) },
  'policy-invalid': { category: 'policy-invalid', mode: null, build: (d) => ({ policy: ok(`version: STSv1\nmode: enforcing\nmx: mx1.${d}\nmax_age: forever\n`) }) },
  enforce: { category: 'valid', mode: 'enforce', build: () => ({}) },
  testing: { category: 'valid', mode: 'testing', build: (d, n) => ({ policy: validPolicy(d, 'testing', n.maxAge) }) },
  none: { category: 'valid', mode: 'none', build: (d, n) => ({ policy: validPolicy(d, 'none', n.maxAge) }) },
  'mx-outside-policy': {
    category: 'mx-outside-policy',
    mode: 'enforce',
    build: (d, n) => ({ policy: ok(policyText({ mode: 'enforce', mx: [`mx1.${d}`], maxAge: n.maxAge })) }),
  },
  'mx-certificate': { category: 'mx-certificate', mode: 'enforce', probe: true, mxCert: 'wrong-name', build: () => ({}) },
  'mx-no-starttls': { category: 'mx-starttls', mode: 'enforce', probe: true, mxPlain: true, build: () => ({}) },
});

/** max_age values of valid policies (RFC 8461 §3.2: up to 31557600), picked per domain. */
const MAX_AGES = [3600, 86400, 604800, 1209600, 31557600];
const TLSRPT_FLAVOURS = ['valid', 'invalid', 'missing'];

// The original study (102 providers): 9 with a record, all in report (now testing) mode, 2 with a
// TXT at _mta-sts that is not an MTA-STS record, the rest none.
const SEED_TABLE = { testing: 9, 'not-mta-sts': 2, 'no-record': 91 };

// Spec: proportions for `--mix random`, loosely after large scans (most domains publish nothing;
// of those with a record, a good part is misconfigured).
const RANDOM_WEIGHTS = {
  'no-record': 800, 'not-mta-sts': 10, 'record-invalid': 8, 'record-multiple': 4, 'dns-servfail': 4,
  'policy-404': 20, 'policy-untrusted': 6, 'policy-content-type': 6, 'policy-redirect': 4,
  'policy-host-missing': 20, 'policy-invalid': 6, enforce: 40, testing: 40, none: 8,
  'mx-outside-policy': 12, 'mx-certificate': 6, 'mx-no-starttls': 6,
};

/**
 * The kinds of a world of `count` domains, in list order. `mix`: 'seed-table' (102 domains),
 * 'all' (every kind in turn), 'random' (RANDOM_WEIGHTS, shuffled by `seed`), or 'kind=weight,...'.
 * Weights become exact counts by largest remainder; the order is a seeded shuffle.
 */
export function planKinds({ count, mix = 'all', seed = 1, probe = true }) {
  if (mix === 'seed-table') {
    if (count !== undefined && count !== 102) throw new Error('mix seed-table has exactly 102 domains');
    return shuffle(expand(SEED_TABLE), seed);
  }
  let weights;
  if (mix === 'all') weights = Object.fromEntries(Object.keys(KINDS).filter((k) => probe || !KINDS[k].probe).map((k) => [k, 1]));
  else if (mix === 'random') weights = RANDOM_WEIGHTS;
  else weights = parseMix(mix);
  if (!Number.isInteger(count) || count < 1) throw new Error('a world needs a whole number of domains (--domains N)');
  if (mix === 'all') return Array.from({ length: count }, (_, i) => Object.keys(weights)[i % Object.keys(weights).length]);
  return shuffle(expand(apportion(weights, count)), seed);
}

/** 'enforce=3,no-record=7' → { enforce: 3, 'no-record': 7 }; unknown kinds are an error. */
export function parseMix(text) {
  const weights = {};
  for (const part of String(text).split(',')) {
    const m = /^([a-z0-9-]+)=(\d+(?:\.\d+)?)$/.exec(part.trim());
    if (!m || !Object.hasOwn(KINDS, m[1])) {
      throw new Error(`mix: ${JSON.stringify(part)} is not kind=weight (kinds: ${Object.keys(KINDS).join(', ')}; or seed-table, all, random)`);
    }
    weights[m[1]] = Number(m[2]);
  }
  return weights;
}

function apportion(weights, count) {
  const total = Object.values(weights).reduce((a, b) => a + b, 0);
  if (total <= 0) throw new Error('mix: the weights add up to zero');
  const exact = Object.entries(weights).map(([k, w]) => [k, (w * count) / total]);
  const counts = Object.fromEntries(exact.map(([k, x]) => [k, Math.floor(x)]));
  let left = count - Object.values(counts).reduce((a, b) => a + b, 0);
  for (const [k] of exact.slice().sort((a, b) => b[1] - Math.floor(b[1]) - (a[1] - Math.floor(a[1])))) {
    if (left-- <= 0) break;
    counts[k] += 1;
  }
  return counts;
}

const expand = (counts) => Object.entries(counts).flatMap(([k, n]) => Array(n).fill(k));

// mulberry32: a small seeded generator, so a world is the same for the same seed.
function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle(list, seed) {
  const random = generator(seed);
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}

/**
 * The domains of a world: [{ domain, kind, state, expect: { category, mode, maxAge, tlsrpt } }].
 * `prefix` names them `<prefix>00001.test` ...; with `probe` false, the probe-only kinds are left
 * out of 'all' (they would count as valid).
 */
export function generateWorld({ domains: count, mix = 'all', seed = 1, prefix = 'd', probe = true } = {}) {
  const kinds = planKinds({ count, mix, seed, probe });
  const width = String(kinds.length).length;
  return kinds.map((kind, i) => {
    const spec = KINDS[kind];
    const domain = `${mix === 'seed-table' ? 'provider' : prefix}${String(i + 1).padStart(Math.max(width, 3), '0')}.test`;
    const maxAge = MAX_AGES[i % MAX_AGES.length];
    const base = { domain, txt: record(`w${i + 1}`), policy: validPolicy(domain, 'enforce', maxAge), mx: mxOf(domain) };
    const state = { ...base, ...spec.build(domain, { maxAge }) };
    // Spec: TLS-RPT flavours in turn, except that the seed table's domains without MTA-STS have none
    // (the original study did not look at TLS-RPT).
    const tlsrpt = mix === 'seed-table' && spec.mode === null ? 'missing' : TLSRPT_FLAVOURS[i % TLSRPT_FLAVOURS.length];
    if (tlsrpt === 'valid') state.extraTxt = { [`_smtp._tls.${domain}`]: [[`v=TLSRPTv1; rua=mailto:tlsrpt@${domain}`]] };
    if (tlsrpt === 'invalid') state.extraTxt = { [`_smtp._tls.${domain}`]: [['v=TLSRPTv1; rua=ftp://reports.invalid']] };
    const validMode = spec.category === 'valid' || spec.mode ? spec.mode : null;
    const category = spec.probe && !probe ? 'valid' : spec.category;
    const expect = { category, mode: validMode, maxAge: validMode ? maxAge : null, tlsrpt };
    if (kind === 'mx-outside-policy') state.mx = [...state.mx.slice(0, 1), { priority: 20, host: `backup.${domain}` }];
    return { domain, kind, state, expect };
  });
}

/** What a survey of the world must count: { category: {..}, mode: {..}, tlsrpt: {..}, total }. */
export function expectedCounts(list) {
  const out = { total: list.length, category: {}, mode: {}, tlsrpt: {} };
  for (const { expect } of list) {
    out.category[expect.category] = (out.category[expect.category] ?? 0) + 1;
    if (expect.mode) out.mode[expect.mode] = (out.mode[expect.mode] ?? 0) + 1;
    out.tlsrpt[expect.tlsrpt] = (out.tlsrpt[expect.tlsrpt] ?? 0) + 1;
  }
  return out;
}

/**
 * Starts a world on loopback. Options: domains, mix, seed, probe (start the MX; default true),
 * host ('127.0.0.1'), dnsPort and httpsPort (default 0: ephemeral; 53 and 443 only inside a private
 * network namespace, for peers that cannot be told a port, as startLab's standardPorts). Returns { domains, expected(), dns: { host, port, server }, policyPort,
 * smtpPort, caPem, certificatesMade(), stop() }.
 */
export async function startWorld({ domains: count, mix = 'all', seed = 1, probe = true, host = '127.0.0.1', prefix, dnsPort = 0, httpsPort = 0 } = {}) {
  if (!(net.isIPv4(host) && host.startsWith('127.'))) throw new Error(`the lab listens on loopback only, not ${JSON.stringify(host)}`);
  const list = generateWorld({ domains: count, mix, seed, probe, prefix });
  const byDomain = new Map(list.map((d, i) => [d.domain, { ...d, index: i }]));

  const zone = buildZone(list.map((d) => d.state), { policyAddress: host });
  // Every MX host on one IPv4 address (the plain MX on its own); no AAAA, so a probe dials once.
  for (const d of list) {
    for (const { host: mx } of d.state.mx) {
      const rr = zone.names.get(normalise(mx));
      rr.A = [KINDS[d.kind].mxPlain ? PLAIN_MX_ADDRESS : MX_ADDRESS];
      rr.AAAA = [];
    }
  }
  const parents = emptyNonTerminals(zone);

  const labCa = createAuthority('mtasts world CA');
  const untrustedCa = createAuthority('mtasts world untrusted CA');
  const made = { certificates: 0 };
  const contexts = new Map();
  const context = (key, make) => {
    if (!contexts.has(key)) {
      made.certificates += 1;
      contexts.set(key, secureContext(make()));
    }
    return contexts.get(key);
  };
  const batchOf = (index) => Math.floor(index / CERT_BATCH);
  const batchNames = (b, names) => list.slice(b * CERT_BATCH, (b + 1) * CERT_BATCH).flatMap((d) => names(d));

  const policyContext = (servername) => {
    const d = servername.startsWith('mta-sts.') && byDomain.get(servername.slice('mta-sts.'.length));
    if (!d || !d.state.policy) return null;
    if (KINDS[d.kind].cert === 'untrusted') return context(`untrusted|${d.domain}`, () => issueCertificate(untrustedCa, { names: [servername] }));
    const b = batchOf(d.index);
    return context(`policy|${b}`, () => issueCertificate(labCa, { names: batchNames(b, (x) => (x.state.policy ? [`mta-sts.${x.domain}`] : [])) }));
  };
  const mxContext = (servername) => {
    const domain = servername.split('.').slice(1).join('.');
    const d = byDomain.get(domain);
    if (!d) return null;
    if (KINDS[d.kind].mxCert === 'wrong-name') return context(`mx-wrong|${domain}`, () => issueCertificate(labCa, { names: [`other.${domain}`] }));
    const b = batchOf(d.index);
    return context(`mx|${b}`, () => issueCertificate(labCa, { names: batchNames(b, (x) => x.state.mx.map((m) => m.host)) }));
  };

  const dns = await startDns({ host, port: dnsPort, getZone: () => zone, answerQuestion: (z, name, type) => indexedAnswer(z, parents, name, type) });
  const closers = [() => dns.close()];
  try {
    const defaultCert = issueCertificate(labCa, { names: ['world.test'] });
    const policyHost = await startPolicyHost({
      host,
      port: httpsPort,
      defaultCert,
      policyFor: (domain) => byDomain.get(normalise(domain))?.state.policy ?? null,
      contextFor: policyContext,
      onRequest: () => {},
    });
    closers.push(() => policyHost.close());
    const mx = probe ? await startWorldMx({ defaultCert, contextFor: mxContext }) : null;
    if (mx) closers.push(() => mx.close());
    return {
      domains: list.map(({ domain, kind, expect }) => ({ domain, kind, expect })),
      expected: () => expectedCounts(list),
      dns: { host, port: dns.port, server: serverString(host, dns.port) },
      policyPort: policyHost.port,
      smtpPort: mx?.port ?? null,
      caPem: labCa.certPem,
      certificatesMade: () => made.certificates,
      stop: () => Promise.all(closers.map((c) => c())).then(() => undefined),
    };
  } catch (err) {
    await Promise.all(closers.map((c) => c()));
    throw err;
  }
}

// An ephemeral port is picked by UDP, and TCP may find it taken: try another.
async function startDns(options) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await startDnsServer(options);
    } catch (err) {
      if (err.code !== 'EADDRINUSE' || options.port !== 0 || attempt >= 10) throw err;
    }
  }
}

// zone.js answers a missing name by scanning every name for an empty non-terminal, fine for the
// catalogue and too slow for 10,000 domains: the world indexes them once.
function emptyNonTerminals(zone) {
  const parents = new Set();
  for (const name of zone.names.keys()) {
    const labels = name.split('.');
    for (let i = 1; i < labels.length; i++) parents.add(labels.slice(i).join('.'));
  }
  return parents;
}

function indexedAnswer(zone, parents, qname, qtype) {
  const n = normalise(qname);
  if (inZone(n) && !zone.faults.has(n) && !zone.names.has(n)) return { rcode: parents.has(n) ? 'NOERROR' : 'NXDOMAIN', answers: [] };
  return answer(zone, qname, qtype);
}

/**
 * The world's MX: a minimal SMTP server (banner, EHLO, STARTTLS, QUIT; anything else 502) on
 * MX_ADDRESS, and one without STARTTLS on PLAIN_MX_ADDRESS, on the same port. The certificate is
 * picked by SNI (the MX host name the client dialled).
 */
async function startWorldMx({ defaultCert, contextFor }) {
  const sockets = new Set();
  const serve = (starttls) => (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    converse(socket, { starttls, defaultCert, contextFor, sockets });
  };
  const tlsServer = net.createServer(serve(true));
  const plainServer = net.createServer(serve(false));
  for (let attempt = 0; ; attempt++) {
    await listen(tlsServer, 0, MX_ADDRESS);
    const port = tlsServer.address().port;
    try {
      await listen(plainServer, port, PLAIN_MX_ADDRESS);
      return {
        port,
        close: async () => {
          for (const s of sockets) s.destroy();
          await Promise.all([tlsServer, plainServer].map((s) => new Promise((r) => s.close(r))));
        },
      };
    } catch (err) {
      await new Promise((r) => tlsServer.close(r));
      if (err.code !== 'EADDRINUSE' || attempt >= 10) throw err;
    }
  }
}

function listen(server, port, host) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function converse(socket, { starttls, defaultCert, contextFor, sockets }) {
  let buffered = '';
  let secured = false;
  const onData = (chunk) => {
    buffered += chunk.toString('latin1');
    if (buffered.length > SMTP_LINE_LIMIT && !buffered.includes('\n')) return socket.destroy();
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).replace(/\r$/, '');
      buffered = buffered.slice(nl + 1);
      const verb = line.split(' ')[0].toUpperCase();
      if (verb === 'EHLO' || verb === 'HELO') {
        const offer = starttls && !secured ? ['250-STARTTLS'] : [];
        socket.write([`250-mx.world.test`, ...offer, '250 8BITMIME', ''].join('\r\n'));
      } else if (verb === 'STARTTLS' && starttls && !secured) {
        socket.off('data', onData);
        socket.write('220 2.0.0 ready to start TLS\r\n', () => {
          const secure = new tls.TLSSocket(socket, {
            isServer: true,
            key: defaultCert.keyPem,
            cert: defaultCert.chainPem,
            minVersion: 'TLSv1.2',
            SNICallback: (name, cb) => cb(null, contextFor(name.toLowerCase()) ?? undefined),
          });
          sockets.add(secure);
          secure.on('close', () => sockets.delete(secure));
          secure.on('error', () => socket.destroy());
          secured = true;
          socket = secure;
          secure.on('data', onData);
        });
        return;
      } else if (verb === 'QUIT') {
        socket.end('221 2.0.0 bye\r\n');
        return;
      } else if (verb === 'NOOP' || verb === 'RSET') {
        socket.write('250 2.0.0 ok\r\n');
      } else {
        socket.write('502 5.5.1 the world MX only greets\r\n');
      }
    }
  };
  socket.on('data', onData);
  socket.write('220 mx.world.test ESMTP lab world\r\n');
}
