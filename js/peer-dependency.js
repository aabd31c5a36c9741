// The package's optional peer dependencies (pkg-template/package.json `peerDependencies`, all
// optional): npm packages only the apps need — the relay, the socketmap, the Redis store, mail
// delivery of TLS reports, the lab's MX. A library user installs none of them; the code that needs
// one loads it here, on first use, and says which npm command installs it when it is missing.
// (README "Dependencies" gives the reasons, per package.)

import { createRequire } from 'node:module';
import { MtaStsError } from './error.js';

// The versions the suite runs against (pkg-template/package.json devDependencies;
// tests/js/package-dependencies.test.mjs holds the three lists equal).
export const PEER_DEPENDENCIES = Object.freeze({
  'smtp-server': '3.21.6',
  pino: '10.4.0',
  'prom-client': '15.1.3',
  ioredis: '6.0.0',
  nodemailer: '10.6.1',
  yaml: '2.9.1',
});

// Resolved from the package's own directory: its node_modules, then the ones above it (a project's,
// or the global prefix's for `npm i -g mtasts smtp-server ...`).
const require = createRequire(import.meta.url);
const loaded = new Map();

/**
 * The peer dependency `specifier` (a package name or a path inside one), loaded now (CommonJS
 * `require`: every peer above is CommonJS, so no `await` and no top-level await).
 * @param {string} specifier e.g. `smtp-server` or `smtp-server/lib/smtp-connection.js`
 * @param {string} neededBy what needs it, for the message, e.g. `mtasts relay`
 * @throws {MtaStsError} `missing-dependency` when the package is not installed
 */
export function peerDependency(specifier, neededBy) {
  const name = packageName(specifier);
  if (!Object.hasOwn(PEER_DEPENDENCIES, name)) throw new Error(`peerDependency: ${name} is not a listed peer dependency`);
  if (loaded.has(specifier)) return loaded.get(specifier);
  let mod;
  try {
    mod = require(specifier);
  } catch (err) {
    // Only the package itself missing is `missing-dependency`; a broken install says what broke.
    if (err?.code === 'MODULE_NOT_FOUND' && String(err.message).startsWith(`Cannot find module '${specifier}'`)) {
      const version = PEER_DEPENDENCIES[name];
      throw new MtaStsError(
        'missing-dependency',
        `${neededBy} needs the npm package ${name}, which is not installed: npm install ${name}@${version} ` +
          '(beside mtasts; add -g for a global mtasts). It is an optional peer dependency: the library does not need it',
        { cause: err },
      );
    }
    throw err;
  }
  loaded.set(specifier, mod);
  return mod;
}

/**
 * A stand-in for the peer dependency's module object that loads it on first use (a property read,
 * a call or `new`), so that importing a file costs nothing until the feature is used.
 */
export function lazyPeerDependency(specifier, neededBy) {
  const load = () => peerDependency(specifier, neededBy);
  return new Proxy(function peer() {}, {
    get: (_, key) => load()[key],
    has: (_, key) => key in load(),
    apply: (_, self, args) => Reflect.apply(load(), self, args),
    construct: (_, args) => Reflect.construct(load(), args),
  });
}

function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}
