// Shared by the survey tests: a lab world from the built package, the flags that point the
// `mtasts survey` CLI at it, and a way to run the CLI. Not a test file (node --test runs *.test.mjs).

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, PKG, assertBuilt } from './built-package.mjs';

assertBuilt();
export const { startWorld } = await import(join(PKG, 'js/lab/world.js'));

/** A scratch directory with the world's CA and domain list in it. */
export function worldFiles(world, name = 'survey') {
  const dir = mkdtempSync(join(tmpdir(), `mtasts-${name}-`));
  writeFileSync(join(dir, 'ca.pem'), world.caPem);
  writeFileSync(join(dir, 'domains.txt'), world.domains.map((d) => d.domain).join('\n') + '\n');
  return { dir, ca: join(dir, 'ca.pem'), list: join(dir, 'domains.txt') };
}

// Time limits generous enough for a loaded machine: the world makes its certificates on the first
// handshake (per 100 domains), which took over 1.5 s at load 11 and turned two testing domains into
// fetch timeouts. The policy-timeout kind trickles for 10 minutes, so it still times out.
/** The test-infrastructure flags of a world, with short limits (loopback answers at once). */
export function worldFlags(world, files, { probe = false } = {}) {
  const flags = ['--dns-server', world.dns.server, '--ca-file', files.ca, '--policy-port', String(world.policyPort), '--timeout', '5000', '--dns-timeout', '2000', '--backoff', '50'];
  if (probe) flags.push('--probe', '--helo', 'survey.test', '--smtp-port', String(world.smtpPort), '--allow-private');
  return flags;
}

/** Runs `mtasts <args>`; resolves to { code, signal, stdout, stderr }. `onSpawn(child)` sees the process. */
export function runCli(args, { onSpawn, input, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
    onSpawn?.(child);
  });
}

/** The JSON lines of a survey output (text). */
export const jsonLines = (text) => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));

/** How many results fall in each category, from the results' own `survey.category`. */
export function countBy(results, key) {
  const out = {};
  for (const r of results) out[key(r)] = (out[key(r)] ?? 0) + 1;
  return out;
}
