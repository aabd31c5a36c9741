// The public core API: the wasm exports, guarded so that a call before the module is initialised
// fails with a clear MtaStsError instead of "Cannot read properties of undefined".
//
// No MTA-STS logic lives here: every rule is in the Rust core (src/), so Node, the browser and
// `cargo test` give one verdict. One exception, for speed and held to the core's verdicts by the
// shared vectors and a differential test: matchChecked, string comparison of a host already in
// normal form against a parsed policy's patterns, which the core checked and lower-cased. The
// entries (js/node/index.js, js/browser/index.js) initialise the wasm module and then call
// markReady().

import * as wasm from '../wasm/mtasts.js';
import { MtaStsError } from './error.js';

let ready = false;
let memory = null;

/** Internal: called by an entry once the wasm module is instantiated, with its exports. */
export function markReady(exports) {
  memory = exports?.memory ?? null;
  ready = true;
}

// The fast lane (see src/wasm.rs): strings go in with encodeInto, layouts come back through a
// view of the module's memory. Views are remade when the memory grows (its buffer changes).
const encoder = new TextEncoder();
let bytes = null;
let words = null;
let input = null; // a view of the module's input buffer
let inputPtr = 0;

function views() {
  // Growing the memory detaches the old buffer, which leaves its views empty.
  if (bytes === null || bytes.length === 0) {
    bytes = new Uint8Array(memory.buffer);
    words = new Uint32Array(memory.buffer);
    input = null;
  }
}

/** A view of at least `need` bytes of the module's input buffer. */
function inputView(need) {
  views();
  if (input === null || input.length < need) {
    inputPtr = wasm.inputBuffer(Math.max(need, 1024));
    views();
    input = bytes.subarray(inputPtr, inputPtr + Math.max(need, 1024));
  }
  return input;
}

// Below this length an ASCII string is copied byte by byte: encodeInto's fixed cost per call is
// more than the loop for a host name (measured: most of the time of a matchMx call).
const SHORT_ASCII = 64;

/** Writes `text` as UTF-8 into the module's input buffer; returns the byte length. */
function writeInput(text) {
  const n = text.length;
  const view = inputView(n * 3); // ≤ 3 bytes per UTF-16 unit
  if (n <= SHORT_ASCII) {
    let i = 0;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) break;
      view[i] = c;
    }
    if (i === n) return n;
  }
  return encoder.encodeInto(text, view).written;
}

/** Copies bytes into the module's input buffer; returns their length. */
function writeInputBytes(data) {
  inputView(data.length).set(data);
  return data.length;
}

/** Internal: whether the wasm module is instantiated. */
export function isReady() {
  return ready;
}

function notInitialized() {
  return new MtaStsError('not-initialized', 'call init() and await it before using mtasts in a browser');
}

// Argument checks: a value of the wrong type gets MtaStsError `invalid-argument` naming the
// function, the argument and what was found, before it reaches the module (where a number for a
// string is a trap, not an error). Only types are checked here; every MTA-STS rule is the core's.

/** What a wrong argument is, for the message: `number`, `null`, `array`, `object`, ... */
function kind(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/**
 * Internal (also for the package's other entry points, e.g. resolvePolicy): the error for an
 * argument of the wrong type, `${fn}: ${expected}, found ${kind}`.
 */
export function invalidArgument(fn, expected, value) {
  return new MtaStsError('invalid-argument', `${fn}: ${expected}, found ${kind(value)}`);
}

function checkString(fn, name, value) {
  if (typeof value !== 'string') throw invalidArgument(fn, `${name} must be a string`, value);
}

/** Returns `value` (a string, or its bytes as a plain Uint8Array: see plainBytes). */
function checkText(fn, name, value) {
  if (typeof value === 'string') return value;
  if (!(value instanceof Uint8Array)) throw invalidArgument(fn, `${name} must be a string or a Uint8Array`, value);
  return plainBytes(value, () => invalidArgument(fn, `${name} must be a string or a Uint8Array`, value));
}

const typedLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'length').get;

