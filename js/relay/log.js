// The relay's structured log (pino): one JSON object per line, on stdout or in a file.
// Each delivery attempt is one line with `event: "delivery"` (see session.js for its fields).

import { lazyPeerDependency } from '../peer-dependency.js';

const pino = lazyPeerDependency('pino', 'the relay and socketmap log');

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * @param {object} options
 * @param {string} [options.level] one of LOG_LEVELS (default info)
 * @param {string} [options.file] append to this file instead of stdout
 * @param {{ write(line: string): void }} [options.stream] write lines here instead (tests, embedding)
 */
export function createLogger({ level = 'info', file, stream } = {}) {
  const destination = stream ?? pino.destination({ dest: file ?? 1, sync: false, mkdir: Boolean(file), append: true });
  const logger = pino(
    {
      level,
      base: { pid: process.pid, name: 'mtasts-relay' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  logger.close = () =>
    new Promise((resolve) => {
      try {
        destination.flushSync?.();
      } catch {
        // not ready yet, or already closed: nothing to flush
      }
      resolve();
    });
  return logger;
}
