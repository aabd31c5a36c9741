// The key of a policy store: a policy domain as a lowercase LDH name (A-labels for IDNs), checked
// before it is used, so that a key can never name a path (no '/', no '..', no empty label).

import { MtaStsError } from '../error.js';

// RFC 1123 §2.1 host names: labels of letters, digits and hyphens, 1-63 characters, not starting or
// ending with a hyphen; at most 253 characters in all. Lowercase only: callers normalise first, so one
// domain has exactly one key.
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const DOMAIN = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`);

/** @returns {boolean} whether `domain` is a valid store key */
export function isStoreKey(domain) {
  return typeof domain === 'string' && DOMAIN.test(domain);
}

/**
 * @param {unknown} domain
 * @returns {string} the domain, when it is a valid key
 * @throws {MtaStsError} code `store-invalid-key`
 */
export function checkStoreKey(domain) {
  if (isStoreKey(domain)) return domain;
  const found = typeof domain === 'string' ? JSON.stringify(domain) : typeof domain;
  throw new MtaStsError(
    'store-invalid-key',
    `store key must be a lowercase ldh domain name (a-labels for idns), found ${found}`,
  );
}

/**
 * An entry is a plain JSON object; the store does not look inside it.
 * @throws {MtaStsError} code `store-invalid-entry`
 */
export function checkStoreEntry(entry) {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    const found = entry === null ? 'null' : Array.isArray(entry) ? 'an array' : typeof entry;
    throw new MtaStsError('store-invalid-entry', `store entry must be a json object, found ${found}`);
  }
  return entry;
}
