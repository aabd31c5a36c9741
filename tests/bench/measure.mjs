// Timing helpers for the benchmarks: throughput in rounds (median of several), latency percentiles,
// and plain-text tables. They print figures; nothing here asserts on time (the machine is shared).

import { performance } from 'node:perf_hooks';

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The p-th percentile (0-100) of sorted numbers, nearest rank. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Keeps results alive so that the engine cannot drop the work that made them. */
export const sink = { value: 0, keep(x) { this.value = (this.value + (x ? 1 : 0)) | 0; } };

/**
 * Throughput of several synchronous cases, measured in interleaved rounds so that a noisy neighbour
 * slows every case alike. `run()` does a batch of work and returns how many operations it did; a
 * sample repeats it until `minMs` passed.
 * @param {Array<{ name: string, run: () => number }>} cases
 * @returns {Map<string, { median: number, min: number, max: number, samples: number[] }>} ops/s
 */
export function throughput(cases, { warmup = 2, rounds = 7, minMs = 200 } = {}) {
  const samples = new Map(cases.map((c) => [c.name, []]));
  for (let round = 0; round < warmup + rounds; round++) {
    // Alternate the order each round: no case always runs right after the same other one.
    const order = round % 2 ? [...cases].reverse() : cases;
    for (const c of order) {
      let ops = 0;
      const start = performance.now();
      let elapsed = 0;
      do {
        ops += c.run();
        elapsed = performance.now() - start;
      } while (elapsed < minMs);
      if (round >= warmup) samples.get(c.name).push((ops * 1000) / elapsed);
    }
  }
  return new Map(
    [...samples].map(([name, s]) => [name, { median: median(s), min: Math.min(...s), max: Math.max(...s), samples: s }]),
  );
}

/** Nanoseconds per call of `fn`, median of rounds of `calls` calls each. */
export function nsPerCall(fn, { calls = 200_000, rounds = 7 } = {}) {
  const results = [];
  for (let round = 0; round < rounds + 1; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) sink.keep(fn(i));
    const ns = Number(process.hrtime.bigint() - start) / calls;
    if (round > 0) results.push(ns);
  }
  return median(results);
}

export function formatNumber(n, digits = 0) {
  if (!Number.isFinite(n)) return String(n);
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** A plain-text table: first row is the header; numbers right-aligned. */
export function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const line = (r) =>
    r.map((cell, i) => (typeof cell === 'number' || /^[\d.,x×µ%-]+$/.test(String(cell)) && i > 0
      ? String(cell).padStart(widths[i]) : String(cell).padEnd(widths[i]))).join('  ').trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** The number after `--name` on the bench's command line, or `fallback` when it is not given. */
export function numberOption(name, fallback, args = process.argv.slice(2)) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}
