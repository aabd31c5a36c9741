// The host's native signature verification, offered to the wasm core (a wasm-bindgen snippet).
// The core asks `hostVerify` to check each signature of a certificate chain when an entry has
// registered an implementation (the Node entry registers node:crypto's `verify`); without one the
// core uses ring inside the module (the browser). Like js/error.js, two copies of this module may
// load; the registration lives under a global symbol so both see it.

const KEY = Symbol.for('mtasts.signatureHost');

/** Registers `fn(scheme, spkiDer, message, signature) → boolean`, or null to use ring. */
export function setSignatureHost(fn) {
  globalThis[KEY] = fn ?? undefined;
}

export function hasSignatureHost() {
  return typeof globalThis[KEY] === 'function';
}

export function hostVerify(scheme, spki, message, signature) {
  try {
    return globalThis[KEY](scheme, spki, message, signature) === true;
  } catch {
    return false; // a key the host cannot read is a signature that does not verify
  }
}
