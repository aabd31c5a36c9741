// Arbitrary hostile JS values for the property tests (property-*.test.mjs), and the check they share.
// Not a test file itself.
//
// A value here is anything a careless or hostile caller can pass: every primitive, huge strings,
// lone surrogates, typed arrays of every kind, ArrayBuffers, DataViews, Maps, boxed values, sparse and
// null-prototype objects, objects whose toString/valueOf/toPrimitive answer or throw, objects with a
// getter that throws, and Proxies whose every trap throws. An error thrown *by* a hostile value
// (a getter, a trap, a toString) carries POISON: the library may let it through, as JSON.parse or
// Array.prototype.map do, but must never answer with an error of its own that is not an MtaStsError.

import fc from 'fast-check';

/** Marks an error thrown by a hostile value itself (not by the library). */
export const POISON = Symbol('thrown by a hostile test value');

function poison(what) {
  const e = new Error(`hostile value: ${what}`);
  e[POISON] = true;
  return e;
}

/**
 * A Proxy over `target` whose every trap throws for a string key (symbol keys pass, so that
 * fast-check can look for its own clone and print methods, and iteration reaches `length`).
 */
function throwingProxy(target) {
  const trap = (name) => (...args) => {
    if (typeof args[1] === 'symbol' && (name === 'get' || name === 'has' || name === 'getOwnPropertyDescriptor')) return Reflect[name](...args);
    throw poison(`proxy ${name}`);
  };
  const handler = {};
  for (const name of ['get', 'set', 'has', 'ownKeys', 'getOwnPropertyDescriptor', 'getPrototypeOf', 'defineProperty', 'deleteProperty', 'apply', 'construct']) {
    handler[name] = trap(name);
  }
  return new Proxy(target, handler);
}

const LONE = ['\ud800', '\udbff', '\udc00', '\udfff'];

/** Strings of any UTF-16 code units, with lone surrogates, NULs, CR/LF and the record/policy syntax mixed in. */
export const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(fc.oneof(fc.constantFrom(...LONE, '\0', '\r', '\n', ';', '=', ':', '.', '*', ' ', 'v=STSv1;', 'id=', 'mx: ', 'version: STSv1\n', '\ufeff', '\u2028'), fc.string({ unit: 'grapheme', maxLength: 4 })), { maxLength: 30 }).map((a) => a.join('')),
  // Huge: 1 MiB of one character, or a valid prefix then 256 KiB.
  fc.constantFrom('a', '\ud800', '.', '\n', 'é').map((c) => c.repeat(1 << 20)),
  fc.constant(`v=STSv1; id=${'9'.repeat(1 << 18)}`),
  fc.constant(`version: STSv1\nmode: enforce\nmax_age: 86400\nmx: ${'a.'.repeat(1 << 17)}b\n`),
);

const typedArray = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  fc.int8Array({ maxLength: 16 }),
  fc.uint16Array({ maxLength: 16 }),
  fc.int32Array({ maxLength: 16 }),
  fc.float64Array({ maxLength: 8 }),
  fc.bigInt64Array({ maxLength: 4 }),
  fc.uint8Array({ maxLength: 32 }).map((a) => a.buffer),
  fc.uint8Array({ maxLength: 32 }).map((a) => new DataView(a.buffer)),
  fc.constant(new Uint8Array(1 << 20).fill(0xff)),
  // A Uint8Array whose subclass lies about itself.
  fc.uint8Array({ maxLength: 16 }).map((a) => {
    const u = new Uint8Array(a);
    Object.defineProperty(u, 'length', { get: () => 1e9 });
    return u;
  }),
);

