// Where the built npm package is (pkg/, made by scripts/build), for tests that exercise it as a user
// would. Not a test file itself (node --test runs only *.test.mjs here).

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PKG = join(ROOT, 'pkg');
export const CLI = join(PKG, 'js', 'cli', 'main.js');
export const EXAMPLES = join(ROOT, 'tests', 'vectors', 'examples');

/** Fails (does not skip) when the package was not built: the suite must not pass vacuously. */
export function assertBuilt() {
  for (const file of ['package.json', 'wasm/mtasts_bg.wasm', 'wasm/mtasts.js', 'js/node/index.js']) {
    if (!existsSync(join(PKG, file))) {
      throw new Error(`pkg/${file} is missing: run scripts/build before node --test tests/js/`);
    }
  }
}
