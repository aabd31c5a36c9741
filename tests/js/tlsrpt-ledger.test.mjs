// The send ledger (js/tlsrpt/ledger.js): one report per (day, domain, rua), temporary failures
// retried with a growing backoff and given up RETRY_WINDOW_MS after the first one, a crash-cut
// line skipped, an unreadable ledger a named error.
// Run: scripts/build && node --test tests/js/tlsrpt-ledger.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, assertBuilt } from './built-package.mjs';

assertBuilt();
const { openLedger, backoff, RETRY_BASE_MS, RETRY_MAX_MS, RETRY_WINDOW_MS } = await import(pathToFileURL(join(PKG, 'js/tlsrpt/ledger.js')));

const DAY = '2026-03-14';
const T0 = Date.parse('2026-03-15T02:00:00Z');
const MIN = 60_000;
const entry = (outcome, at, extra = {}) => ({ at: new Date(at).toISOString(), policyDomain: 'a.test', rua: 'https://r.a.test/', reportId: 'r1', outcome, ...extra });

test('backoff: 5 min, then three times longer each retry, capped at 6 h', { timeout: 60_000 }, () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((n) => backoff(n) / MIN), [5, 15, 45, 135, 360, 360, 360]);
  assert.equal(RETRY_BASE_MS, 5 * MIN);
  assert.equal(RETRY_MAX_MS, 360 * MIN);
});

test('never tried → try; sent, failed and given-up are final; deferred waits, then tries, then gives up', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtasts-ledger-'));
  try {
    const l = await openLedger(dir, DAY);
    assert.deepEqual(l.due('a.test', 'https://r.a.test/', T0), { action: 'try', entry: null });

    await l.append(entry('deferred', T0, { code: 'tlsrpt-send-http-status', detail: 'http 500' }));
    assert.equal(l.due('a.test', 'https://r.a.test/', T0 + 4 * MIN).action, 'wait');
    assert.equal(l.due('a.test', 'https://r.a.test/', T0 + 4 * MIN).until, T0 + 5 * MIN);
    assert.equal(l.due('a.test', 'https://r.a.test/', T0 + 5 * MIN).action, 'try');

    // The second deferral waits 15 min from its own time; the window counts from the first.
    await l.append(entry('deferred', T0 + 5 * MIN, { code: 'tlsrpt-send-connect', detail: 'ECONNREFUSED' }));
    const second = l.due('a.test', 'https://r.a.test/', T0 + 6 * MIN);
    assert.equal(second.action, 'wait');
    assert.equal(second.until, T0 + 20 * MIN);
    assert.equal(second.entry.deferred, 2);
    assert.equal(second.entry.firstDeferredAt, new Date(T0).toISOString());
    assert.equal(l.due('a.test', 'https://r.a.test/', T0 + RETRY_WINDOW_MS - 1).action, 'try');
    assert.equal(l.due('a.test', 'https://r.a.test/', T0 + RETRY_WINDOW_MS).action, 'give-up');

    // Another endpoint of the same domain is independent.
    assert.equal(l.due('a.test', 'mailto:t@a.test', T0).action, 'try');

    // A reopened ledger (the next cron run) sees the same; a line cut short by a crash is skipped.
    appendFileSync(l.file, '{"at":"2026-03-15T02:3');
    const again = await openLedger(dir, DAY);
    assert.equal(again.due('a.test', 'https://r.a.test/', T0 + 6 * MIN).until, T0 + 20 * MIN);

    await again.append(entry('sent', T0 + 20 * MIN, { detail: 'http 200' }));
    for (const at of [T0 + 20 * MIN, T0 + 10 * RETRY_WINDOW_MS]) assert.equal(again.due('a.test', 'https://r.a.test/', at).action, 'done');
    await again.append(entry('failed', T0, { policyDomain: 'b.test', code: 'tlsrpt-send-redirect' }));
    assert.equal(again.due('b.test', 'https://r.a.test/', T0).action, 'done');
    await again.append(entry('given-up', T0, { policyDomain: 'c.test' }));
    assert.equal(again.due('c.test', 'https://r.a.test/', T0).action, 'done');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('shorter timings for tests; a bad day and an unreadable ledger are named errors', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtasts-ledger-'));
  try {
    const l = await openLedger(dir, DAY, { retryBase: 100, retryWindow: 1000 });
    await l.append(entry('deferred', T0));
    assert.equal(l.due('a.test', 'https://r.a.test/', T0 + 99).action, 'wait');
    assert.equal(l.due('a.test', 'https://r.a.test/', T0 + 100).action, 'try');
    assert.equal(l.due('a.test', 'https://r.a.test/', T0 + 1000).action, 'give-up');
    await assert.rejects(openLedger(dir, '2026-3-14'), { code: 'invalid-argument' });
    // A ledger that cannot be read (here a directory where the file belongs; EISDIR even as root).
    const broken = join(dir, 'broken');
    mkdirSync(join(broken, `${DAY}.jsonl`), { recursive: true });
    await assert.rejects(openLedger(broken, DAY), { code: 'tlsrpt-ledger-io', message: /cannot read the ledger .*EISDIR/ });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
