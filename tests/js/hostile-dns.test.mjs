// The hostile-peer matrix, DNS side (issue 14 §5): a scripted DNS server (hostile-dns.mjs, UDP and
// TCP on loopback) in front of the lab's, that answers the questions of one name with a fault —
// a huge answer, TC then TCP garbage, a CNAME loop, a wrong ID or question, records of another
// name, an endless or flooding TCP stream, silence, a compression pointer loop, NXDOMAIN with data —
// met by resolvePolicy (with and without a cached policy), connectMx and the relay, at each name a
// delivery asks: the _mta-sts TXT record, the domain's MX, the MX host's addresses, the policy host's
// address. For each: the RFC's outcome (RFC 8461 §3.1, §5.1, §10.2: a DNS failure is temporary,
// never "no policy"; a cached policy keeps applying; RFC 5321 §5.1 for the MX), a named error from
// errorCodes(), a bound on time (the DNS timeout; every test has a timeout) and on memory, and the
// relay never answers 250 for a message the MX did not take.
// Then SNI, checked directly: the scripted MX records the TLS server name it was asked for, which
// must be the MX host name the DNS gave (RFC 8461 §4.2, RFC 6066 §3), never an address.
// Seeded (garbage bytes): MTASTS_DNS_SEED=<seed> replays (printed).
// Run: scripts/build && node --test tests/js/hostile-dns.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG } from './built-package.mjs';
import { startRelayWorld } from './relay-world.mjs';
import { FAULTS, startHostileDns } from './hostile-dns.mjs';
import { seededRandom } from '../bench/policy-corpus.mjs';

const { connectMx, createPolicyResolver, errorCodes, MtaStsError, memoryStore } = await import(pathToFileURL(join(PKG, 'js/node/index.js')));
const CODES = new Set(errorCodes().map((e) => e.code));
const SEED = Number(process.env.MTASTS_DNS_SEED ?? Date.now() % 1e9);
console.log(`# hostile-dns: seed ${SEED} (replay: MTASTS_DNS_SEED=${SEED})`);

const DOMAIN = 'enforce-valid.test'; // enforce, mx1/mx2.enforce-valid.test (relay-mx serves them)
const DNS_TIMEOUT = 300; // per try; createDnsHost tries twice: a silent server costs ~1 s per question
const TIMEOUTS = { connect: 2, reply: 2, tls: 2, command: 3, dataEnd: 3, delivery: 20 };

/** What a fault means to a resolver (c-ares through node:dns, as measured): */
const MEANS = {
  huge: 'data', // a valid answer: the records are read, the filler is not an MTA-STS record
  'tc-garbage': 'temporary', // EBADRESP
  'cname-loop': 'no-data', // c-ares answers [] (no record of the type): as NODATA (see README)
  'wrong-id': 'temporary', // ignored by the resolver: ETIMEOUT
  'wrong-question': 'temporary', // ignored: ETIMEOUT
  'other-name': 'data', // c-ares does not check the owner name (see README): read as the answer
  'endless-tcp': 'temporary', // ETIMEOUT
  'tcp-flood': 'temporary', // EBADRESP
  silence: 'temporary', // ETIMEOUT
  'pointer-loop': 'temporary', // EBADRESP
  'rcode-mismatch': 'no-data', // NXDOMAIN wins over the stray record: ENOTFOUND
};
assert.deepEqual(Object.keys(MEANS).sort(), [...FAULTS].sort());

let w;
let dns;
let fault = null; // { name, types: Set<number> | null, kind }
before(async () => {
  w = await startRelayWorld();
  dns = await startHostileDns({
    upstream: w.lab.dns.server,
    random: seededRandom(SEED),
    faultFor: (name, type) => (fault && name === fault.name && (!fault.types || fault.types.has(type)) ? fault.kind : null),
  });
});
after(async () => {
  await dns?.close();
  await w?.stop();
});

const TXT = new Set([16]);
const MX = new Set([15]);
const ADDRESSES = new Set([1, 28]);

/** A resolver of its own (cache, short DNS timeout) on the hostile server. */
const resolverOf = (store = memoryStore()) =>
  createPolicyResolver({ dnsServers: [dns.server], dnsTimeout: DNS_TIMEOUT, ca: w.lab.caPem, policyPort: w.lab.policyPort, timeout: 3000, store, recheckAfter: 0 });

