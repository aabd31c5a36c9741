// node:crypto as the core's signature verifier (RFC 8461 §4.2 chain checks run in wasm; the
// signature arithmetic runs natively). Schemes are named by src/cert.rs (HostScheme::as_str).

import { constants, createPublicKey, verify } from 'node:crypto';

const keys = new Map();
const MAX_KEYS = 1024;

function keyFor(spki) {
  const id = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength).toString('base64');
  let key = keys.get(id);
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    if (keys.size >= MAX_KEYS) keys.delete(keys.keys().next().value);
    keys.set(id, key);
  }
  return key;
}

const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };

/** Verifies one signature; the arguments are views into wasm memory, used before returning. */
export function nodeVerify(scheme, spki, message, signature) {
  const key = keyFor(spki);
  switch (scheme) {
    case 'ecdsa-sha256':
    case 'rsa-pkcs1-sha256':
      return verify('sha256', message, key, signature);
    case 'ecdsa-sha384':
    case 'rsa-pkcs1-sha384':
      return verify('sha384', message, key, signature);
    case 'rsa-pkcs1-sha512':
      return verify('sha512', message, key, signature);
    case 'ed25519':
      return verify(null, message, key, signature);
    case 'rsa-pss-sha256':
      return verify('sha256', message, { key, ...PSS }, signature);
    case 'rsa-pss-sha384':
      return verify('sha384', message, { key, ...PSS }, signature);
    case 'rsa-pss-sha512':
      return verify('sha512', message, { key, ...PSS }, signature);
    default:
      return false;
  }
}
