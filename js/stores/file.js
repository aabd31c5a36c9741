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
// File layout: `<dir>/<sha256-hex of the domain>.json` holding
// `{"mtastsStore":1,"domain":…,"entry":…}`; temporary files are `<dir>/.<hash>.<pid>.<random>.tmp`.
// The names have a fixed length (69 and 90 bytes), so every valid key — up to 253 characters —
// fits in a file name (NAME_MAX is 255 bytes); list() takes the domain from inside the file.
// Anything else in the directory (the relay's `journal/` and `tlsrpt/`, stray files) is left alone.
//
// Legacy layout: stores written before the hashed names used `<dir>/<domain>.json`. Such an entry
// is still read (get and list) until the next put or delete of its domain, which removes it, so an
// upgrade costs no refetch. 64 hex digits are never a valid key (a label has at most 63
// characters), so the two kinds of name cannot be confused.

import { open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MtaStsError } from '../error.js';
import { checkStoreKey, checkStoreEntry, isStoreKey } from './key.js';
import { makeDirectories } from './directory.js';

const FORMAT = 1;
const TEMP_NAME = /^\.([a-z0-9.-]+)\.(\d+)\.([0-9a-f]+)\.tmp$/;
const HASHED_NAME = /^[0-9a-f]{64}\.json$/;
const LEGACY_NAME = /^(.+)\.json$/;
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
 *   (code `store-corrupt-entry`, with `domain` — null when unknown — and `path`); the entry then
 *   reads as absent. list() also reports here an entry file it cannot read (`store-io-error`, e.g.
 *   a directory in its place) and goes on with the others.
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

  const hashedName = (domain) => `${createHash('sha256').update(domain).digest('hex')}.json`;
  const entryPath = (domain) => join(dir, hashedName(domain));
  const legacyPath = (domain) => join(dir, `${domain}.json`);

  /**
   * Reads one entry file. `domain` is the key it must hold; undefined (list() of a hashed file)
   * accepts the domain written inside when the file's name is that domain's hash.
   * @returns {Promise<{ domain: string, entry: object } | null | undefined>} undefined when there
   *   is no such file, null when it is corrupt (reported)
   * @throws {MtaStsError} `store-io-error` when the file exists but cannot be read
   */
  async function readEntry(file, domain, name, legacy = false) {
    let text;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      // A legacy name longer than NAME_MAX cannot exist: absent too.
      if (err.code === 'ENOENT' || (legacy && err.code === 'ENAMETOOLONG')) return undefined;
      throw ioError(`cannot read store entry ${file}`, err);
    }
    let doc;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      report(corrupt(domain ?? null, file, `not json: ${err.message}`, err));
      return null;
    }
    const holds = domain ?? (isStoreKey(doc?.domain) && hashedName(doc.domain) === name ? doc.domain : undefined);
    if (
      doc === null || typeof doc !== 'object' || doc.mtastsStore !== FORMAT || holds === undefined || doc.domain !== holds ||
      doc.entry === null || typeof doc.entry !== 'object' || Array.isArray(doc.entry)
    ) {
      report(corrupt(domain ?? null, file, `expected {"mtastsStore":${FORMAT},"domain":"${domain ?? '<the domain this name is the sha-256 of>'}","entry":{…}}`));
      return null;
    }
    return { domain: holds, entry: doc.entry };
  }

  /** The entry of `domain`: its hashed file, else (only when that is absent) a legacy file. */
  async function read(domain) {
    let got = await readEntry(entryPath(domain), domain);
    if (got === undefined) got = await readEntry(legacyPath(domain), domain, undefined, true);
    return got?.entry ?? null;
  }

  /** Removes the legacy file of `domain`, if any. */
  async function unlinkLegacy(domain) {
    try {
      await unlink(legacyPath(domain));
    } catch (err) {
      if (err.code !== 'ENOENT' && err.code !== 'ENAMETOOLONG') throw err;
    }
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
      const target = entryPath(domain);
      const temp = join(dir, `.${hashedName(domain).slice(0, -'.json'.length)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
      inFlight.add(temp);
      try {
        const fh = await open(temp, 'wx', 0o600);
        try {
          await fh.writeFile(text, 'utf8');
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(temp, target);
        // The hashed file now wins over a legacy one; removing that is tidiness, not correctness.
        await unlinkLegacy(domain).catch(() => {});
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
        if (err.code !== 'ENOENT') throw ioError(`cannot delete store entry for ${domain} in ${dir}`, err);
      }
      // Else a legacy entry would come back as the domain's entry.
      await unlinkLegacy(domain).catch((err) => {
        throw ioError(`cannot delete store entry for ${domain} in ${dir}`, err);
      });
      await syncDirectory(dir).catch((err) => {
        throw ioError(`cannot sync store directory ${dir}`, err);
      });
    },

    /**
     * Every readable entry, sorted by domain. A file or directory that is not an entry is skipped;
     * one that looks like an entry but cannot be read is reported through `onError` and skipped.
     */
    async list() {
      await ready();
      await sweep();
      let names;
      try {
        names = await readdir(dir);
      } catch (err) {
        throw ioError(`cannot read store directory ${dir}`, err);
      }
      const found = new Map();
      const tryRead = async (file, domain, name, legacy) => {
        try {
          return await readEntry(file, domain, name, legacy);
        } catch (err) {
          report(err);
          return null;
        }
      };
      for (const name of names.filter((n) => HASHED_NAME.test(n)).sort()) {
        const got = await tryRead(join(dir, name), undefined, name);
        if (got) found.set(got.domain, got.entry);
      }
      const hashed = new Set(names.filter((n) => HASHED_NAME.test(n)));
      for (const name of names) {
        const domain = LEGACY_NAME.exec(name)?.[1];
        if (domain === undefined || !isStoreKey(domain) || hashed.has(hashedName(domain))) continue;
        const got = await tryRead(join(dir, name), domain, undefined, true);
        if (got) found.set(domain, got.entry);
      }
      return [...found.keys()].sort().map((domain) => ({ domain, entry: found.get(domain) }));
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
