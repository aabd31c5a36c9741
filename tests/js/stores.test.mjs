// The policy stores: one interface, three implementations (the Redis store over a private
// redis-server, from the built package: see redis-server.mjs); the file store's crash and
// concurrency behaviour.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readdirSync, readFileSync, statSync, utimesSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { memoryStore, fileStore } from '../../js/stores/index.js';
import { MtaStsError } from '../../js/error.js';
import { PKG, assertBuilt } from './built-package.mjs';
import { HAVE_REDIS, startRedis, stopAllRedis } from './redis-server.mjs';

const root = mkdtempSync(join(tmpdir(), 'mtasts-stores-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `store-${++n}`, 'nested');

const ENTRY = {
  policy: { version: 'STSv1', mode: 'enforce', maxAge: 86400, mx: ['mx1.example.test', '*.example.net'] },
  policyText: 'version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.example.net\r\nmax_age: 86400\r\n',
  id: '20240101',
  fetchedAt: 1700000000,
  expiresAt: 1700086400,
};

// Keys that must be refused, each with the reason.
const BAD_KEYS = [
  ['../etc', 'path traversal'],
  ['..', 'parent directory'],
  ['a/b.test', 'slash'],
  ['a\\b.test', 'backslash'],
  ['Example.test', 'uppercase (callers normalise first)'],
  ['example.test.', 'trailing dot'],
  ['.example.test', 'leading dot (temporary file names)'],
  ['a..b', 'empty label'],
  ['-a.test', 'label starting with a hyphen'],
  ['a-.test', 'label ending with a hyphen'],
  ['_mta-sts.example.test', 'underscore'],
  ['exämple.test', 'U-label instead of A-label'],
  ['', 'empty'],
  [`${'a'.repeat(64)}.test`, 'label over 63 characters'],
  [`${'abcdefghi.'.repeat(26)}test`, 'name over 253 characters'],
  ['a.test\0', 'NUL'],
  [42, 'not a string'],
  [undefined, 'missing'],
];
// 253 characters, the longest name (RFC 1035 §2.3.4): longer than a file name may be (NAME_MAX 255
// bytes with '.json').
const LONGEST = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
const GOOD_KEYS = ['example.test', 'xn--exmple-cua.test', 'mta-sts.a-b.example', 'localhost', '123.example', LONGEST];
/** The file name the file store gives a domain's entry. */
const hashed = (domain) => `${createHash('sha256').update(domain).digest('hex')}.json`;

// The Redis store from the built package (its ioredis is in pkg/node_modules); one redis-server
// for the file, a key prefix of its own for each store.
let redis = null;
let redisStore = null;
if (HAVE_REDIS) {
  assertBuilt();
  ({ redisStore } = await import(pathToFileURL(join(PKG, 'js/stores/redis.js'))));
  redis = await startRedis();
  after(() => stopAllRedis());
}
const redisStores = [];
after(() => Promise.all(redisStores.map((s) => s.close())));
const freshRedisStore = () => {
  const s = redisStore(`${redis.url}?prefix=conformance-${++n}:`);
  redisStores.push(s);
  return s;
};

for (const [name, make, skip] of [
  ['memoryStore', () => memoryStore()],
  ['fileStore', () => fileStore(freshDir())],
  ['redisStore', freshRedisStore, HAVE_REDIS ? false : 'redis-server is not installed (scripts/setup installs it)'],
]) {
  describe(name, { skip }, () => {
    test('get of an absent domain is null; put, get, list, delete', { timeout: 60_000 }, async () => {
      const s = make();
      assert.equal(await s.get('example.test'), null);
      await s.put('example.test', ENTRY);
      await s.put('b.example', { id: 'b' });
      assert.deepEqual(await s.get('example.test'), ENTRY);
      assert.deepEqual(await s.list(), [
        { domain: 'b.example', entry: { id: 'b' } },
        { domain: 'example.test', entry: ENTRY },
      ]);
      await s.put('example.test', { ...ENTRY, id: 'new' });
      assert.equal((await s.get('example.test')).id, 'new');
      await s.delete('example.test');
      await s.delete('example.test'); // deleting an absent entry is fine
      assert.equal(await s.get('example.test'), null);
      assert.deepEqual(await s.list(), [{ domain: 'b.example', entry: { id: 'b' } }]);
    });

    test('callers cannot change the stored entry through objects they gave or got', { timeout: 60_000 }, async () => {
      const s = make();
      const mine = structuredClone(ENTRY);
      await s.put('example.test', mine);
      mine.policy.mx.push('evil.example');
      const got = await s.get('example.test');
      got.policy.mode = 'none';
      (await s.list())[0].entry.id = 'changed';
      assert.deepEqual(await s.get('example.test'), ENTRY);
    });

    test('invalid keys are refused with store-invalid-key', { timeout: 60_000 }, async () => {
      const s = make();
      for (const [key, why] of BAD_KEYS) {
        for (const op of [() => s.get(key), () => s.put(key, ENTRY), () => s.delete(key)]) {
          await assert.rejects(op, (err) => err instanceof MtaStsError && err.code === 'store-invalid-key', why);
        }
      }
      for (const key of GOOD_KEYS) {
        await s.put(key, { key });
        assert.deepEqual(await s.get(key), { key }, key);
      }
    });

    test('entries must be json objects', { timeout: 60_000 }, async () => {
      const s = make();
      for (const bad of [null, 'text', 7, ['a']]) {
        await assert.rejects(() => s.put('example.test', bad), (err) => err.code === 'store-invalid-entry');
      }
    });
  });
}

describe('fileStore on disk', () => {
  test('directory is created with mode 0700; one file per domain, no temporary file left', { timeout: 60_000 }, async () => {
    const dir = freshDir();
    const s = fileStore(dir);
    await s.put('example.test', ENTRY);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(dir), [hashed('example.test')]);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, hashed('example.test')), 'utf8')), { mtastsStore: 1, domain: 'example.test', entry: ENTRY });
  });

  test('a 253-character domain is stored, listed and deleted (file names have a fixed length)', { timeout: 60_000 }, async () => {
    assert.equal(LONGEST.length, 253);
    const dir = freshDir();
    const s = fileStore(dir);
    await s.put(LONGEST, ENTRY);
    assert.deepEqual(await fileStore(dir).get(LONGEST), ENTRY);
    assert.deepEqual(await s.list(), [{ domain: LONGEST, entry: ENTRY }]);
    assert.deepEqual(readdirSync(dir), [hashed(LONGEST)]);
    await s.delete(LONGEST);
    assert.equal(await s.get(LONGEST), null);
    assert.deepEqual(readdirSync(dir), []);
  });

  test('an entry written under the legacy name <domain>.json is read until its next put or delete', { timeout: 60_000 }, async () => {
    const dir = freshDir();
    await fileStore(dir).list(); // create the directory
    const legacy = (domain, entry) => writeFileSync(join(dir, `${domain}.json`), `${JSON.stringify({ mtastsStore: 1, domain, entry })}\n`);
    legacy('old.test', ENTRY);
    legacy('gone.test', { id: 'gone' });
    const s = fileStore(dir);
    assert.deepEqual(await s.get('old.test'), ENTRY, 'no refetch after an upgrade');
    assert.deepEqual(await s.list(), [{ domain: 'gone.test', entry: { id: 'gone' } }, { domain: 'old.test', entry: ENTRY }]);

    await s.put('old.test', { ...ENTRY, id: 'new' });
    assert.equal((await s.get('old.test')).id, 'new');
    assert.ok(!existsSync(join(dir, 'old.test.json')), 'the put replaced the legacy file');
    await s.delete('gone.test');
    assert.equal(await s.get('gone.test'), null, 'a delete removes the legacy file too: nothing comes back');
    assert.deepEqual(readdirSync(dir), [hashed('old.test')]);

    // Both names present (a legacy file a failed cleanup left): the hashed one wins.
    legacy('old.test', { id: 'stale' });
    assert.equal((await s.get('old.test')).id, 'new');
    assert.deepEqual((await s.list()).map((e) => e.entry.id), ['new']);
  });

  test('list() skips directories and unexpected files in the store directory', { timeout: 60_000 }, async () => {
    const dir = freshDir();
    const errors = [];
    const s = fileStore(dir, { onError: (e) => errors.push(e) });
    await s.put('good.test', ENTRY);
    mkdirSync(join(dir, 'journal')); // the relay keeps its journal and TLS-RPT log here
    mkdirSync(join(dir, 'stray.test.json')); // a directory with a legacy entry's name
    mkdirSync(join(dir, hashed('dir.test'))); // a directory with a hashed entry's name
    writeFileSync(join(dir, 'README'), 'not an entry');
    writeFileSync(join(dir, 'Notes.json'), '{}'); // not a valid key (uppercase)
    writeFileSync(join(dir, `${'f'.repeat(64)}.json`), '{"mtastsStore":1'); // hashed name, torn content
    // A well-formed entry under a name that is not its domain's hash (copied by hand): not trusted.
    writeFileSync(join(dir, `${'e'.repeat(64)}.json`), JSON.stringify({ mtastsStore: 1, domain: 'good.test', entry: { id: 'x' } }));
    assert.deepEqual(await s.list(), [{ domain: 'good.test', entry: ENTRY }]);
    assert.deepEqual(await s.get('good.test'), ENTRY);
    const codes = errors.map((e) => e.code).sort();
    assert.deepEqual(codes, ['store-corrupt-entry', 'store-corrupt-entry', 'store-io-error', 'store-io-error']);
    assert.ok(errors.every((e) => e instanceof MtaStsError));
  });

  test('survives re-open (a restart)', { timeout: 60_000 }, async () => {
    const dir = freshDir();
    await fileStore(dir).put('example.test', ENTRY);
    const again = fileStore(dir);
    assert.deepEqual(await again.get('example.test'), ENTRY);
    assert.deepEqual(await again.list(), [{ domain: 'example.test', entry: ENTRY }]);
  });

  test('a crash mid-write leaves a torn temp file: ignored, old entry kept, cleaned up on open', { timeout: 60_000 }, async () => {
    const dir = freshDir();
    await fileStore(dir).put('example.test', ENTRY);
    // A writer that died: its process no longer exists.
    const deadPid = await new Promise((resolve) => {
      const c = spawn(process.execPath, ['-e', '']);
      c.on('exit', () => resolve(c.pid));
    });
    const torn = `.example.test.${deadPid}.0123456789ab.tmp`;
    writeFileSync(join(dir, torn), '{"mtastsStore":1,"domain":"example.test","entry":{"id":"ha');
    // A writer that is still alive (pid 1 always exists) with a fresh file: may be mid-write, kept.
    const live = '.other.test.1.aaaaaaaaaaaa.tmp';
    writeFileSync(join(dir, live), '{');
    // The same, but old: its writer cannot still be writing it.
    const old = '.old.test.1.bbbbbbbbbbbb.tmp';
    writeFileSync(join(dir, old), '{');
    const hourAgo = new Date(Date.now() - 3600 * 1000);
    utimesSync(join(dir, old), hourAgo, hourAgo);

    const errors = [];
    const s = fileStore(dir, { onError: (e) => errors.push(e) });
    assert.deepEqual(await s.get('example.test'), ENTRY);
    assert.deepEqual(await s.list(), [{ domain: 'example.test', entry: ENTRY }]);
    assert.deepEqual(readdirSync(dir).sort(), [live, hashed('example.test')].sort());
    assert.deepEqual(errors, [], 'temp files are not entries and are not reported');
  });

  test('a corrupt entry file reads as absent and is reported via onError, not thrown', { timeout: 60_000 }, async () => {
    const dir = freshDir();
    const errors = [];
    const s = fileStore(dir, { onError: (e) => errors.push(e) });
    await s.put('good.test', ENTRY);
    writeFileSync(join(dir, 'broken.test.json'), '{"mtastsStore":1,"dom');
    writeFileSync(join(dir, 'wrong.test.json'), JSON.stringify({ mtastsStore: 1, domain: 'other.test', entry: {} }));
    writeFileSync(join(dir, 'NOT-A-KEY.json'), '{}'); // not a valid key: not an entry at all
    writeFileSync(join(dir, hashed('torn.test')), '{"mtastsStore":1,"dom'); // the current layout, torn
    assert.equal(await s.get('broken.test'), null);
    assert.equal(await s.get('wrong.test'), null);
    assert.equal(await s.get('torn.test'), null);
    assert.deepEqual(await s.list(), [{ domain: 'good.test', entry: ENTRY }]);
    assert.ok(errors.length >= 3);
    for (const e of errors) {
      assert.ok(e instanceof MtaStsError);
      assert.equal(e.code, 'store-corrupt-entry');
    }
    assert.ok(errors.some((e) => e.domain === 'broken.test' && e.path.endsWith('broken.test.json')));
    assert.ok(errors.some((e) => e.domain === 'torn.test' && e.path.endsWith(hashed('torn.test'))));
    // Without an onError the corruption is silent, and a put repairs it.
    const quiet = fileStore(dir);
    assert.equal(await quiet.get('broken.test'), null);
    await quiet.put('broken.test', ENTRY);
    assert.deepEqual(await quiet.get('broken.test'), ENTRY);
  });

  test('an onError that throws does not break a read', { timeout: 60_000 }, async () => {
    const dir = freshDir();
    const s = fileStore(dir, { onError: () => { throw new Error('observer'); } });
    await s.put('good.test', ENTRY);
    writeFileSync(join(dir, 'broken.test.json'), 'garbage');
    assert.equal(await s.get('broken.test'), null);
  });

  test('a path that cannot be a directory is a store-io-error', { timeout: 60_000 }, async () => {
    const file = join(root, `plain-file-${++n}`);
    writeFileSync(file, 'x');
    await assert.rejects(() => fileStore(file).get('example.test'), (e) => e.code === 'store-io-error');
  });

  test('two processes writing 200 times each: readers never see a partial file; last writer wins', { timeout: 60_000 }, async () => {
    const dir = freshDir();
    await fileStore(dir).list(); // create the directory
    const storeUrl = new URL('../../js/stores/file.js', import.meta.url).href;
    const writer = (name) => `
      import { fileStore } from ${JSON.stringify(storeUrl)};
      const s = fileStore(${JSON.stringify(dir)});
      const pad = 'x'.repeat(4000); // big enough that a torn write would show
      for (let seq = 0; seq < 200; seq++) {
        await s.put('shared.test', { writer: ${JSON.stringify(name)}, seq, pad });
        await s.put(${JSON.stringify(`${name}.test`)}, { writer: ${JSON.stringify(name)}, seq, pad });
      }`;
    const run = (name) =>
      new Promise((resolve, reject) => {
        const c = spawn(process.execPath, ['--input-type=module', '-e', writer(name)], { stdio: ['ignore', 'inherit', 'inherit'] });
        c.on('error', reject);
        c.on('close', (code) => resolve(code));
      });
    const errors = [];
    const reader = fileStore(dir, { onError: (e) => errors.push(e) });
    let done = false;
    let reads = 0;
    const both = Promise.all([run('one'), run('two')]).finally(() => (done = true));
    while (!done) {
      const e = await reader.get('shared.test');
      if (e !== null) {
        assert.ok(e.writer === 'one' || e.writer === 'two');
        assert.equal(e.pad.length, 4000);
        reads++;
      }
      await reader.list();
    }
    assert.deepEqual(await both, [0, 0]);
    assert.deepEqual(errors, [], 'no reader ever saw a partial or corrupt file');
    for (const name of ['one', 'two']) {
      const e = await reader.get(`${name}.test`);
      assert.equal(e.writer, name);
      assert.equal(e.seq, 199);
    }
    const shared = await reader.get('shared.test');
    assert.ok(shared.writer === 'one' || shared.writer === 'two');
    assert.equal(shared.seq, 199, 'the last rename was one of the final writes');
    assert.deepEqual(readdirSync(dir).sort(), ['one.test', 'shared.test', 'two.test'].map(hashed).sort());
    for (const f of readdirSync(dir)) JSON.parse(readFileSync(join(dir, f), 'utf8'));
  });
});

test('fileStore on a path that cannot be made fails with store-io-error instead of hanging', { timeout: 60_000 }, async () => {
  for (const bad of ['/proc/mtasts-store-test/x', '/dev/null/x']) {
    const store = fileStore(bad);
    await assert.rejects(store.get('example.com'), (err) => err.code === 'store-io-error', bad);
  }
});
