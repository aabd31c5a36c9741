// Terminal colour for the CLI's human output: only on a terminal, never when NO_COLOR is set
// (https://no-color.org) or --no-color is given.

export const plain = { red: String, yellow: String, green: String, bold: String, dim: String };

/**
 * @param {{ stdout: { isTTY?: boolean }, env: object }} io
 * @param {{ noColor?: boolean }} [options]
 */
export function painter(io, { noColor = false } = {}) {
  if (noColor || !io.stdout.isTTY || io.env.NO_COLOR) return plain;
  const sgr = (open, close) => (s) => `\x1b[${open}m${s}\x1b[${close}m`;
  return { red: sgr(31, 39), yellow: sgr(33, 39), green: sgr(32, 39), bold: sgr(1, 22), dim: sgr(2, 22) };
}

/** The step marks: ✓ good, ✗ wrong, ! worth knowing. */
export function marks(paint) {
  return { ok: paint.green('✓'), bad: paint.red('✗'), note: paint.yellow('!') };
}
