// What `mtasts check` finds out about one domain, as one plain object (the `--json` output): the
// `_mta-sts` TXT record, the policy fetch, the policy, the domain's MX hosts and whether each matches,
// and (when asked) what each MX host shows on a STARTTLS probe and the verdict the policy implies.
//
// Host-agnostic: the DNS, HTTPS and probe hosts are parameters, so the same assembly runs in Node
// (`mtasts check`, js/cli/check-domain.js passes the Node hosts) and in the checker page (js/browser/
// passes DNS over HTTPS and the helpers of `mtasts serve`). The caller loads the core first.
//
// The verdict on the policy is the PolicyResolver's (so the core's): this file watches the DNS and
// HTTPS steps the resolver takes, to show them to a person, and adds what the resolver does not look
// at: the MX hosts (RFC 8461 §4.1) and a record left at the draft-era name `_mta_sts`. The probe of
// each MX is the injected `probeMx` (Node: js/node/probe-mx.js, the core's Delivery machine in probe
// mode; page: js/check/probe-replay.js, the same machine fed the server's transcript), and the
// verdict on it the core's, exactly as connectMx would decide it for a delivery.

import { selectRecord, lintRecord, lintPolicy, matchMx, selectTlsRptRecord, lintTlsRptRecord, normalizeDomain } from '../core.js';
import { PolicyResolver } from '../policy-resolver.js';
import { issuerName, leafForDisplay } from './x509-display.js';

/** MX hosts probed at the same time (each host's addresses one after the other). */
const PROBE_CONCURRENCY = 4;
/** A certificate that expires sooner than this is pointed out. */
export const EXPIRY_WARNING_DAYS = 14;

/**
 * @param {string} domain
 * @param {object} hosts
 * @param {object} hosts.dns the Node DNS host (resolveTxt, resolveMx)
 * @param {object} hosts.https the Node HTTPS host (get)
 * @param {object} hosts.store a policy store
 * @param {() => number} [hosts.now] clock in milliseconds
 * @param {false | { heloName: string, port?: number, timeouts?: object, roots?: Array }} [hosts.probe]
 *   probe every MX host with these probeMx options (default false: no SMTP connection is made)
 * @param {(host: string, options: object) => Promise<object>} [hosts.probeMx] the probe host
 *   (required when `probe` is set): probeMx's signature and result (js/node/probe-mx.js)
 * @returns {Promise<object>} the report (README: `mtasts check`, JSON schema)
 */
export async function checkDomain(domain, { dns, https, store, now, probe = false, probeMx }) {
  const name = normalizeDomain(domain);
  const seen = { txt: null, url: null, fetch: null };
  const watched = {
    dns: { ...dns, resolveTxt: async (n) => (seen.txt = await dns.resolveTxt(n)) },
    https: {
      get: async (url) => {
        seen.url = url;
        return (seen.fetch = await https.get(url));
      },
    },
  };
  // Spec: a person checking a domain wants today's record, so the TXT record is always asked
  // (recheckAfter 0); a cached policy is still reused when its id is unchanged (RFC 8461 §3.3).
  const resolver = new PolicyResolver({ ...watched, store, recheckAfter: 0, ...(now ? { now } : {}) });
  const tlsrptName = `_smtp._tls.${name}`;
  const [result, mxAnswer, tlsrptAnswer] = await Promise.all([resolver.resolve(name), dns.resolveMx(name), dns.resolveTxt(tlsrptName)]);

  const txtName = `_mta-sts.${name}`;
  const record = recordReport(txtName, seen.txt ?? (await dns.resolveTxt(txtName)));
  const notes = [];
  if (record.status === 'none') await lookForDraftName(name, dns, record, notes);

  const policy = policyReport(name, result, seen, new Date(now ? now() : Date.now()));
  const pc = policy.certificate;
  if (pc?.ok && pc.daysLeft !== null && pc.daysLeft >= 0 && pc.daysLeft < EXPIRY_WARNING_DAYS) {
    notes.push(`the certificate of mta-sts.${name} expires in ${plural(pc.daysLeft, 'day')} (${pc.notAfter})`);
  }
  const mx = mxReport(name, mxAnswer, result.policy);
  if (mx.lookup.status === 'nxdomain') await existenceReport(name, dns, mx, notes);
  if (probe) await probeReport(name, mx, mxAnswer, result.policy, { options: probe, probeMx, dns, now, notes, policyId: result.id });
  else for (const h of mx.hosts) Object.assign(h, { probe: null, verdict: null });
  const errors = [...result.errors.map(errorOf), ...mx.errors];

  if (policy.mode === 'none') {
    notes.push('mode none: senders treat the domain as having no policy (RFC 8461 §5); the policy itself is valid');
  } else if (policy.mode === 'testing') {
    notes.push('mode testing: senders deliver even when MX checks fail, and report the failures (RFC 8461 §5)');
  }
  if (result.status === 'cached' && result.errors.length > 0) {
    notes.push(`the cached policy keeps applying until ${iso(result.expiresAt)} (RFC 8461 §5.1, §10.2)`);
  }
  if (mx.lookup.status === 'implicit') {
    notes.push(`no MX record: mail goes to ${name} itself, the implicit MX (RFC 5321 §5.1)`);
  }

  // Exit status 0 needs a valid policy, no error, and every MX matching (and, when probed, passing
  // the probe); in mode none the policy is valid but not applied (RFC 8461 §5), so neither counts.
  const hasPolicy = result.status === 'found' || result.status === 'cached';
  const mxOk = mx.hosts.length > 0 && (policy.mode === 'none' || mx.hosts.every((h) => h.matchesPolicy));
  const ok = hasPolicy && errors.length === 0 && mxOk;
  const tlsrpt = tlsrptReport(tlsrptName, tlsrptAnswer);
  return { domain: name, ok, record, policy, mx: mx.hosts, mxLookup: mx.lookup, tlsrpt, errors, notes };
}

