// The lab: a whole MTA-STS world on loopback — an embedded DNS server authoritative for `test.`, one
// HTTPS policy host for every `mta-sts.<domain>`, a lab CA made at start, and the scenario catalogue
// (scenarios.js) that drives them. Used by tests, benchmarks and `mtasts demo`.
//
//   const lab = await startLab();                 // 127.0.0.1, ephemeral ports
//   resolver.setServers([lab.dns.server]);        // '127.0.0.1:PORT'
//   https.get({ ..., port: lab.policyPort, ca: lab.caPem, servername: 'mta-sts.enforce-valid.test' })
//   await lab.stop();                             // nothing left behind: no socket, timer or process
//
// The lab object:
//   host, dns { host, port, server }, policyPort, caPem, caCertDer, untrustedCaPem
//   scenarios                      the catalogue (scenarios.js), unchanged by rotate/update
//   requests { domain: n }         HTTPS requests per policy domain; queries { 'name TYPE': n } DNS questions
//   state(name)                    a scenario as it stands now (after rotate/update)
//   rotate(name) → { id, mode }    id-rotated: next id and next policy
//   update(name, patch), reset(name)   change a scenario at run time (txt, txtName, dnsFault, policy, mx, extraTxt)
//   certFor(hostname), issueCert({ names, notBefore?, notAfter?, ca?: 'lab'|'untrusted'|'self' })
//                                  → { names, certPem, keyPem, chainPem, certDer, notBefore, notAfter }
//   zone(), dnsmasqArgs({ port, pidFile? }), unboundConf({ port, pidFile? })
//   startDnsmasq({ port? }), startUnbound({ port? }) → { pid, host, port, server, stop() }
//   stop()                         closes everything, peers included
//
// Also exported: startLabMx(lab, { behaviours }) (mx.js: an SMTP MX for every lab MX name, certificate
// by SNI), startPostfixMx / startPostfixSender (postfix.js), startExim (exim.js).
//
// Standard ports: `startLab({ standardPorts: true })` listens on 53 (DNS, UDP+TCP) and 443 (HTTPS), so
// unmodified peers that cannot be told a port (mailauth, a stock resolver) see the lab. Binding those
// ports needs root and a network of one's own: run it inside a private network namespace, where
// loopback is the only interface and must be brought up first:
//   unshare -n sh -c 'ip link set lo up; node script.mjs'
// and give the peer the lab CA (e.g. NODE_EXTRA_CA_CERTS=<file with lab.caPem>) and the resolver
// 127.0.0.1. Never use it outside such a namespace: port 53/443 of the host belong to the host.

import net from 'node:net';
import { scenarios, scenarioNamed } from './scenarios.js';
import { buildZone, normalise } from './zone.js';
import { startDnsServer } from './dns-server.js';
import { startPolicyHost, secureContext } from './policy-host.js';
import { createAuthority, issueCertificate } from './pki.js';
import { dnsmasqArgs, startDnsmasq } from './dnsmasq.js';
import { unboundConf, startUnbound } from './unbound.js';
import { serverString } from './peer-process.js';

export { scenarios, scenarioNamed, policyText } from './scenarios.js';
// Real Postfix instances as MX (several behaviours, one per port) and as a sending MTA (postfix.js).
export { startPostfixMx, startPostfixSender, postfixAvailable } from './postfix.js';
export { startLabMx } from './mx.js';
// Exim as the local MTA in front of the relay (exim.js).
export { startExim, eximConfig, eximRelayRecipe, eximMissing } from './exim.js';
// A world of many domains for surveys and benchmarks (world.js).
export { startWorld, generateWorld, KINDS as WORLD_KINDS } from './world.js';

const STANDARD_DNS_PORT = 53;
const STANDARD_HTTPS_PORT = 443;
const DEFAULT_CERT_NAME = 'lab.test'; // served to a client that sends no (or an unknown) SNI name
const MUTABLE = ['txt', 'txtName', 'dnsFault', 'policy', 'mx', 'extraTxt'];