/**
 * Internal: `bytes` as a Uint8Array whose `length` is its real length. The glue that copies bytes
 * into the module trusts `length`: an object that lies about it (an own property or a subclass
 * getter) would make the core read past the bytes, into whatever the module's memory held (and
 * allocate that much). Such an object is copied; anything that is no typed array at all (a Proxy
 * of one) gets `invalid()`.
 */
export function plainBytes(bytes, invalid = () => new MtaStsError('invalid-argument', 'expected a Uint8Array')) {
  let n;
  try {
    n = typedLength.call(bytes);
  } catch {
    throw invalid();
  }
  return bytes.length === n ? bytes : new Uint8Array(bytes);
}

function checkStrings(fn, name, list) {
  for (let i = 0; i < list.length; i++) {
    if (typeof list[i] !== 'string') throw invalidArgument(fn, `${name}[${i}] must be a string`, list[i]);
  }
}

/** The pattern list of `matchMx`'s first argument (an array, or a policy's `mx`), checked. */
function patternList(fn, patternsOrPolicy) {
  if (Array.isArray(patternsOrPolicy)) {
    checkStrings(fn, 'patternsOrPolicy', patternsOrPolicy);
    return patternsOrPolicy;
  }
  const list = typeof patternsOrPolicy === 'object' && patternsOrPolicy !== null ? patternsOrPolicy.mx : undefined;
  if (!Array.isArray(list)) {
    throw invalidArgument(fn, 'patternsOrPolicy must be an array of mx patterns or a policy with an mx array', patternsOrPolicy);
  }
  checkStrings(fn, 'patternsOrPolicy.mx', list);
  return list;
}

/**
 * Internal (for the entries' verifyCertificate): the types of its arguments. The chain and the
 * roots are further checked by the core.
 */
export function checkCertificateArguments(chain, host, options) {
  const fn = 'verifyCertificate';
  if (!Array.isArray(chain)) throw invalidArgument(fn, 'chain must be an array of DER Uint8Arrays', chain);
  for (let i = 0; i < chain.length; i++) {
    if (!(chain[i] instanceof Uint8Array)) throw invalidArgument(fn, `chain[${i}] must be a Uint8Array (DER)`, chain[i]);
  }
  checkString(fn, 'host', host);
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgument(fn, 'options must be an object', options);
  }
  const { now, roots, ring } = options;
  if (now !== undefined && !(now instanceof Date && !Number.isNaN(now.getTime())) && !Number.isFinite(now)) {
    throw invalidArgument(fn, 'options.now must be a valid Date or milliseconds since the epoch', now);
  }
  if (roots !== undefined) {
    const list = Array.isArray(roots) ? roots : [roots];
    for (let i = 0; i < list.length; i++) {
      if (typeof list[i] !== 'string' && !(list[i] instanceof Uint8Array)) {
        const name = Array.isArray(roots) ? `options.roots[${i}]` : 'options.roots';
        throw invalidArgument(fn, `${name} must be a PEM string or a DER Uint8Array`, list[i]);
      }
    }
  }
  if (ring !== undefined && typeof ring !== 'boolean') throw invalidArgument(fn, 'options.ring must be a boolean', ring);
}

export function parseRecord(txt) {
  if (!ready) throw notInitialized();
  checkString('parseRecord', 'txt', txt);
  return wasm.parseRecord(txt);
}

export function selectRecord(records) {
  if (!ready) throw notInitialized();
  if (!Array.isArray(records)) throw invalidArgument('selectRecord', 'records must be an array of TXT records (arrays of strings)', records);
  for (let i = 0; i < records.length; i++) {
    if (!Array.isArray(records[i])) throw invalidArgument('selectRecord', `records[${i}] must be an array of strings`, records[i]);
    checkStrings('selectRecord', `records[${i}]`, records[i]);
  }
  return wasm.selectRecord(records);
}

