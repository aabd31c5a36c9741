// Creating a store directory. `mkdir -p`, one level at a time: Node's recursive mkdir never settles
// on some file systems (procfs answers ENOENT and Node retries forever); this walk is bounded by the
// path's depth. Used by the file store and the relay's delivery journal.

import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** Creates `target` and its missing parents (mode 0700). */
export async function makeDirectories(target) {
  const missing = [];
  for (let at = resolve(target); ; at = dirname(at)) {
    try {
      await stat(at);
      break;
    } catch (err) {
      if (err.code !== 'ENOENT' || dirname(at) === at) throw err;
      missing.push(at);
    }
  }
  for (const at of missing.reverse()) {
    try {
      await mkdir(at, { mode: 0o700 });
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
  }
}