// RFC 8460 §3: the TLS-RPT record at _smtp._tls.<domain>, selected as senders do (records not
// starting with v=TLSRPTv1 ignored; anything but one valid record means: send no report). Shown,
// not counted in `ok`: TLS-RPT is optional, and MTA-STS works without it.
function tlsrptReport(name, answer) {
  const base = { name, status: 'none', rua: [], raw: [], detail: null, diagnostics: [] };
  if (!answer.ok) return { ...base, status: answer.kind === 'none' ? 'none' : 'temperror', detail: answer.detail ?? null };
  const raw = answer.records.map((strings) => [...strings]);
  const diagnostics = raw
    .map((strings) => strings.join(''))
    .filter((text) => /^v=tlsrptv1/i.test(text))
    .flatMap((text) => lintTlsRptRecord(text, name).diagnostics);
  try {
    const selected = selectTlsRptRecord(raw);
    return selected ? { ...base, status: 'found', rua: [...selected.rua], raw, diagnostics } : { ...base, raw };
  } catch (err) {
    if (err?.code === 'tlsrpt-record-multiple') return { ...base, status: 'multiple', raw, diagnostics };
    if (err?.code === 'tlsrpt-record-invalid') return { ...base, status: 'invalid', raw, diagnostics };
    throw err;
  }
}

// RFC 8461 §3.1: the TXT record at _mta-sts.<domain>; records not starting with v=STSv1 are
// ignored, and anything but exactly one valid record means no policy.
function recordReport(name, answer) {
  if (!answer.ok) {
    const status = answer.kind === 'none' ? 'none' : 'temperror';
    return { name, status, id: null, raw: [], detail: answer.detail ?? null, diagnostics: [] };
  }
  const raw = answer.records.map((strings) => [...strings]);
  try {
    const selected = selectRecord(raw);
    if (!selected) return { name, status: 'none', id: null, raw, detail: null, diagnostics: [] };
    return { name, status: 'found', id: selected.id, raw, detail: null, diagnostics: stsRecordDiagnostics(name, raw) };
  } catch (err) {
    if (err?.code === 'record-multiple') return { name, status: 'multiple', id: null, raw, detail: null, diagnostics: [] };
    if (err?.code === 'record-invalid') return { name, status: 'invalid', id: null, raw, detail: null, diagnostics: stsRecordDiagnostics(name, raw) };
    throw err;
  }
}

/** lintRecord's diagnostics for every record that looks like an MTA-STS record. */
function stsRecordDiagnostics(name, raw) {
  return raw
    .map((strings) => strings.join(''))
    .filter((text) => /^v=stsv1/i.test(text))
    .flatMap((text) => lintRecord(text, name).diagnostics);
}