export function lintRecord(txt, name) {
  if (!ready) throw notInitialized();
  checkString('lintRecord', 'txt', txt);
  if (name !== undefined) checkString('lintRecord', 'name', name);
  return wasm.lintRecord(txt, name);
}

const MODES = ['enforce', 'testing', 'none'];
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true }); // keep a BOM: offsets count it
const UPPERCASE = 0x80000000; // LAYOUT_UPPERCASE in src/policy/parse.rs

/**
 * The policy object from the core's layout of `text` (see `parse_policy_layout` in
 * src/policy/parse.rs): mode, max_age, counts, then UTF-16 spans of the strings in `text`.
 */
function policyFromLayout(text, l, at = 0) {
  const count = l[at + 2];
  const end = at + 4 + 2 * count + 4 * l[at + 3];
  const mx = new Array(count);
  for (let i = 0; i < count; i++) {
    const stop = l[at + 5 + 2 * i];
    // RFC 8461 §4.1: the core flags a pattern written with capitals; patterns are ASCII, so
    // toLowerCase is the ASCII folding the core does.
    mx[i] = stop >= UPPERCASE ? text.slice(l[at + 4 + 2 * i], stop - UPPERCASE).toLowerCase() : text.slice(l[at + 4 + 2 * i], stop);
  }
  const extensions = {};
  for (let i = at + 4 + 2 * count; i < end; i += 4) extensions[text.slice(l[i], l[i + 1])] = text.slice(l[i + 2], l[i + 3]);
  return { version: 'STSv1', mode: MODES[l[at]], maxAge: l[at + 1], mx, extensions };
}

// A policy parsed here carries its patterns as the core validated them (RFC 8461 §3.2: each
// `["*."] Domain`, LDH labels) and lower-cased them (§4.1), so matchMx(policy, host) validates
// nothing again and needs no call into the module for an ordinary host (see matchChecked).
// The patterns are a private field stamped on the plain object (a base constructor that returns
// its argument): invisible to Object.keys, JSON and deepEqual, and cheaper than a WeakMap entry
// (measured: ~5 ns against ~150 ns per policy). They apply while `policy.mx` holds the same
// strings as the parse made (compared one by one); otherwise the patterns are validated as any
// list.
class Stamped {
  constructor(object) {
    return object;
  }
}

class CarriedPatterns extends Stamped {
  /** A copy of the parse's mx array: the patterns as the core checked them. */
  #checked;

  constructor(policy) {
    super(policy);
    this.#checked = policy.mx.slice();
  }

