#!/usr/bin/env node
// The `mtasts` command: dispatches `mtasts <command> ...` to js/cli/<command>.js.
//
// A command module exports `usage` (its --help text) and `run(args, io)` → exit code (0 ok, 1 the
// input has errors). It throws UsageError for mistakes on the command line or unreadable local
// files (exit 2). Errors are printed as one line, never as a stack trace (MTASTS_DEBUG=1 shows one).

import { readFileSync } from 'node:fs';
import { UsageError } from './usage.js';

// Add a command: write js/cli/<name>.js and list it here (the summary is shown by --help without
// loading the command, and so without loading the wasm module).
const COMMANDS = {
  lint: {
    summary: 'check an MTA-STS policy file or TXT record and list every problem',
    load: () => import('./lint.js'),
  },
  check: {
    summary: "check a domain's MTA-STS setup: TXT record, policy fetch, policy, MX hosts",
    load: () => import('./check.js'),
  },
  demo: {
    summary: 'start the loopback lab and run check over every scenario in it',
    load: () => import('./demo.js'),
  },
  relay: {
    summary: 'SMTP relay for a local MTA: delivers under the MTA-STS policy, never queues',
    load: () => import('./relay.js'),
  },
  socketmap: {
    summary: 'Postfix smtp_tls_policy_maps socketmap server: TLS policies from MTA-STS',
    load: () => import('./socketmap.js'),
  },
  query: {
    summary: 'what mtasts socketmap would tell Postfix for a domain, and why',
    load: () => import('./query.js'),
  },
  survey: {
    summary: 'check MTA-STS and TLS-RPT over a list of domains: JSON lines, summary, HTML, CSV',
    load: () => import('./survey.js'),
  },
  lab: {
    summary: 'start the scenario lab on loopback and print the flags for check, relay, socketmap, serve (lab world: many domains)',
    load: () => import('./lab.js'),
  },
  report: {
    summary: 'TLS reports (RFC 8460): build them from recorded sessions, read the ones received',
    load: () => import('./report.js'),
  },
  serve: {
    summary: 'the browser policy checker page and its narrow helpers (DNS over HTTPS, policy fetch, MX probe)',
    load: () => import('./serve.js'),
  },
};

const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };

async function main(argv) {
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.stderr.write(overview());
    return 2;
  }
  if (first === '--help' || first === '-h') {
    io.stdout.write(overview());
    return 0;
  }
  if (first === '--version' || first === '-V') {
    io.stdout.write(`mtasts ${version()}\n`);
    return 0;
  }
  if (first === 'help') {
    if (rest.length === 0) {
      io.stdout.write(overview());
      return 0;
    }
    const command = await load(rest[0]);
    io.stdout.write(command.usage);
    return 0;
  }
  if (first.startsWith('-')) throw new UsageError(`unknown option ${first} (try mtasts --help)`);
  const command = await load(first);
  // A command with subcommands (report) answers --help for each of them itself.
  if (!command.handlesHelp && (rest.includes('--help') || rest.includes('-h'))) {
    io.stdout.write(command.usage);
    return 0;
  }
  return command.run(rest, io);
}

async function load(name) {
  if (!Object.hasOwn(COMMANDS, name)) {
    throw new UsageError(`unknown command '${name}' (commands: ${Object.keys(COMMANDS).join(', ')})`);
  }
  return COMMANDS[name].load();
}

function overview() {
  const lines = [];
  for (const [name, { summary }] of Object.entries(COMMANDS)) {
    lines.push(`  ${name.padEnd(10)}${summary}`);
  }
  return [
    'usage: mtasts <command> [options]',
    '',
    'SMTP MTA Strict Transport Security (RFC 8461) tools.',
    '',
    'commands:',
    ...lines,
    '',
    'options:',
    '  -h, --help     show this help; `mtasts <command> --help` for a command',
    '  -V, --version  show the version',
    '',
  ].join('\n');
}

function version() {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

function describe(err) {
  if (err instanceof UsageError) return err.message;
  if (err && typeof err.code === 'string' && err.name === 'MtaStsError') return `${err.code}: ${err.message}`;
  return `internal error: ${err && err.message ? err.message : String(err)}`;
}

// A closed pipe (`mtasts lint --json x | head -1`) is not an error worth a stack trace.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  io.stderr.write(`mtasts: ${describe(err)}\n`);
  if (io.env.MTASTS_DEBUG && err && err.stack) io.stderr.write(`${err.stack}\n`);
  process.exitCode = 2;
}