// Spec (project rule): the lab only ever listens on loopback.
function checkLoopback(host) {
  const ok = (net.isIPv4(host) && host.startsWith('127.')) || host === '::1';
  if (!ok) throw new Error(`the lab listens on loopback only (127.0.0.0/8 or ::1), not ${JSON.stringify(host)}`);
}

function initialState(s) {
  return { ...s, rotation: 0, id: s.txt[0]?.join('').match(/id=([^;\s]*)/)?.[1] ?? null };
}

export async function startLab({ host = '127.0.0.1', dnsPort = 0, httpsPort = 0, standardPorts = false } = {}) {
  checkLoopback(host);
  if (standardPorts) {
    dnsPort = STANDARD_DNS_PORT;
    httpsPort = STANDARD_HTTPS_PORT;
  }

  const states = new Map(scenarios.map((s) => [s.name, initialState(s)]));
  const byDomain = (domain) => [...states.values()].find((s) => s.domain === normalise(domain));
  let zone = null;
  const currentZone = () => (zone ??= buildZone([...states.values()], { policyAddress: host }));
  const changed = () => {
    zone = null;
  };

  const labCa = createAuthority('mtasts lab CA');
  const untrustedCa = createAuthority('mtasts untrusted CA');
  const authorities = { lab: labCa, untrusted: untrustedCa };
  const certs = new Map(); // "ca|name,name" → issued certificate
  const contexts = new Map();
  const certificate = ({ ca = 'lab', names }) => {
    const key = `${ca}|${names.join(',')}`;
    if (!certs.has(key)) certs.set(key, issueCertificate(authorities[ca], { names }));
    return certs.get(key);
  };
  const policyCertSpec = (s) => ({ ca: s.policy?.cert?.ca ?? 'lab', names: s.policy?.cert?.names ?? [`mta-sts.${s.domain}`] });

  const requests = Object.fromEntries(scenarios.map((s) => [s.domain, 0]));
  const queries = {};

  const dns = await startDnsWithRetry({
    host,
    port: dnsPort,
    getZone: currentZone,
    onQuery: (name, type) => {
      const key = `${normalise(name)} ${type}`;
      queries[key] = (queries[key] ?? 0) + 1;
    },
  });
  let policyHost;
  try {
    policyHost = await startPolicyHost({
      host,
      port: httpsPort,
      defaultCert: certificate({ names: [DEFAULT_CERT_NAME] }),
      policyFor: (domain) => byDomain(domain)?.policy ?? null,
      contextFor: (servername) => {
        const s = servername.startsWith('mta-sts.') && byDomain(servername.slice('mta-sts.'.length));
        if (!s || !s.policy) return null;
        const cert = certificate(policyCertSpec(s));
        if (!contexts.has(cert)) contexts.set(cert, secureContext(cert));
        return contexts.get(cert);
      },
      onRequest: (domain) => {
        const d = normalise(domain);
        requests[d] = (requests[d] ?? 0) + 1;
      },
    });
  } catch (err) {
    await dns.close();
    throw err;
  }

  const peers = new Set();
  const probe = () => {
    const [name] = [...currentZone().names].find(([, rr]) => rr.A.length) ?? [];
    return { name, type: 'A' };
  };
  const track = async (started) => {
    const peer = await started;
    peers.add(peer);
    const stop = peer.stop;
    return { ...peer, stop: async () => (peers.delete(peer), stop()) };
  };
  const stateOf = (name) => {
    const s = states.get(name);
    if (!s) throw new Error(`no scenario named ${JSON.stringify(name)} in the lab`);
    return s;
  };

  let stopped = null;
  const lab = {
    host,
    dns: { host, port: dns.port, server: serverString(host, dns.port) },
    policyPort: policyHost.port,
    caPem: labCa.certPem,
    caCertDer: labCa.certDer,
    untrustedCaPem: untrustedCa.certPem,
    scenarios,
    requests,
    queries,

    /** The current state of a scenario: its catalogue entry with any rotation or update applied. */
    state: (name) => ({ ...stateOf(name) }),

    /** The zone as it stands ({ names, faults }, see zone.js). */
    zone: () => currentZone(),

    /** id-rotated: publish the next id and the next policy. Returns { id, mode }. */
    rotate(name) {
      const s = stateOf(name);
      if (!s.rotations) throw new Error(`scenario ${name} has no rotations`);
      s.rotation += 1;
      const next = s.rotations[s.rotation % s.rotations.length];
      s.id = `rot${s.rotation + 1}`;
      s.txt = [[`v=STSv1; id=${s.id}`]];
      s.policy = next.policy;
      changed();
      return { id: s.id, mode: next.mode };
    },

    /** Changes a scenario at run time ({ txt, txtName, dnsFault, policy, mx, extraTxt }). */
    update(name, patch) {
      const s = stateOf(name);
      for (const key of Object.keys(patch)) {
        if (!MUTABLE.includes(key)) throw new Error(`lab.update: ${key} cannot be changed (one of ${MUTABLE.join(', ')})`);
      }
      Object.assign(s, patch);
      changed();
      return { ...s };
    },

    /** Puts a scenario back as the catalogue has it. */
    reset(name) {
      states.set(name, initialState(scenarioNamed(name) ?? stateOf(name)));
      changed();
    },

    /** The lab-CA certificate for `hostname` (what the policy host serves for mta-sts.<domain>). */
    certFor(hostname) {
      const h = normalise(hostname);
      const s = h.startsWith('mta-sts.') && byDomain(h.slice('mta-sts.'.length));
      return s && s.policy ? certificate(policyCertSpec(s)) : certificate({ names: [h] });
    },

    /** A new certificate: { names, notBefore?, notAfter?, ca: 'lab'|'untrusted'|'self' (self-signed) }. */
    issueCert({ names, notBefore, notAfter, ca = 'lab' }) {
      if (ca === 'self') return issueCertificate(null, { names, notBefore, notAfter });
      if (!authorities[ca]) throw new Error(`lab.issueCert: ca must be 'lab', 'untrusted' or 'self', not ${JSON.stringify(ca)}`);
      return issueCertificate(authorities[ca], { names, notBefore, notAfter });
    },

    /** Arguments for real dnsmasq serving this zone (see dnsmasq.js). */
    dnsmasqArgs: ({ port, pidFile, host: h = host } = {}) =>
      dnsmasqArgs(currentZone(), { host: h, port, pidFile, faultServer: lab.dns }),

    /** unbound.conf text for this zone (see unbound.js). */
    unboundConf: ({ port, pidFile, host: h = host } = {}) => unboundConf(currentZone(), { host: h, port, pidFile }),

    /** Runs dnsmasq over the zone as it is now; stopped by lab.stop(). → { pid, port, server, stop() } */
    startDnsmasq: ({ port } = {}) => track(startDnsmasq(currentZone(), { host, port, faultServer: lab.dns, probe: probe() })),

    /** Runs unbound over the zone as it is now; stopped by lab.stop(). → { pid, port, server, stop() } */
    startUnbound: ({ port } = {}) => track(startUnbound(currentZone(), { host, port, probe: probe() })),

    stop() {
      stopped ??= (async () => {
        await Promise.all([...peers].map((p) => p.stop()));
        peers.clear();
        await Promise.all([dns.close(), policyHost.close()]);
        // A closed handle leaves Node's list of active resources only after the close callbacks
        // phase: two turns of the loop, so a caller checking for leaks right after stop() sees none.
        for (let turn = 0; turn < 2; turn++) await new Promise((r) => setImmediate(r));
      })();
      return stopped;
    },
  };
  return lab;
}

// With an ephemeral port, UDP picks the number and TCP may find it taken: try another.
async function startDnsWithRetry(options) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await startDnsServer(options);
    } catch (err) {
      if (err.code !== 'EADDRINUSE' || options.port !== 0 || attempt >= 10) throw err;
    }
  }
}