  /** The core's checked patterns of `policy` while its mx list holds them, or null. */
  static of(policy) {
    if (!(#checked in policy)) return null;
    const checked = policy.#checked;
    const list = policy.mx;
    if (!Array.isArray(list) || list.length !== checked.length) return null;
    for (let i = 0; i < list.length; i++) if (list[i] !== checked[i]) return null;
    return checked;
  }
}

/** The policy from the layout parsePolicyInput wrote at byte address `address`. */
function carriedPolicy(text, address) {
  views();
  const policy = policyFromLayout(text, words, address >>> 2);
  new CarriedPatterns(policy);
  return policy;
}

export function parsePolicy(text) {
  if (!ready) throw notInitialized();
  text = checkText('parsePolicy', 'text', text);
  if (typeof text === 'string') {
    if (memory !== null) {
      const address = wasm.parsePolicyInput(writeInput(text));
      if (address !== 0) return carriedPolicy(text, address);
    }
    return policyFromLayout(text, wasm.parsePolicyLayout(text)); // throws the core's error
  }
  if (memory !== null) {
    const address = wasm.parsePolicyInput(writeInputBytes(text)); // the core checks the UTF-8
    if (address !== 0) return carriedPolicy(utf8.decode(text), address);
  }
  const layout = wasm.parsePolicyBytesLayout(text); // throws the core's error
  return policyFromLayout(utf8.decode(text), layout);
}

export function lintPolicy(text) {
  if (!ready) throw notInitialized();
  return wasm.lintPolicy(checkText('lintPolicy', 'text', text));
}

export function formatPolicy(policy) {
  if (!ready) throw notInitialized();
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) {
    throw invalidArgument('formatPolicy', 'policy must be a policy object', policy);
  }
  return wasm.formatPolicy(policy);
}

// Validated pattern lists, per array: a list is handed to the core once and then only the host
// crosses the boundary. The copy of the strings detects an array changed since (a different list
// gets a new matcher). The wasm objects are freed with their arrays (FinalizationRegistry).
const matchers = new WeakMap();
// Lists that are equal but not the same array (a policy parsed again) share a matcher, by their
// joined text; bounded, oldest first out.
const matchersByText = new Map();
const MAX_MATCHERS_BY_TEXT = 4096;

/** The cached matcher for `list` (checked strings), or null when a pattern holds a line feed. */
function matcherFor(list) {
  const cached = matchers.get(list);
  if (cached !== undefined) {
    const seen = cached.patterns;
    let same = seen.length === list.length;
    for (let i = 0; same && i < seen.length; i++) same = seen[i] === list[i];
    if (same) return cached.matcher;
  }
  for (let i = 0; i < list.length; i++) {
    if (list[i].includes('\n')) return null; // the core says why the pattern is invalid
  }
  const joined = list.join('\n');
  let matcher = matchersByText.get(joined);
  if (matcher === undefined) {
    matcher = new wasm.MxMatcher(joined);
    if (matchersByText.size >= MAX_MATCHERS_BY_TEXT) matchersByText.delete(matchersByText.keys().next().value);
    matchersByText.set(joined, matcher);
  }
  // A WeakMap entry costs about half of a hidden property on the array (measured), and leaves the
  // caller's array untouched.
  matchers.set(list, { patterns: list.slice(), matcher });
  return matcher;
}

/** The core's checked patterns of a policy parsed here (see CarriedPatterns), or null. */
function checkedOf(patternsOrPolicy) {
  return !Array.isArray(patternsOrPolicy) && typeof patternsOrPolicy === 'object' && patternsOrPolicy !== null
    ? CarriedPatterns.of(patternsOrPolicy)
    : null;
}

// The one MX-matching rule outside the core, for patterns the core has checked and lower-cased
// (a parsed policy's) and a host already in the form the core compares (src/mx.rs
// normalize_host: ASCII host-name bytes, lower case, no trailing dot). For such a host the
// core's verdict is plain string comparison, so no call into the module pays for it; any other
// host (capitals, a trailing dot, a U-label, other characters) is the core's to answer. The
// shared vectors (tests/vectors/mx.json) and a differential test over random hosts and patterns
// (tests/js/matching.test.mjs) hold this to the core's verdicts.
const PLAIN_HOST = /^[a-z0-9_.-]*$/;
// Bytes a host's label may hold (HOST_BYTES in src/mx.rs): letters, digits, "-", "_".
const LABEL_CHAR = /^[A-Za-z0-9_-]+$/;

/**
 * RFC 8461 §4.1 for `host` against `checked` (the core's checked lower-case patterns): true or
 * false, or null when the core must answer (the host is not in the form compared here).
 */
function matchChecked(checked, host) {
  for (let k = 0; k < checked.length; k++) {
    const p = checked[k];
    // A pattern is a domain name, so a host equal to one is a domain name in normal form.
    if (p.charCodeAt(0) !== 42) {
      if (host === p) return true;
      continue;
    }
    // RFC 8461 §4.1: "*." matches exactly one whole label: the host is one label (host-name
    // bytes, no dot; capitals are fine, the core would fold them), a dot, and the rest of the
    // pattern as the core lower-cased it.
    const dot = host.length - p.length + 1;
    if (dot > 0 && host.endsWith(p.slice(1)) && LABEL_CHAR.test(host.slice(0, dot))) return true;
  }
  // No pattern equals the host as written: the verdict, when that is the form the core compares.
  return PLAIN_HOST.test(host) && host.charCodeAt(host.length - 1) !== 46 ? false : null;
}

export function matchMx(patternsOrPolicy, host) {
  if (!ready) throw notInitialized();
  checkString('matchMx', 'host', host);
  const checked = checkedOf(patternsOrPolicy);
  if (checked !== null) {
    const verdict = matchChecked(checked, host);
    if (verdict !== null) return verdict;
  }
  const list = patternList('matchMx', patternsOrPolicy);
  const matcher = matcherFor(list);
  if (matcher === null) return wasm.matchMx(list, host); // throws the core's mx-pattern-invalid
  // RFC 8461 §4.1: a host that is not a domain name matches no pattern (the core answers 0).
  return (memory !== null ? matcher.testInput(writeInput(host)) : matcher.test(host)) === 1;
}

const HOSTS_PER_CALL = 31; // verdicts come back as the bits of an i32 (src/wasm.rs)

/** `count` verdicts from the bits of `bits`, into `out` from `from`. */
function unpack(bits, count, out, from) {
  for (let i = 0; i < count; i++) out[from + i] = (bits & (1 << i)) !== 0;
}

/**
 * matchMx for each host of `hosts`, in one call into the core (per 31 hosts), or none for a
 * parsed policy and hosts in normal form: `[matchMx(patternsOrPolicy, hosts[0]), ...]`.
 */
export function matchMxList(patternsOrPolicy, hosts) {
  if (!ready) throw notInitialized();
  if (!Array.isArray(hosts)) throw invalidArgument('matchMxList', 'hosts must be an array of strings', hosts);
  checkStrings('matchMxList', 'hosts', hosts);
  const checked = checkedOf(patternsOrPolicy);
  if (checked !== null) {
    const out = new Array(hosts.length);
    for (let i = 0; i < hosts.length; i++) {
      const verdict = matchChecked(checked, hosts[i]);
      if (verdict === null) return matchListInCore(patternsOrPolicy, hosts);
      out[i] = verdict;
    }
    return out;
  }
  return matchListInCore(patternsOrPolicy, hosts);
}

/** matchMxList by the core's matcher for the list. */
function matchListInCore(patternsOrPolicy, hosts) {
  const list = patternList('matchMxList', patternsOrPolicy);
  const matcher = matcherFor(list);
  if (matcher === null) {
    if (hosts.length === 0) wasm.matchMx(list, ''); // no hosts, but invalid patterns are an error
    return hosts.map((host) => wasm.matchMx(list, host)); // throws the core's error
  }
  if (memory === null) return hosts.map((host) => matcher.test(host) === 1);
  const out = new Array(hosts.length);
  for (let from = 0; from < hosts.length; from += HOSTS_PER_CALL) {
    const count = Math.min(HOSTS_PER_CALL, hosts.length - from);
    const length = writeHostLines(hosts, from, count);
    const bits = length < 0 ? -1 : matcher.testLines(length);
    if (bits < 0) return hosts.map((host) => matchMx(patternsOrPolicy, host)); // a host holds a LF
    unpack(bits, count, out, from);
  }
  return out;
}

/**
 * Writes `count` hosts from `from` into the input buffer as UTF-8, joined by LF; returns the byte
 * length, or -1 when a host holds a LF (the lines would not be the hosts). ASCII hosts (nearly
 * all) are copied by a loop, cheaper here than joining the strings for TextEncoder.
 */
function writeHostLines(hosts, from, count) {
  let need = count;
  for (let k = from; k < from + count; k++) need += hosts[k].length;
  const view = inputView(need * 3);
  let p = 0;
  for (let k = from; k < from + count; k++) {
    const host = hosts[k];
    if (k > from) view[p++] = 10;
    for (let i = 0; i < host.length; i++) {
      const c = host.charCodeAt(i);
      if (c >= 0x80 || c === 10) return writeHostLinesEncoded(hosts, from, count);
      view[p++] = c;
    }
  }
  return p;
}

function writeHostLinesEncoded(hosts, from, count) {
  const chunk = hosts.slice(from, from + count);
  return chunk.some((host) => host.includes('\n')) ? -1 : writeInput(chunk.join('\n'));
}

export function normalizeDomain(domain) {
  if (!ready) throw notInitialized();
  checkString('normalizeDomain', 'domain', domain);
  return wasm.normalizeDomain(domain);
}

export function refreshDue(entry, now, jitter) {
  if (!ready) throw notInitialized();
  return wasm.refreshDue(entry, now, jitter);
}

/** The core's discovery state machine (driven by js/policy-resolver.js). */
export class Discovery extends wasm.Discovery {
  constructor(domain, cached, now, recheckAfter) {
    if (!ready) throw notInitialized();
    super(domain, cached, now, recheckAfter);
  }
}

export function verifyChain(chain, host, now, store, hostCrypto) {
  if (!ready) throw notInitialized();
  return wasm.verifyChain(chain, host, now, store, hostCrypto);
}

/** Trust anchors parsed once by the core (RFC 8461 §4.2). */
export class TrustStore extends wasm.TrustStore {
  constructor() {
    if (!ready) throw notInitialized();
    super();
  }
}



export function relayFailureReply(policyDomain, mode, mx, error) {
  if (!ready) throw notInitialized();
  return wasm.relayFailureReply(policyDomain, mode, mx, error);
}

export function relayOtherDomainReply(firstDomain) {
  if (!ready) throw notInitialized();
  return wasm.relayOtherDomainReply(firstDomain);
}




/** The core's delivery state machine (driven by the Node host's connectMx). */
export class Delivery extends wasm.Delivery {
  constructor(...args) {
    if (!ready) throw notInitialized();
    super(...args);
  }
}

/** The core's probe of one MX host (Delivery in probe mode; driven by js/node/probe-mx.js). */
export function probeDelivery(...args) {
  if (!ready) throw notInitialized();
  return wasm.Delivery.probe(...args);
}

/** The core's SMTP client after the greeting: replies paired with commands (the relay's MX side). */
export class SmtpClient extends wasm.SmtpClient {
  constructor() {
    if (!ready) throw notInitialized();
    super();
  }
}

export function relayMirrorReply(code, lines, mx) {
  if (!ready) throw notInitialized();
  return wasm.relayMirrorReply(code, lines, mx);
}

export function relayNotice(kind, detail = '', limit = 0) {
  if (!ready) throw notInitialized();
  return wasm.relayNotice(kind, detail, limit);
}

export function deliveryTraceHeader(name, trace) {
  if (!ready) throw notInitialized();
  return wasm.deliveryTraceHeader(name, trace.result, trace.policyDomain, trace.mode ?? null, trace.policyId ?? null, trace.mx, trace.tlsVersion ?? null);
}

export function checkHeloName(name) {
  if (!ready) throw notInitialized();
  return wasm.checkHeloName(name);
}

export function recipientDomain(address) {
  if (!ready) throw notInitialized();
  return wasm.recipientDomain(address);
}

/** Throws `recipient-other-domain` unless `address` is in `domain` (the core decides). */
export function checkRecipientDomain(address, domain) {
  if (!ready) throw notInitialized();
  return wasm.checkRecipientDomain(address, domain);
}

export function recipientFailureReply(address) {
  if (!ready) throw notInitialized();
  return wasm.recipientFailureReply(address);
}

/** Every error code of the core: `[{ code, tlsrpt, temporary, rfc, example }]` (src/codes.rs). */
export function errorCodes() {
  if (!ready) throw notInitialized();
  return wasm.errorCodes();
}

export { MtaStsError };

// RFC 8460 §3: the `_smtp._tls.<domain>` TLS-RPT record (src/tlsrpt/record.rs).

export function parseTlsRptRecord(txt) {
  if (!ready) throw notInitialized();
  checkString('parseTlsRptRecord', 'txt', txt);
  return wasm.parseTlsRptRecord(txt);
}

export function selectTlsRptRecord(records) {
  if (!ready) throw notInitialized();
  const fn = 'selectTlsRptRecord';
  if (!Array.isArray(records)) throw invalidArgument(fn, 'records must be an array of TXT records (arrays of strings)', records);
  for (let i = 0; i < records.length; i++) {
    if (!Array.isArray(records[i])) throw invalidArgument(fn, `records[${i}] must be an array of strings`, records[i]);
    checkStrings(fn, `records[${i}]`, records[i]);
  }
  return wasm.selectTlsRptRecord(records);
}

export function lintTlsRptRecord(txt, name) {
  if (!ready) throw notInitialized();
  checkString('lintTlsRptRecord', 'txt', txt);
  if (name !== undefined) checkString('lintTlsRptRecord', 'name', name);
  return wasm.lintTlsRptRecord(txt, name);
}

// TLS-RPT aggregate reports (RFC 8460 §4; src/tlsrpt/report.rs): the core aggregates and writes
// the JSON, and reads it back; gzip and delivery are the host's.

/**
 * One report per policy domain for one UTC day: `[{ policyDomain, reportId, fileName, json }]`,
 * `json` the exact report text (gzip it as `fileName`).
 */
export function buildTlsRptReports(options) {
  if (!ready) throw notInitialized();
  const fn = 'buildTlsRptReports';
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgument(fn, 'options must be an object { organization, contact, submitter, day, results }', options);
  }
  const { organization, contact, submitter, day, results } = options;
  checkString(fn, 'options.organization', organization);
  checkString(fn, 'options.contact', contact);
  checkString(fn, 'options.submitter', submitter);
  checkString(fn, 'options.day', day);
  if (!Array.isArray(results)) throw invalidArgument(fn, 'options.results must be an array of session results', results);
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw invalidArgument(fn, `options.results[${i}] must be an object`, r);
  }
  return wasm.buildTlsRptReports(organization, contact, submitter, day, results);
}