// Interop: the research system this project descends from looked up `_mta_sts` (underscore), a name
// from drafts of RFC 8461. A record found there is shown with lintRecord's explanation.
async function lookForDraftName(name, dns, record, notes) {
  const draftName = `_mta_sts.${name}`;
  const answer = await dns.resolveTxt(draftName);
  if (!answer.ok) return;
  const texts = answer.records.map((s) => s.join('')).filter((t) => /^v=stsv1/i.test(t));
  if (texts.length === 0) return;
  record.draft = { name: draftName, raw: answer.records.map((s) => [...s]) };
  record.diagnostics = texts.flatMap((t) => lintRecord(t, draftName).diagnostics);
  notes.push(`an MTA-STS record is published at ${draftName}, a draft-era name; RFC 8461 §3.1 uses _mta-sts.${name}`);
}

function policyReport(name, result, seen, at) {
  const p = result.policy;
  let fetch = null;
  let diagnostics = [];
  if (seen.fetch) {
    const f = seen.fetch;
    fetch = f.ok
      ? { answered: true, httpStatus: f.status, contentType: f.contentType, location: f.location, bytes: f.body.length }
      : { answered: false, kind: f.kind, detail: f.detail, message: f.message };
    // RFC 8461 §3.2: show every problem of a body that was served as a policy, not only the first.
    if (f.ok && f.status === 200) diagnostics = lintPolicy(f.body).diagnostics;
  }
  return {
    status: result.status,
    mode: p?.mode ?? null,
    id: result.id ?? null,
    maxAge: p?.maxAge ?? null,
    mx: p ? [...p.mx] : [],
    fetchedAt: iso(result.fetchedAt),
    expiresAt: iso(result.expiresAt),
    source: result.source ?? null,
    url: seen.url ?? `https://mta-sts.${name}/.well-known/mta-sts.txt`,
    fetch,
    certificate: policyCertificate(seen.fetch, at),
    diagnostics,
  };
}

// The domain's MX lookup said NXDOMAIN: its own address is asked too, and its parent. A parent that
// does not exist either (one label up, the top level included) means every name asked came back
// NXDOMAIN: the DNS server (or a --dns-server given) looks broken, or the name is mistyped.
async function existenceReport(name, dns, mx, notes) {
  const nx = (a) => !a.ok && a.kind === 'none' && a.detail === 'ENOTFOUND';
  const address = typeof dns.resolveAddresses === 'function' ? await dns.resolveAddresses(name) : null;
  if (address && !nx(address)) {
    // Interop: a server that denies the name for MX but answers for A contradicts itself.
    notes.push(`the DNS answers NXDOMAIN for the MX of ${name} but not for its address: the name server contradicts itself`);
    return;
  }
  const labels = name.split('.');
  if (labels.length < 2) return;
  const parent = labels.slice(1).join('.');
  if (nx(await dns.resolveMx(parent))) {
    mx.lookup.dnsBroken = true;
    notes.push(`every name asked came back NXDOMAIN, even ${name}'s parent ${parent}: the DNS server looks broken (or the name is mistyped)`);
  }
}

// RFC 8461 §3.3: the policy host's certificate must chain to a trusted root and be valid for
// mta-sts.<domain>. The verdict is the HTTPS host's (Node's TLS, which refused the fetch when it
// failed; the page's helper is the same host); the fields shown are read from the leaf here, so
// the CLI and the page show the same. Null when no handshake completed (or the policy was cached).
function policyCertificate(f, at) {
  const c = f?.certificate;
  if (!c || !Array.isArray(c.chain) || c.chain.length === 0) return null;
  const leaf = c.chain[0];
  const trusted = c.trusted === true;
  return { ok: trusted, code: trusted ? null : f.detail ?? null, message: trusted ? null : f.message ?? null, ...leafForDisplay(leaf, at), issuer: issuerName(leaf) };
}

