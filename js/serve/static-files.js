// The checker page's files, from the package directory: the page (js/checker/), the browser entry
// and what it imports (js/), and the wasm modules (wasm/). Only these directories and file types are
// served; every response carries the page's Content-Security-Policy.

import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
};
const SERVED_DIRS = ['js', 'wasm', 'docs'];

/**
 * The strict CSP: scripts and styles from this origin only (no inline script), wasm compiled by
 * the page's own scripts, requests to this origin (and the configured DoH resolver) only, no frames.
 */
export function contentSecurityPolicy(extraConnect = []) {
  return [
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self'${extraConnect.map((o) => ` ${o}`).join('')}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Resolves a request path to a file under `root`, or null when it is not one of the page's files. */
export function staticFile(root, pathname) {
  const path = pathname === '/js/checker/' ? '/js/checker/index.html' : pathname;
  let decoded;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || !(extname(decoded) in TYPES)) return null;
  const rel = normalize(decoded).replace(/^[/\\]+/, '');
  if (rel.startsWith('..') || !SERVED_DIRS.includes(rel.split(sep)[0])) return null;
  return { file: join(root, rel), type: TYPES[extname(decoded)] };
}

export async function readStatic(found) {
  try {
    const s = await stat(found.file);
    if (!s.isFile()) return null;
    return await readFile(found.file);
  } catch {
    return null;
  }
}
