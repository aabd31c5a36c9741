// verifyCertificate: the RFC 8461 §4.2 check of an MX certificate chain, decided by the core.
// This file only turns roots (PEM strings or DER bytes) into a TrustStore, once per roots array.

import { TrustStore, plainBytes, verifyChain } from './core.js';
import { MtaStsError } from './error.js';
import { hasSignatureHost } from './host-crypto.js';

const stores = new WeakMap();

function toList(roots) {
  return Array.isArray(roots) ? roots : [roots];
}

/** A TrustStore for `roots` (an array of PEM strings / DER Uint8Arrays, or one of them). */
export function trustStoreFor(roots) {
  const key = typeof roots === 'object' && roots !== null ? roots : null;
  let store = key && stores.get(key);
  if (!store) {
    store = new TrustStore();
    for (const root of toList(roots)) {
      if (typeof root === 'string') store.addPem(root);
      else if (root instanceof Uint8Array) store.addDer(plainBytes(root));
      else throw new MtaStsError('invalid-argument', 'roots must be PEM strings or DER Uint8Arrays');
    }
    if (key) stores.set(key, store);
  }
  return store;
}

/**
 * @param {Uint8Array[]} chain DER certificates, the leaf first, the rest in any order
 * @param {string} host the MX host name actually dialled
 * @param {{ now?: Date, roots?: Array<string|Uint8Array>, ring?: boolean }} [options]
 * @param {Array<string|Uint8Array>} defaultRoots roots when `options.roots` is not given
 * @returns {{ ok: boolean, code?: string, message?: string, tlsrpt?: string }}
 */
export function verifyCertificateWith(chain, host, options = {}, defaultRoots) {
  if (!Array.isArray(chain)) throw new MtaStsError('invalid-argument', 'chain must be an array of DER Uint8Arrays');
  if (typeof host !== 'string') throw new MtaStsError('invalid-argument', 'host must be a string');
  const { now = new Date(), roots = defaultRoots, ring = false } = options;
  if (!roots) throw new MtaStsError('invalid-argument', 'roots are required here (no default trust store)');
  const seconds = now instanceof Date ? now.getTime() / 1000 : Number(now) / 1000;
  // Signatures go to the host's native crypto when it registered one, else to ring in the module.
  return verifyChain(chain.map((c) => plainBytes(c)), host, seconds, trustStoreFor(roots), !ring && hasSignatureHost());
}
