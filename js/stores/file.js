// fileStore: the CLI's and relay's policy cache, one JSON file per policy domain in a directory.
//
// Durability and concurrency come from the file system, with no lock:
// - a put writes a unique temporary file in the same directory, fsyncs it, renames it over the entry
//   file and fsyncs the directory. rename(2) is atomic, so a reader (in this or another process) sees
//   the old entry or the new one, never a part; with two writers the last rename wins.
// - a crash mid-write leaves at most a temporary file: it is never read as an entry, and it is
//   removed by the next open or list (once its writer is gone).
// - an entry file that cannot be parsed is treated as absent and reported through `onError`, never
//   thrown: a damaged cache must not stop delivery (the next put replaces it).
//
// File layout: `<dir>/<domain>.json` holding `{"mtastsStore":1,"domain":…,"entry":…}`; temporary
// files are `<dir>/.<domain>.<pid>.<random>.tmp` (a leading dot, which no valid key has).

import { open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MtaStsError } from '../error.js';
import { checkStoreKey, checkStoreEntry, isStoreKey } from './key.js';
import { makeDirectories } from './directory.js';

const FORMAT = 1;
const TEMP_NAME = /^\.([a-z0-9.-]+)\.(\d+)\.([0-9a-f]+)\.tmp$/;
const ENTRY_NAME = /^(.+)\.json$/;
// Spec: a temporary file whose writer may still be alive is only removed once it is this old; no
// write of a few hundred bytes takes that long.
const STALE_TEMP_MS = 10 * 60 * 1000;
// Full paths of the temporary files this process is writing, shared by every store instance (two
// instances may open the same directory).
const inFlight = new Set();

/**
 * @param {string} path the directory (created with mode 0700 when missing)
 * @param {object} [options]
 * @param {(err: MtaStsError) => void} [options.onError] told about a corrupt entry file
 *   (code `store-corrupt-entry`, with `domain` and `path`); the entry then reads as absent
 */
export function fileStore(path, { onError } = {}) {
  if (typeof path !== 'string' || path === '') {
    throw new MtaStsError('store-invalid-path', `file store needs a directory path, found ${JSON.stringify(path)}`);
  }
  const dir = path;
  let opened;

  const report = (err) => {
    if (typeof onError === 'function') {
      try {
        onError(err);
      } catch {
        // a failing observer must not turn a corrupt cache entry into a failed look-up
      }
    }
  };


  function ready() {
    opened ??= (async () => {
      try {
        await makeDirectories(dir);
      } catch (err) {
        opened = undefined; // let a later call try again
        throw ioError(`cannot create store directory ${dir}`, err);
      }
      await sweep();
    })();
    return opened;
  }

  /** Remove temporary files left by writers that are gone (crashed mid-write). */
  async function sweep() {
    let names;
    try {
      names = await readdir(dir);
    } catch (err) {
      throw ioError(`cannot read store directory ${dir}`, err);
    }
    const now = Date.now();
    await Promise.all(
      names.map(async (name) => {
        const m = TEMP_NAME.exec(name);
        if (!m || inFlight.has(join(dir, name))) return;
        const pid = Number(m[2]);
        let stale = pid === process.pid || !processAlive(pid);
        if (!stale) {
          try {
            stale = now - (await stat(join(dir, name))).mtimeMs > STALE_TEMP_MS;
          } catch {
            return; // already gone
          }
        }
        if (stale) await unlink(join(dir, name)).catch(() => {});
      }),
    );
  }

  const entryPath = (domain) => join(dir, `${domain}.json`);

  async function read(domain) {
    const file = entryPath(domain);
    let text;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (err.code === 'ENOENT') return null;
      throw ioError(`cannot read store entry ${file}`, err);
    }
    let doc;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      report(corrupt(domain, file, `not json: ${err.message}`, err));
      return null;
    }
    if (
      doc === null || typeof doc !== 'object' || doc.mtastsStore !== FORMAT || doc.domain !== domain ||
      doc.entry === null || typeof doc.entry !== 'object' || Array.isArray(doc.entry)
    ) {
      report(corrupt(domain, file, `expected {"mtastsStore":${FORMAT},"domain":"${domain}","entry":{…}}`));
      return null;
    }
    return doc.entry;
  }

  return {
    async get(domain) {
      checkStoreKey(domain);
      await ready();
      return read(domain);
    },

    async put(domain, entry) {
      checkStoreKey(domain);
      checkStoreEntry(entry);
      let text;
      try {
        text = `${JSON.stringify({ mtastsStore: FORMAT, domain, entry })}\n`;
      } catch (err) {
        throw new MtaStsError('store-invalid-entry', `store entry is not json-serialisable: ${err.message}`, { cause: err });
      }
      await ready();
      const tempName = `.${domain}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
      const temp = join(dir, tempName);
      inFlight.add(temp);
      try {
        const fh = await open(temp, 'wx', 0o600);
        try {
          await fh.writeFile(text, 'utf8');
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(temp, entryPath(domain));
        await syncDirectory(dir);
      } catch (err) {
        await unlink(temp).catch(() => {});
        throw ioError(`cannot write store entry for ${domain} in ${dir}`, err);
      } finally {
        inFlight.delete(temp);
      }
    },

    async delete(domain) {
      checkStoreKey(domain);
      await ready();
      try {
        await unlink(entryPath(domain));
      } catch (err) {
        if (err.code === 'ENOENT') return;
        throw ioError(`cannot delete store entry for ${domain} in ${dir}`, err);
      }
      await syncDirectory(dir).catch((err) => {
        throw ioError(`cannot sync store directory ${dir}`, err);
      });
    },

    async list() {
      await ready();
      await sweep();
      let names;
      try {
        names = await readdir(dir);
      } catch (err) {
        throw ioError(`cannot read store directory ${dir}`, err);
      }
      const domains = names
        .map((n) => ENTRY_NAME.exec(n)?.[1])
        .filter((d) => d !== undefined && isStoreKey(d))
        .sort();
      const out = [];
      for (const domain of domains) {
        const entry = await read(domain);
        if (entry !== null) out.push({ domain, entry });
      }
      return out;
    },
  };
}

/** fsync the directory so that a completed rename or unlink survives a power loss. */
async function syncDirectory(dir) {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    // Interop: some platforms and file systems cannot open or fsync a directory; the rename is
    // still atomic there, only its durability across a power loss is the file system's.
    if (!['EISDIR', 'EINVAL', 'EPERM', 'EACCES', 'EBADF', 'ENOTSUP'].includes(err.code)) throw err;
  } finally {
    await fh?.close();
  }
}

function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM'; // exists, owned by someone else
  }
}

function ioError(message, cause) {
  return new MtaStsError('store-io-error', `${message}: ${cause?.code ?? cause?.message ?? cause}`, { cause });
}

function corrupt(domain, path, why, cause) {
  const err = new MtaStsError('store-corrupt-entry', `store entry ${path} is unreadable (${why}); treated as absent`, { cause });
  err.domain = domain;
  err.path = path;
  return err;
}
