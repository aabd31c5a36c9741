// Survey progress on stderr: a bar redrawn in place on a terminal (done/total, rate, ETA, errors
// so far), a plain line now and then otherwise (a log file or CI), nothing with --quiet.

const BAR_WIDTH = 24;
const BAR_EVERY_MS = 200;
const LINE_EVERY_MS = 5000;

/**
 * @param {object} options
 * @param {{ write(s: string): void, isTTY?: boolean, columns?: number }} options.stream stderr
 * @param {boolean} [options.quiet]
 * @param {() => number} [options.now] milliseconds
 * @returns {{ total(n), update({ done, errors }), finish({ done, errors }) }}
 */
export function createProgress({ stream, quiet = false, now = () => performance.now() }) {
  if (quiet) return { total() {}, update() {}, finish() {} };
  const started = now();
  const tty = stream.isTTY === true;
  let total = null;
  let shown = -Infinity;
  const text = ({ done, errors }) => {
    const seconds = (now() - started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const of = total === null ? `${done}` : `${done}/${total}`;
    const eta = total !== null && rate > 0 && done < total ? ` ETA ${duration((total - done) / rate)}` : '';
    return `${of} domains, ${rate.toFixed(1)}/s${eta}, ${errors} error${errors === 1 ? '' : 's'}`;
  };
  const bar = (done) => {
    if (total === null || total === 0) return '';
    const filled = Math.round((BAR_WIDTH * Math.min(done, total)) / total);
    return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${String(Math.floor((100 * done) / total)).padStart(3)}% `;
  };
  const draw = (state) => {
    const line = `${bar(state.done)}${text(state)}`;
    const width = stream.columns > 0 ? stream.columns - 1 : 79; // a pty of unknown size says 0
    stream.write(`\r${line.slice(0, width).padEnd(width)}`);
  };
  return {
    total(n) {
      total = n;
    },
    update(state) {
      const t = now();
      if (t - shown < (tty ? BAR_EVERY_MS : LINE_EVERY_MS)) return;
      shown = t;
      if (tty) draw(state);
      else stream.write(`survey: ${text(state)}\n`);
    },
    finish(state) {
      if (tty) {
        draw(state);
        stream.write('\n');
      } else stream.write(`survey: ${text(state)} in ${duration((now() - started) / 1000)}\n`);
    },
  };
}

/** 75 → "1m15s". */
export function duration(seconds) {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