async function timed(fn) {
  const t0 = performance.now();
  const rss0 = process.memoryUsage().rss;
  try {
    return { value: await fn(), ms: Math.round(performance.now() - t0), grew: process.memoryUsage().rss - rss0 };
  } catch (err) {
    return { err, ms: Math.round(performance.now() - t0), grew: process.memoryUsage().rss - rss0 };
  }
}

const MiB = 1 << 20;

test('RFC 8461 §3.1, §10.2: the _mta-sts TXT question meets every fault — resolvePolicy without a cache', { timeout: 120_000 }, async () => {
  const rows = [];
  for (const kind of FAULTS) {
    fault = { name: `_mta-sts.${DOMAIN}`, types: TXT, kind };
    const { value: r, err, ms, grew } = await timed(() => resolverOf().resolve(DOMAIN));
    fault = null;
    rows.push(`${kind} ${r?.status ?? err?.code} ${JSON.stringify(r?.errors?.map((e) => e.message))} ${ms} ms`);
    assert.equal(err, undefined, `${kind}: resolve settles with a result, not ${err?.code}`);
    for (const e of r.errors) assert.ok(CODES.has(e.code), `${kind}: ${e.code} is a catalogued code`);
    if (MEANS[kind] === 'temporary') {
      // Never "no policy" from a DNS failure: nothing is known, and the outcome says so.
      assert.equal(r.status, 'temperror', `${kind}: ${JSON.stringify(r.errors)}`);
      assert.ok(r.errors.some((e) => e.code === 'dns-temporary' && e.temporary), `${kind}: dns-temporary`);
    } else if (MEANS[kind] === 'no-data') {
      assert.equal(r.status, 'none', `${kind}: the answer says there is no record`);
    } else {
      // The answer's record (id=hostile1, not the lab's) is read; the policy is the lab's.
      assert.equal(r.status, 'found', kind);
      assert.equal(r.id, 'hostile1', kind);
      assert.equal(r.policy.mode, 'enforce', kind);
    }
    assert.ok(grew < 64 * MiB, `${kind}: memory grew by ${grew} bytes`);
  }
  console.log(`# TXT faults, no cache: ${rows.join('; ')}`);
});

test('RFC 8461 §5.1, §10.2: with a cached policy every TXT fault keeps the policy applying', { timeout: 120_000 }, async () => {
  for (const kind of FAULTS) {
    const resolver = resolverOf();
    const first = await resolver.resolve(DOMAIN);
    assert.equal(first.status, 'found');
    fault = { name: `_mta-sts.${DOMAIN}`, types: TXT, kind };
    const r = await resolver.resolve(DOMAIN);
    fault = null;
    assert.ok(['cached', 'found'].includes(r.status), `${kind}: ${r.status} ${JSON.stringify(r.errors)}`);
    assert.equal(r.policy?.mode, 'enforce', `${kind}: the enforce policy still applies`);
    if (MEANS[kind] !== 'data') assert.equal(r.status, 'cached', kind);
    for (const e of r.errors) assert.ok(CODES.has(e.code), `${kind}: ${e.code}`);
  }
});

test('RFC 8461 §3.3: the policy host\'s address question meets every fault — a fetch failure, the cache applies', { timeout: 120_000 }, async () => {
  for (const kind of FAULTS) {
    const resolver = resolverOf();
    assert.equal((await resolver.resolve(DOMAIN)).status, 'found');
    // A new TXT id (the lab rotates nothing; a fresh resolver sees the same id): force the fetch.
    fault = { name: `mta-sts.${DOMAIN}`, types: ADDRESSES, kind };
    const cold = await resolverOf().resolve(DOMAIN);
    const warm = await resolver.resolve(DOMAIN, { refresh: true });
    fault = null;
    if (MEANS[kind] === 'data') {
      // The address is 127.0.0.1 / ::1, the policy host's: the fetch works.
      assert.equal(cold.status, 'found', kind);
      continue;
    }
    assert.notEqual(cold.status, 'found', `${kind}: no policy was fetched`);
    assert.ok(cold.errors.length > 0 && cold.errors.every((e) => CODES.has(e.code)), `${kind}: ${JSON.stringify(cold.errors)}`);
    assert.ok(cold.errors.some((e) => e.tlsrpt === 'sts-policy-fetch-error'), `${kind}: reported as a fetch error (RFC 8460 §4.3.2.2)`);
    assert.equal(warm.status, 'cached', `${kind}: the refresh failed and the cached policy applies`);
    assert.equal(warm.policy.mode, 'enforce', kind);
  }
});