/** The checked summary of a report's JSON text (gunzipped): counts, failures and problems. */
export function readTlsRptReport(jsonText) {
  if (!ready) throw notInitialized();
  checkString('readTlsRptReport', 'jsonText', jsonText);
  return wasm.readTlsRptReport(jsonText);
}

// The socketmap core (src/socketmap/, Postfix smtp_tls_policy_maps): the decoder of one
// connection's netstrings, requests read into a domain or an answer, answers from a policy.
export class NetstringDecoder extends wasm.NetstringDecoder {
  constructor(maxRequest) {
    if (!ready) throw notInitialized();
    super(maxRequest);
  }
}

export function socketmapRequest(data) {
  if (!ready) throw notInitialized();
  return wasm.socketmapRequest(data);
}

export function socketmapNeedsMx(policy, strictTesting) {
  if (!ready) throw notInitialized();
  return wasm.socketmapNeedsMx(policy ?? null, Boolean(strictTesting));
}

export function socketmapAnswer(domain, policy, ttl, zone, mx) {
  if (!ready) throw notInitialized();
  return wasm.socketmapAnswer(domain, policy ?? null, ttl, Boolean(zone.strictTesting), Boolean(zone.stsAttributes), mx?.kind ?? '', mx?.exchanges ?? [], mx?.priorities ?? [], mx?.detail ?? '');
}

export function encodeSocketmapReply(text) {
  if (!ready) throw notInitialized();
  return wasm.encodeSocketmapReply(text);
}

/**
 * The special-purpose range (RFC 6890) a numeric address is in, `{ kind, rfc }`, or null for a
 * globally reachable unicast address: the table the delivery machine's address rules use.
 */
export function specialAddressRange(address) {
  if (!ready) throw notInitialized();
  checkString('specialAddressRange', 'address', address);
  return wasm.specialAddressRange(address);
}
