// Command-line usage errors: the one kind of CLI failure that exits 2 with a hint to --help.

import { parseArgs } from 'node:util';

/** A mistake on the command line, or a local problem (unreadable file): printed as one line, exit 2. */
export class UsageError extends Error {
  constructor(message) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * node:util parseArgs in strict mode, with its errors reworded as one short UsageError line.
 * `options` is parseArgs' option table; `--help`/`-h` is always accepted.
 */
export function parseCommandLine(args, options) {
  try {
    return parseArgs({
      args,
      options: { help: { type: 'boolean', short: 'h' }, ...options },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(reword(err));
  }
}

function reword(err) {
  const option = /'(-[^' ]*)/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option ?? err.message}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return option ? `option ${option} needs a value` : err.message;
    default:
      return err.message;
  }
}

/** Why a file could not be read, in a few words (`cannot read FILE: no such file`). */
export function fileProblem(err) {
  switch (err.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'is a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    default:
      return err.code ? err.code.toLowerCase() : err.message;
  }
}

/** A whole-number flag within [min, max], or undefined when not given. */
export function integer(text, flag, min, max) {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${flag} needs a whole number from ${min} to ${max}, found ${JSON.stringify(text)}`);
  }
  return Number(text);
}
