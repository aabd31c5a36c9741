// One survey from start to end: the hosts, the check of one domain, the loop (run.js), and where
// each result goes (the JSON lines file, the CSV, the tally for the summary and the HTML report,
// the progress display). Used by `mtasts survey` and `mtasts demo survey`.

import { writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { memoryStore } from '../node/index.js';
import { normalizeDomain } from '../core.js';
import { checkDomain } from '../cli/check-domain.js';
import { surveyHosts } from './hosts.js';
import { runSurvey } from './run.js';
import { createTally } from './tally.js';
import { csvHeader, csvLine } from './csv.js';
import { renderHtml } from './html.js';
import { readResults, openResults } from './results.js';
import { inShard } from './shard.js';
import { CATEGORIES } from './classify.js';

/** The HTML table holds at most this many domains (the counts hold them all). */
export const HTML_ROWS = 100_000;

/**
 * @param {object} o
 * @param {() => AsyncIterable} o.entries a fresh iterator of the input each call (input.js)
 * @param {object} o.host host options: dnsServers, ca, policyPort, timeout, dnsTimeout, rate
 * @param {false|object} o.probe probeMx options (heloName, port, roots, timeouts) or false
 * @param {string} [o.out] JSON lines file; o.resume: continue it
 * @param {(line: string) => void} [o.stdoutLines] JSON lines to standard output instead (--out -)
 * @param {string} [o.csv], [o.html] report files
 * @param {object} [o.progress] progress.js display; o.countFirst: count the input for its total
 * @param {AbortSignal} [o.signal]
 * @returns {Promise<{ tally, emitted, skipped, interrupted }>}
 */
export async function surveySession(o) {
  const hosts = surveyHosts(o.host);
  let turn = 0;
  const check = (domain) => {
    const h = hosts[turn++ % hosts.length];
    // Spec: a survey measures what is published now: a store of its own per domain, dropped after.
    return checkDomain(domain, { ...h, store: memoryStore(), probe: o.probe });
  };
  const keepRows = o.html ? HTML_ROWS : 1000;
  const tally = createTally({ keepRows });

  const csv = o.csv ? openSync(o.csv, 'w') : null;
  if (csv !== null) writeSync(csv, csvHeader());
  const done = new Set();
  if (o.resume && o.out) {
    try {
      for await (const { result } of readResults(o.out)) {
        done.add(result.domain);
        const row = tally.add(result);
        if (csv !== null) writeSync(csv, csvLine(row));
      }
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
  }
  const results = o.out ? openResults(o.out, { resume: o.resume }) : null;

  const state = { done: tally.counts().total, errors: 0 };
  if (o.progress && o.countFirst) o.progress.total((await countEntries(o.entries(), o.shard, done)) + state.done);
  try {
    const outcome = await runSurvey({
      entries: o.entries(),
      check,
      normalise: normalizeDomain,
      concurrency: o.concurrency,
      retries: o.retries,
      backoffMs: o.backoffMs,
      shard: o.shard,
      skip: (d) => done.has(d),
      signal: o.signal,
      emit: (result) => {
        if (results) results.write(result);
        if (o.stdoutLines) o.stdoutLines(`${JSON.stringify(result)}\n`);
        const row = tally.add(result);
        if (csv !== null) writeSync(csv, csvLine(row));
        state.done += 1;
        if (['temporary', 'failed'].includes(CATEGORIES[row.category]?.group)) state.errors += 1;
        o.progress?.update(state);
      },
    });
    o.progress?.finish(state);
    return { tally, ...outcome };
  } finally {
    results?.close();
    if (csv !== null) closeSync(csv);
    if (o.html) writeFileSync(o.html, renderHtml(tally));
  }
}

async function countEntries(entries, shard, done) {
  let n = 0;
  for await (const { domain } of entries) {
    let name = domain;
    try {
      name = normalizeDomain(domain);
    } catch {
      // counted: an invalid line is a result too
    }
    if (inShard(name, shard) && !done.has(name)) n += 1;
  }
  return n;
}