/**
 * The outcome class of a delivery for an MX-question fault: 'ok', 'temporary' or 'refused'.
 * no-data: "no MX" for the cname loop → the implicit MX, the domain itself (RFC 5321 §5.1), which
 * the enforce policy does not list → mx-not-in-policy, temporary (RFC 8461 §5: not delivered, the
 * sender retries); NXDOMAIN with a stray record → the domain does not exist: refused for good.
 */
function expected(kind) {
  const m = MEANS[kind];
  if (m === 'temporary') return 'temporary';
  if (m === 'data') return 'ok';
  return kind === 'cname-loop' ? 'temporary' : 'refused';
}

const connectOptions = (resolver) => ({
  heloName: 'sender.lab.test', resolver, ca: w.lab.caPem, smtpPort: w.mx.port, allowPrivate: true, // the lab is on loopback
  timeouts: { connect: 2000, reply: 2000, tls: 2000 }, limits: { deadline: 15_000 },
});

for (const [where, name, types] of [['mx', DOMAIN, MX], ['address', `mx1.${DOMAIN}|mx2.${DOMAIN}`, ADDRESSES]]) {
  test(`connectMx: the ${where === 'mx' ? 'MX' : 'MX hosts\' address'} question meets every fault — a named outcome, temporary when DNS failed`, { timeout: 180_000 }, async () => {
    const rows = [];
    for (const kind of FAULTS) {
      const resolver = resolverOf();
      await resolver.resolve(DOMAIN); // the policy is cached: enforce applies throughout
      const names = name.split('|');
      const setFault = (n) => (fault = { name: n, types, kind });
      // Both MX hosts' addresses fail: the fault answers one name, so the test asks twice.
      let outcome;
      for (const n of names) {
        setFault(n);
        const { value, err, ms } = await timed(() => connectMx(DOMAIN, connectOptions(resolver)));
        fault = null;
        value?.socket.destroy();
        outcome = { value, err, ms, n };
        if (err) break; // one name is enough to see the failure; the other MX may still work
      }
      const { value, err, ms, n } = outcome;
      rows.push(`${kind}@${n}: ${err ? `${err.code}${err.temporary ? ' (temporary)' : ''}` : `ok via ${value.mx.host}`} ${ms} ms`);
      const want = where === 'mx' ? expected(kind) : MEANS[kind] === 'data' ? 'ok' : 'temporary';
      if (where === 'address' && want !== 'ok') {
        // One MX host without addresses: the other one takes the delivery (RFC 5321 §5.1).
        assert.equal(err, undefined, `${kind}: the other MX host is tried (${err?.code})`);
        assert.notEqual(value.mx.host, n, kind);
        continue;
      }
      if (want === 'ok') {
        assert.equal(err, undefined, `${kind}: ${err?.code} ${err?.message}`);
        assert.equal(value.tls !== null, true, `${kind}: STARTTLS under enforce`);
        continue;
      }
      assert.ok(err instanceof MtaStsError, `${kind}: an MtaStsError (${err})`);
      assert.ok(CODES.has(err.code), `${kind}: ${err.code} is catalogued`);
      assert.equal(err.temporary, want === 'temporary', `${kind}: ${err.code} temporary=${err.temporary}`);
      assert.equal(Math.floor(err.reply.code / 100), want === 'temporary' ? 4 : 5, `${kind}: ${JSON.stringify(err.reply)}`);
    }
    console.log(`# connectMx, ${where} faults: ${rows.join('; ')}`);
  });
}

