// The package as a user installs it: `npm pack` pkg/, then `npm install <tarball>` (and, when asked,
// some of its optional peer dependencies at the tested versions) into a scratch project. Shared by
// the consumer, README, types and bundler tests. Not a test file itself.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PKG } from './built-package.mjs';

/** The tested version of each optional peer dependency (pkg/package.json devDependencies). */
export async function peerVersions() {
  const { PEER_DEPENDENCIES } = await import(new URL('../../pkg/js/peer-dependency.js', import.meta.url).href);
  return PEER_DEPENDENCIES;
}

/**
 * @param {{ peers?: string[], devPackages?: string[], name?: string }} [options] `peers`: optional peer
 *   dependencies to install beside mtasts, at their tested versions; `devPackages`: more specs
 * @returns {Promise<{ scratch: string, app: string, tarball: string, files: string[], packed: object, remove(): void }>}
 */
export async function installPacked({ peers = [], devPackages = [], name = 'consumer' } = {}) {
  const scratch = mkdtempSync(join(tmpdir(), `mtasts-${name}-`));
  const packed = JSON.parse(
    execFileSync('npm', ['pack', PKG, '--pack-destination', scratch, '--json', '--loglevel=error'], { encoding: 'utf8', cwd: scratch }),
  )[0];
  const tarball = join(scratch, packed.filename);
  const app = join(scratch, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: `${name}-app`, private: true, type: 'module' }));
  const versions = await peerVersions();
  const specs = [tarball, ...peers.map((p) => `${p}@${versions[p]}`), ...devPackages];
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...specs], {
    cwd: app,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return {
    scratch,
    app,
    tarball,
    packed,
    files: packed.files.map((f) => f.path),
    remove: () => rmSync(scratch, { recursive: true, force: true }),
  };
}
