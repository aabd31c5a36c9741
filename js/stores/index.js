// The policy stores. All share one async interface keyed by policy domain (lowercase A-label):
// get(domain) → entry | null, put(domain, entry), delete(domain), list() → [{ domain, entry }].
export { memoryStore } from './memory.js';
export { fileStore } from './file.js';
export { isStoreKey } from './key.js';
export { redisStore } from './redis.js';
export { redisTlsrptLog } from './redis-tlsrpt-log.js';
