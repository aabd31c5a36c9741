// `mtasts report build|send|read`: TLS reports (RFC 8460). Each subcommand lives in its own file
// (report-build.js, report-send.js, report-read.js); this one only dispatches.

import { UsageError } from './usage.js';

const SUBCOMMANDS = {
  build: () => import('./report-build.js'),
  send: () => import('./report-send.js'),
  read: () => import('./report-read.js'),
};

export const usage = `usage: mtasts report build [options]          build the day's reports from the recorded sessions
       mtasts report send [options]              send the day's reports to the domains' rua endpoints (RFC 8460 §5)
       mtasts report read [--json] FILE...       read reports received (.json, .json.gz, .eml; - for stdin)
       mtasts report SUBCOMMAND --help           the options of one
`;

/** `mtasts report read --help` is the subcommand's own help (main.js leaves --help to us). */
export const handlesHelp = true;

export async function run(argv, io) {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') {
    io.stdout.write(usage);
    return 0;
  }
  if (sub === undefined) throw new UsageError('report needs a subcommand: build, send or read');
  if (!Object.hasOwn(SUBCOMMANDS, sub)) throw new UsageError(`unknown report subcommand '${sub}' (build, send, read)`);
  const command = await SUBCOMMANDS[sub]();
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(command.usage);
    return 0;
  }
  return command.run(rest, io);
}
