// CommonJS `require('mtasts')` (the `require` condition of the Node entry): the package is ES
// modules, and its Node entry has no top-level await, so Node's require(esm) (unflagged in Node
// 20.19, 22.12 and later) loads the very same module `import` loads — one copy, one MtaStsError
// class. An older Node cannot: say so, and what to do, instead of ERR_REQUIRE_ESM.
'use strict';

try {
  module.exports = require('./index.js');
} catch (err) {
  if (err && (err.code === 'ERR_REQUIRE_ESM' || err.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
    const e = new Error(
      `mtasts is an ES module, and this Node (${process.version}) cannot require() one ` +
        '(Node 20.19, 22.12 and later can, unless run with --no-experimental-require-module): ' +
        "use import, or `await import('mtasts')` from CommonJS",
      { cause: err },
    );
    e.name = 'MtaStsError';
    e.code = 'require-unsupported';
    throw e;
  }
  throw err;
}
