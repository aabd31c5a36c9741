// `mtasts survey merge`: the JSON lines of several shards (or runs) as one survey. Each domain is
// counted once, whichever files hold it (the first result read is kept), and none is lost.

import { readResults } from './results.js';

/**
 * @param {string[]} files
 * @param {(result: object) => void} emit called once per distinct domain
 * @returns {Promise<{ domains: number, duplicates: number, perFile: Array<{ file, lines }> }>}
 */
export async function mergeResults(files, emit) {
  const seen = new Set();
  let duplicates = 0;
  const perFile = [];
  for (const file of files) {
    let lines = 0;
    for await (const { result } of readResults(file)) {
      lines += 1;
      if (seen.has(result.domain)) {
        duplicates += 1;
        continue;
      }
      seen.add(result.domain);
      emit(result);
    }
    perFile.push({ file, lines });
  }
  return { domains: seen.size, duplicates, perFile };
}
