// The public core API: the wasm exports, guarded so that a call before the module is initialised
// fails with a clear MtaStsError instead of "Cannot read properties of undefined".
//
// No MTA-STS logic lives here: every rule is in the Rust core (src/), so Node, the browser and
// `cargo test` give one verdict. The entries (js/node/index.js, js/browser/index.js) initialise the
// wasm module and then call markReady().

import * as wasm from '../wasm/mtasts.js';
import { MtaStsError } from './error.js';

let ready = false;

/** Internal: called by an entry once the wasm module is instantiated. */
export function markReady() {
  ready = true;
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

export function parsePolicy(text) {
  if (!ready) throw notInitialized();
  return wasm.parsePolicy(text);
}

export function lintPolicy(text) {
  if (!ready) throw notInitialized();
  return wasm.lintPolicy(text);
}

export function formatPolicy(policy) {
  if (!ready) throw notInitialized();
  return wasm.formatPolicy(policy);
}

export function matchMx(patternsOrPolicy, host) {
  if (!ready) throw notInitialized();
  return wasm.matchMx(patternsOrPolicy, host);
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

export function planDelivery(domain, records, policy) {
  if (!ready) throw notInitialized();
  return wasm.planDelivery(domain, records, policy);
}

export function judgeAttempt(mode, candidate, tls, requireTls) {
  if (!ready) throw notInitialized();
  return wasm.judgeAttempt(mode, candidate, tls, requireTls);
}

export function relayFailureReply(policyDomain, mode, mx, error) {
  if (!ready) throw notInitialized();
  return wasm.relayFailureReply(policyDomain, mode, mx, error);
}

export function relayOtherDomainReply(firstDomain) {
  if (!ready) throw notInitialized();
  return wasm.relayOtherDomainReply(firstDomain);
}

export function traceHeader(name, trace) {
  if (!ready) throw notInitialized();
  return wasm.traceHeader(name, trace);
}

/** The core's SMTP dialogue up to STARTTLS (driven by the Node host's connectMx). */
export class SmtpStartTls extends wasm.SmtpStartTls {
  constructor(heloName) {
    if (!ready) throw notInitialized();
    super(heloName);
  }
}

export { MtaStsError };
