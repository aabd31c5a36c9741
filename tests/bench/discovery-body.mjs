// Discovery of a policy whose body is 60 KiB (just under the RFC 8461 §3.3 limit of 64 KiB), from
// the TXT answer to the verdict, through the core's Discovery machine: the body crosses the wasm
// boundary as bytes (onResponse, what PolicyResolver does). Measured when this replaced the JSON
// path (the host's answer and its body through JSON.stringify and serde_json, removed since):
// 0.60 ms against 5.02 ms per discovery here, 8.4x. Prints figures; asserts nothing.
// Run: scripts/build && node tests/bench/discovery-body.mjs [--rounds 7] [--min-ms 200]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { throughput, sink } from './measure.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
const PKG = process.env.MTASTS_PKG ?? join(ROOT, 'pkg');
await import(pathToFileURL(join(PKG, 'js/node/index.js')));
const { Discovery } = await import(pathToFileURL(join(PKG, 'js/core.js')));

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '7' }, 'min-ms': { type: 'string', default: '200' } }, strict: false });

// A valid policy of about 60 KiB: 1500 mx lines.
const lines = ['version: STSv1', 'mode: enforce', 'max_age: 86400'];
for (let i = 0; lines.join('\n').length < 60 * 1024; i++) lines.push(`mx: mx${i}.mail-cluster-${i % 97}.example.com`);
const body = Buffer.from(lines.join('\n') + '\n');
const txt = { ok: true, records: [['v=STSv1; id=bench1']] };

function discover() {
  const d = new Discovery('example.com', null, 1_800_000_000, 300);
  try {
    for (;;) {
      const step = d.poll();
      if (step.step === 'resolve-txt') d.onTxtRecords(txt.records);
      else if (step.step === 'fetch-policy') {
        d.onResponse(200, 'text/plain', null, body);
      } else {
        if (step.outcome.status !== 'found') throw new Error(`not found: ${JSON.stringify(step.outcome.errors)}`);
        sink.keep(step.outcome);
        return 1;
      }
    }
  } finally {
    d.free();
  }
}

const results = throughput([{ name: 'bytes (onResponse)', run: discover }], { rounds: Number(values.rounds), minMs: Number(values['min-ms']) });
console.log(`discovery of a ${(body.length / 1024).toFixed(1)} KiB policy (${lines.length - 3} mx lines), median of ${values.rounds} rounds`);
for (const [name, r] of results) console.log(`  ${name.padEnd(26)} ${(1000 / r.median).toFixed(3)} ms per discovery  (${r.median.toFixed(0)}/s, min ${(1000 / r.max).toFixed(3)}, max ${(1000 / r.min).toFixed(3)} ms)`);
