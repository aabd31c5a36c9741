// The arguments `mtasts report build` and `report send` share: the store, the UTC day, the
// submitter, and writing a file so that a reader never sees half of it.

import { existsSync, statSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { normalizeDomain } from '../core.js';
import { fileTlsrptLog } from '../relay/tlsrpt-log.js';
import { isRedisSpec, parseRedisSpec } from '../stores/redis-connection.js';
import { redisTlsrptLog } from '../stores/redis-tlsrpt-log.js';
import { defaultStoreDir } from './check.js';
import { UsageError } from './usage.js';

/** A flag that must be given and not be empty (`sub`: the report subcommand, for the hint). */
export function required(value, flag, sub) {
  if (value === undefined) throw new UsageError(`missing ${flag}; try mtasts report ${sub} --help`);
  if (value.trim() === '') throw new UsageError(`${flag} must not be empty`);
  return value;
}

/**
 * `file:DIR` (a relay's `--store`), which must exist; `memory` holds nothing to build from. For a
 * relay fleet's `redis://…` the records are in Redis (tlsrptLogOf) and this is the local directory
 * (`?local=DIR`, else the default store directory) that holds `report send`'s ledger.
 */
export function storeDirOf(spec, env) {
  if (spec === 'memory') throw new UsageError('--store memory keeps no records after the relay stops; give the relay\'s file:DIR');
  if (isRedisSpec(spec)) {
    let local;
    try {
      local = parseRedisSpec(spec).local;
    } catch (err) {
      throw new UsageError(`--store ${err.message}`);
    }
    return local && local !== 'memory' ? local : defaultStoreDir(env);
  }
  let dir;
  if (spec === undefined) dir = defaultStoreDir(env);
  else if (spec.startsWith('file:') && spec.length > 'file:'.length) dir = spec.slice('file:'.length);
  else throw new UsageError(`--store must be file:DIR or redis://HOST[:PORT][/DB], found ${JSON.stringify(spec)}`);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`no store directory ${dir}`);
  return dir;
}

/**
 * The TLS-RPT records of a `--store` (tlsrpt-log.js's interface): the files under `storeDir`, or a
 * fleet's counters in Redis (js/stores/redis-tlsrpt-log.js). `store` and `where` name them in output.
 */
export function tlsrptLogOf(spec, storeDir) {
  if (isRedisSpec(spec)) {
    const log = redisTlsrptLog(spec);
    return { log, store: log.connection.where, where: log.connection.where };
  }
  return { log: fileTlsrptLog(join(storeDir, 'tlsrpt')), store: storeDir, where: join(storeDir, 'tlsrpt') };
}

export const dayOf = (ms) => new Date(ms).toISOString().slice(0, 10);

/** RFC 8460 §4.1: a report covers one UTC day, `YYYY-MM-DD`, a real calendar day. */
export function dateArgument(text) {
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(text) ? Date.parse(`${text}T00:00:00Z`) : Number.NaN;
  if (Number.isNaN(ms) || dayOf(ms) !== text || ms < 0) {
    throw new UsageError(`--date needs a UTC day YYYY-MM-DD from 1970, found ${JSON.stringify(text)}`);
  }
  return text;
}

/** The submitter's domain: --submitter, else this host's name, as the core takes a domain. */
export function submitterOf(given) {
  const domain = (name) => {
    try {
      return normalizeDomain(name);
    } catch {
      return null;
    }
  };
  const name = given ?? hostname();
  const d = domain(name);
  if (d === null) {
    throw new UsageError(given !== undefined ? `--submitter needs a domain name, found ${JSON.stringify(given)}` : `this host's name ${JSON.stringify(name)} is no domain name; give --submitter`);
  }
  return d;
}

/** Writes next to `file` and renames, so a reader never sees half a file. */
export async function writeAtomically(file, bytes) {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, bytes, { mode: 0o644 });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new UsageError(`cannot write ${file}: ${err.code ?? err.message}`);
  }
}
