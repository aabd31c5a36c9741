// `--shard K/N`: which machine of N surveys a domain. Decided by a hash of the normalised domain
// (so the same list splits the same way everywhere, whatever its order), never by position.

import { createHash } from 'node:crypto';

/** '3/16' → { index: 3, count: 16 } (1 ≤ K ≤ N); throws on anything else. */
export function parseShard(text) {
  const m = /^(\d+)\/(\d+)$/.exec(String(text));
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || count > 1_000_000 || index < 1 || index > count) {
    throw new Error(`--shard needs K/N with 1 ≤ K ≤ N (e.g. 3/16), found ${JSON.stringify(text)}`);
  }
  return { index, count };
}

/** The shard (1..count) of a normalised domain: the first 48 bits of its SHA-256, modulo count. */
export function shardOf(domain, count) {
  const digest = createHash('sha256').update(domain).digest();
  return (digest.readUIntBE(0, 6) % count) + 1;
}

/** Does `domain` (normalised) belong to shard `shard` ({ index, count }, or null for all)? */
export const inShard = (domain, shard) => !shard || shardOf(domain, shard.count) === shard.index;
