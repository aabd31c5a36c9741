// The public core API: the wasm exports, guarded so that a call before the module is initialised
// fails with a clear MtaStsError instead of "Cannot read properties of undefined".
//
// No MTA-STS logic lives here: every rule is in the Rust core (src/), so Node, the browser and
// `cargo test` give one verdict. The entries (js/node/index.js, js/browser/index.js) initialise the
// wasm module and then call markReady().

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

/** Writes `text` as UTF-8 into the module's input buffer; returns the byte length. */
function writeInput(text) {
  return encoder.encodeInto(text, inputView(text.length * 3)).written; // ≤ 3 bytes per UTF-16 unit
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

export function parseRecord(txt) {
  if (!ready) throw notInitialized();
  return wasm.parseRecord(txt);
}

export function selectRecord(records) {
  if (!ready) throw notInitialized();
  return wasm.selectRecord(records);
}

export function lintRecord(txt, name) {
  if (!ready) throw notInitialized();
  return wasm.lintRecord(txt, name);
}

const MODES = ['enforce', 'testing', 'none'];
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true }); // keep a BOM: offsets count it

/**
 * The policy object from the core's layout of `text` (see `parse_policy_layout` in
 * src/policy/parse.rs): mode, max_age, counts, then UTF-16 spans of the strings in `text`.
 */
function policyFromLayout(text, l, at = 0, end = l.length) {
  const count = l[at + 2];
  const mx = new Array(count);
  for (let i = 0; i < count; i++) mx[i] = text.slice(l[at + 4 + 2 * i], l[at + 5 + 2 * i]);
  const extensions = {};
  for (let i = at + 4 + 2 * count; i < end; i += 4) extensions[text.slice(l[i], l[i + 1])] = text.slice(l[i + 2], l[i + 3]);
  return { version: 'STSv1', mode: MODES[l[at]], maxAge: l[at + 1], mx, extensions };
}

export function parsePolicy(text) {
  if (!ready) throw notInitialized();
  if (typeof text === 'string') {
    if (memory !== null) {
      const length = wasm.parsePolicyInput(writeInput(text));
      if (length >= 0) {
        const at = wasm.outputBuffer() >>> 2;
        views();
        return policyFromLayout(text, words, at, at + length);
      }
    }
    return policyFromLayout(text, wasm.parsePolicyLayout(text)); // throws the core's error
  }
  if (text instanceof Uint8Array) {
    if (memory !== null) {
      const length = wasm.parsePolicyInput(writeInputBytes(text)); // the core checks the UTF-8
      if (length >= 0) {
        const at = wasm.outputBuffer() >>> 2;
        views();
        return policyFromLayout(utf8.decode(text), words, at, at + length);
      }
    }
    const layout = wasm.parsePolicyBytesLayout(text); // throws the core's error
    return policyFromLayout(utf8.decode(text), layout);
  }
  return wasm.parsePolicy(text); // the core names the bad argument
}

export function lintPolicy(text) {
  if (!ready) throw notInitialized();
  return wasm.lintPolicy(text);
}

export function formatPolicy(policy) {
  if (!ready) throw notInitialized();
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

/** The cached matcher for `list`, or null when the list is not plain strings (the core reports). */
function matcherFor(list) {
  const cached = matchers.get(list);
  if (cached !== undefined) {
    const seen = cached.patterns;
    let same = seen.length === list.length;
    for (let i = 0; same && i < seen.length; i++) same = seen[i] === list[i];
    if (same) return cached.matcher;
  }
  for (let i = 0; i < list.length; i++) {
    if (typeof list[i] !== 'string' || list[i].includes('\n')) return null;
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

export function matchMx(patternsOrPolicy, host) {
  if (!ready) throw notInitialized();
  const list = Array.isArray(patternsOrPolicy) ? patternsOrPolicy : patternsOrPolicy?.mx;
  const matcher = Array.isArray(list) && typeof host === 'string' ? matcherFor(list) : null;
  if (matcher === null) return wasm.matchMx(patternsOrPolicy, host);
  const verdict = memory !== null ? matcher.testInput(writeInput(host)) : matcher.test(host);
  return verdict === 2 ? matcher.matches(host) /* throws mx-host-invalid */ : verdict === 1;
}

export function normalizeDomain(domain) {
  if (!ready) throw notInitialized();
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
