// memoryStore: the library's default policy cache, a Map in this process. Entries are copied in and
// out (structuredClone), so a caller that changes an object it got or gave cannot change the cache.
// No Node-only import: the browser entry uses this store too.

import { checkStoreKey, checkStoreEntry } from './key.js';

/**
 * @returns {{ get(domain: string): Promise<object | null>, put(domain: string, entry: object): Promise<void>,
 *   delete(domain: string): Promise<void>, list(): Promise<Array<{ domain: string, entry: object }>> }}
 */
export function memoryStore() {
  const entries = new Map();
  return {
    async get(domain) {
      const entry = entries.get(checkStoreKey(domain));
      return entry === undefined ? null : structuredClone(entry);
    },
    async put(domain, entry) {
      checkStoreKey(domain);
      entries.set(domain, structuredClone(checkStoreEntry(entry)));
    },
    async delete(domain) {
      entries.delete(checkStoreKey(domain));
    },
    async list() {
      return [...entries.keys()].sort().map((domain) => ({ domain, entry: structuredClone(entries.get(domain)) }));
    },
  };
}
