// SMTP AUTH users of the relay (RFC 4954, PLAIN and LOGIN): a file of `name:hash` lines, where the
// hash is scrypt (RFC 7914) with its parameters and salt:
//
//   # comment
//   postfix:$scrypt$N=16384,r=8,p=1$<salt, base64>$<key, base64>
//
// `mtasts relay --hash-password` reads a password on stdin and prints such a hash.

import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MtaStsError } from '../error.js';

const KEY_LENGTH = 32;
const PARAMS = { N: 16384, r: 8, p: 1 };
const HASH = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

function derive(password, salt, { N, r, p }, length) {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, length, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** The `$scrypt$...` hash of `password` with a new random salt. */
export async function hashPassword(password) {
  const salt = randomBytes(16);
  const key = await derive(password, salt, PARAMS, KEY_LENGTH);
  return `$scrypt$N=${PARAMS.N},r=${PARAMS.r},p=${PARAMS.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Parses a users file's text; throws `users-file-invalid` with the line number. */
export function parseUsers(text, file = 'users file') {
  const users = new Map();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    const m = HASH.exec(line.slice(colon + 1));
    if (colon <= 0 || !m) {
      throw new MtaStsError('users-file-invalid', `${file} line ${i + 1}: expected name:$scrypt$N=...,r=...,p=...$salt$key`, { line: i + 1 });
    }
    const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
    // N must be a power of two (scrypt); the bounds keep a hostile file from costing gigabytes.
    if (!(N >= 2 && N <= 1 << 20 && (N & (N - 1)) === 0 && r >= 1 && r <= 32 && p >= 1 && p <= 16)) {
      throw new MtaStsError('users-file-invalid', `${file} line ${i + 1}: scrypt parameters out of range`, { line: i + 1 });
    }
    users.set(name, { N, r, p, salt: Buffer.from(m[4], 'base64'), key: Buffer.from(m[5], 'base64') });
  });
  return users;
}

/** Reads a users file. */
export function loadUsers(file) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MtaStsError('users-file-invalid', `cannot read users file ${file}: ${err.code ?? err.message}`);
  }
  return parseUsers(text, file);
}

/** Whether `password` is right for `name`. Unknown names cost the same time as known ones. */
export async function checkPassword(users, name, password) {
  const user = users.get(name);
  const params = user ?? { ...PARAMS, salt: Buffer.alloc(16), key: Buffer.alloc(KEY_LENGTH) };
  const key = await derive(String(password ?? ''), params.salt, params, params.key.length);
  return timingSafeEqual(key, params.key) && user !== undefined;
}