test('the relay: a DNS fault at each question of a delivery (a cached policy for the TXT one) gives its client the RFC outcome, never a false 250', { timeout: 300_000 }, async () => {
  const rows = [];
  for (const [where, name, types] of [['txt', `_mta-sts.${DOMAIN}`, TXT], ['mx', DOMAIN, MX], ['address', `mx1.${DOMAIN}`, ADDRESSES]]) {
    for (const kind of FAULTS) {
      const resolver = resolverOf();
      // txt: the policy is cached first, so the relay shows that it keeps applying (RFC 8461 §5.1).
      if (where === 'txt') assert.equal((await resolver.resolve(DOMAIN)).status, 'found');
      const r = await w.startTestRelay({ store: 'memory', timeouts: TIMEOUTS }, { resolver });
      const before = w.mx.messages.length;
      try {
        fault = { name, types, kind };
        const { value, ms } = await timed(() => w.send(r, { to: [`user@${DOMAIN}`] }));
        fault = null;
        const { info, err } = value;
        const code = err?.responseCode ?? Number(info?.response?.slice(0, 3));
        const taken = w.mx.messages.length - before;
        rows.push(`${where}/${kind}: ${code} ${ms} ms`);
        if (code >= 200 && code < 300) assert.equal(taken, 1, `${where}/${kind}: 250 to the client, and the MX has the message`);
        else assert.equal(taken, 0, `${where}/${kind}: ${code}, and the MX kept nothing`);
        // txt: delivered under the cached enforce policy; mx: as connectMx; address: the other MX host.
        if (where === 'txt') {
          const log = r.logs.find((l) => l.event === 'delivery');
          assert.equal(log?.mode, 'enforce', `${where}/${kind}: the cached enforce policy applied (${JSON.stringify(log)})`);
          assert.equal(log?.verified, true, `${where}/${kind}: a verified certificate`);
        }
        const want = where === 'txt' || where === 'address' ? 'ok' : expected(kind);
        const klass = { ok: 2, temporary: 4, refused: 5 }[want];
        assert.equal(Math.floor(code / 100), klass, `${where}/${kind}: ${err?.response ?? info?.response}`);
      } finally {
        fault = null;
        await r.relay.close();
      }
    }
  }
  console.log(`# relay: ${rows.join('; ')}`);
});

test('SNI on MX connections (RFC 8461 §4.2, RFC 6066 §3): the server name asked for is the MX host the DNS gave', { timeout: 60_000 }, async () => {
  // connectMx: the verified socket carries a message, so the scripted MX records its session's SNI.
  const resolver = resolverOf();
  const c = await connectMx(DOMAIN, connectOptions(resolver));
  const before = w.mx.messages.length;
  c.socket.resume();
  // The scripted MX reads line by line, so the dialogue may go in one write.
  c.socket.write(`EHLO sender.lab.test\r\nMAIL FROM:<a@sender.lab.test>\r\nRCPT TO:<sni@${DOMAIN}>\r\nDATA\r\nSubject: sni\r\n\r\nhello\r\n.\r\nQUIT\r\n`);
  await w.mx.waitFor(() => w.mx.messages.length > before);
  const m = w.mx.messages.at(-1);
  assert.equal(m.secure, true);
  assert.equal(m.servername, c.mx.host, 'connectMx: SNI is the MX host dialled');
  assert.match(m.servername, /^mx[12]\.enforce-valid\.test$/);
  c.socket.destroy();

  // The relay, to each MX host in turn (mx1's addresses fail, so mx2 is dialled): SNI follows.
  for (const down of [null, `mx1.${DOMAIN}`]) {
    const r = await w.startTestRelay({ store: 'memory', timeouts: TIMEOUTS }, { resolver: resolverOf() });
    try {
      fault = down ? { name: down, types: ADDRESSES, kind: 'silence' } : null;
      const n = w.mx.messages.length;
      const { err } = await w.send(r, { to: [`sni-relay@${DOMAIN}`] });
      fault = null;
      assert.equal(err, undefined, String(err));
      const got = w.mx.messages.slice(n);
      assert.equal(got.length, 1);
      assert.equal(got[0].servername, down ? `mx2.${DOMAIN}` : `mx1.${DOMAIN}`, `the relay: SNI of ${down ? 'the second' : 'the first'} MX`);
      const log = r.logs.find((l) => l.event === 'delivery');
      assert.equal(log.mx, got[0].servername, 'the logged MX is the one whose name was sent');
    } finally {
      fault = null;
      await r.relay.close();
    }
  }
});