// The MX hosts mail for the domain goes to, and RFC 8461 §4.1 matching against the policy.
function mxReport(name, answer, policy) {
  const errors = [];
  let hosts = [];
  let lookup;
  if (answer.ok) {
    const records = answer.records.slice().sort((a, b) => a.priority - b.priority || a.exchange.localeCompare(b.exchange));
    // RFC 7505: a single MX of "." (the root) says the domain accepts no mail.
    if (records.length === 1 && (records[0].exchange === '' || records[0].exchange === '.')) {
      lookup = { status: 'null', message: 'null MX (RFC 7505): the domain accepts no mail' };
      errors.push({ code: 'mx-null', message: `${name} publishes a null MX (RFC 7505): it accepts no mail, so there is nothing to protect`, tlsrpt: null, rfc: 'RFC 7505 §3' });
    } else {
      lookup = { status: 'found', message: null };
      hosts = records.map((r) => ({ host: r.exchange.toLowerCase(), priority: r.priority, implicit: false }));
    }
  } else if (answer.kind === 'none' && answer.detail === 'ENOTFOUND') {
    // RFC 5321 §5.1: NXDOMAIN: the domain does not exist, so there is no MX, implicit or not
    // (existenceReport says whether the DNS server itself looks broken).
    lookup = { status: 'nxdomain', message: `${name} does not exist (NXDOMAIN)` };
    errors.push({ code: 'domain-not-found', message: `${name} does not exist: the DNS answers NXDOMAIN for it, so no mail can be delivered there`, tlsrpt: null, rfc: 'RFC 5321 §5.1' });
  } else if (answer.kind === 'none') {
    // RFC 5321 §5.1: with no MX record, the domain itself is the implicit MX.
    lookup = { status: 'implicit', message: null };
    hosts = [{ host: name, priority: 0, implicit: true }];
  } else {
    lookup = { status: 'temperror', message: answer.message ?? answer.detail };
    errors.push({ code: 'mx-dns-temporary', message: `MX lookup of ${name} failed temporarily (${answer.detail})`, tlsrpt: null, rfc: 'RFC 5321 §5.1' });
  }

  for (const h of hosts) {
    h.matchesPolicy = policy ? matches(policy, h.host) : null;
    h.matchedBy = policy && h.matchesPolicy ? policy.mx.find((pattern) => matches([pattern], h.host)) ?? null : null;
    // RFC 8461 §5: in mode none the policy is not applied, so a mismatch has no consequence.
    if (h.matchesPolicy === false && policy.mode !== 'none') {
      errors.push({
        code: 'mx-not-in-policy',
        message: `MX host ${h.host} matches no mx pattern of the policy (${policy.mx.join(', ')})`,
        tlsrpt: 'validation-failure',
        rfc: 'RFC 8461 §4.1',
      });
    }
  }
  return { hosts, lookup, errors };
}

// What each MX host shows a sender (probeMx: the core's Delivery machine in probe mode), and the
// verdict the policy implies for it (RFC 8461 §4.1, §4.2, §5), decided by the core exactly as for
// a delivery. Under enforce or testing, a matching MX host whose probe fails is an error.
async function probeReport(name, mx, mxAnswer, policy, { options, probeMx, dns, now, notes, policyId }) {
  if (typeof probeMx !== 'function') throw new TypeError('checkDomain: probe needs a probeMx host');
  const mode = policy?.mode ?? null;
  const probes = await bounded(mx.hosts, PROBE_CONCURRENCY, (h) => probeMx(h.host, { ...options, dns, now, domain: name, policy: policy ?? null, policyId: policyId ?? null }));
  mx.hosts.forEach((h, i) => {
    const { host: _host, verdict, ...shown } = probes[i];
    h.probe = { ...shown, addresses: shown.addresses.map(({ verdict: _v, ...a }) => a) };
    h.verdict = verdict;

    const c = h.probe.certificate;
    if (c?.daysLeft !== null && c?.daysLeft !== undefined && c.daysLeft >= 0 && c.daysLeft < EXPIRY_WARNING_DAYS) {
      notes.push(`the certificate of ${h.host} expires in ${plural(c.daysLeft, 'day')} (${c.notAfter})`);
    }
    // RFC 8461 §5: under enforce a failing MX is not delivered to; under testing the failure is
    // reported. Either way the operator has something to fix. A host outside the policy is already
    // an error (mx-not-in-policy); in mode none, or without a policy, nothing is enforced.
    const f = h.verdict?.failure;
    if (f && h.matchesPolicy && (mode === 'enforce' || mode === 'testing')) {
      const where = h.verdict.address ? ` (${h.verdict.address})` : '';
      mx.errors.push({ code: f.code, message: `MX host ${h.host}${where}: ${f.message}`, tlsrpt: f.tlsrpt ?? null, rfc: f.rfc || 'RFC 8461 §5', mx: h.host });
    }
  });
}

/** fn over items, at most `limit` at a time; results in the order of items. */
async function bounded(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function matches(patternsOrPolicy, host) {
  try {
    return matchMx(patternsOrPolicy, host);
  } catch {
    return false; // a host name that is not a valid domain matches no pattern
  }
}

/** The error shape of the JSON output: { code, message, tlsrpt, rfc }. */
function errorOf(e) {
  return { code: e.code, message: e.message, tlsrpt: e.tlsrpt ?? null, rfc: e.rfc ?? null };
}

function iso(date) {
  return date instanceof Date ? date.toISOString() : date ?? null;
}