/** Objects that are trouble to look at. */
const trickyObject = fc.oneof(
  fc.constant(null).map(() => throwingProxy({})),
  fc.constant(null).map(() => throwingProxy([])),
  fc.constant(null).map(() => throwingProxy(function () {})),
  hostileString.map((s) => ({ toString: () => s, valueOf: () => s, [Symbol.toPrimitive]: () => s })),
  fc.constant(null).map(() => ({
    toString() {
      throw poison('toString');
    },
    [Symbol.toPrimitive]() {
      throw poison('toPrimitive');
    },
  })),
  // A getter that throws on every key a caller might read.
  fc.constant(null).map(() => {
    const o = {};
    for (const k of ['mx', 'mode', 'maxAge', 'version', 'extensions', 'now', 'roots', 'ring', 'length', 'results', 'day', 'organization', 'contact', 'submitter', 'then', 'dnsServers', 'ca', 'store', 'resolver', 'heloName', 'timeouts', 'limits']) {
      Object.defineProperty(o, k, {
        enumerable: true,
        get() {
          throw poison(`getter ${k}`);
        },
      });
    }
    return o;
  }),
  // Arrays holding trouble, or with a getter index.
  fc.constant(null).map(() => {
    const a = ['a.example'];
    Object.defineProperty(a, 1, {
      enumerable: true,
      get() {
        throw poison('array index');
      },
    });
    return a;
  }),
  fc.constant(null).map(() => Object.create(null)),
  fc.constant(null).map(() => new Date(NaN)),
  fc.constant(null).map(() => Symbol('s')),
  fc.constant(null).map(() => () => 'a function'),
  fc.constant(null).map(() => Promise.resolve('mx: a')),
  fc.constant(null).map(() => new WeakMap()),
  fc.constant(null).map(() => /mx/g),
  fc.constant(null).map(() => new Error('an error as an argument')),
  fc.constant(null).map(() => new Array(1e6)), // sparse, huge length
);

/** Any value, with a bias towards the kinds above. */
export const hostileValue = fc.oneof(
  { weight: 3, arbitrary: fc.anything({ withBigInt: true, withBoxedValues: true, withDate: true, withMap: true, withSet: true, withNullPrototype: true, withObjectString: true, withSparseArray: true, withTypedArray: true, maxDepth: 3 }) },
  { weight: 2, arbitrary: hostileString },
  { weight: 1, arbitrary: typedArray },
  { weight: 2, arbitrary: trickyObject },
  { weight: 1, arbitrary: fc.array(fc.oneof(hostileString, trickyObject, fc.array(hostileString, { maxLength: 3 })), { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom(undefined, null, 0, -0, NaN, Infinity, -1, 2 ** 53, 1e308, true, '', 2n ** 64n) },
);

/**
 * The property's check of one call's outcome: it returned, or threw an MtaStsError with a code
 * from errorCodes(), or let through an error a hostile value threw. Anything else (a TypeError of
 * the library's own, a wasm `RuntimeError: unreachable`, an MtaStsError with an unknown code)
 * fails, with what was thrown.
 */
export function checkOutcome(what, thrown, { MtaStsError, codes }) {
  if (thrown === undefined) return;
  if (thrown?.[POISON]) return;
  if (!(thrown instanceof MtaStsError)) {
    throw new Error(`${what}: threw ${thrown?.name ?? typeof thrown} (not MtaStsError): ${thrown?.message ?? String(thrown)}`, { cause: thrown });
  }
  if (!codes.has(thrown.code)) throw new Error(`${what}: MtaStsError code ${JSON.stringify(thrown.code)} is not in errorCodes()`);
  if (typeof thrown.message !== 'string' || thrown.message.length === 0) throw new Error(`${what}: MtaStsError ${thrown.code} without a message`);
}

/** Runs `fn`, returns what it threw (undefined when it returned). */
export function thrownBy(fn) {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e ?? new Error(`threw ${String(e)}`);
  }
}

/**
 * The seed of this run: MTASTS_PROPERTY_SEED replays one; under CI (CI set) a fixed one, so a
 * landing run is repeatable; otherwise a new one each run, printed, to explore.
 */
export const CI_PROPERTY_SEED = 20261202;
export function propertySeed(file) {
  const given = process.env.MTASTS_PROPERTY_SEED;
  const seed = given !== undefined && given !== '' ? Number(given) : process.env.CI ? CI_PROPERTY_SEED : Date.now() % 2 ** 31;
  console.log(`# ${file}: fast-check seed ${seed} (replay: MTASTS_PROPERTY_SEED=${seed} node --test tests/js/${file})`);
  return seed;
}
