/**
 * A one-line progress bar for hashing, drawn on a terminal stream with `\r` (at most 10 redraws a second) and
 * erased when done. `formatProgress` is pure, for tests.
 */

export interface ProgressStream {
  write(text: string): unknown;
  readonly columns?: number;
}

const MIB = 1024 * 1024;

export function formatProgress(label: string, done: number, total: number, width: number): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const pct = `${Math.floor(frac * 100)}`.padStart(3);
  const sizes = `${(done / MIB).toFixed(0)}/${(total / MIB).toFixed(0)} MiB`;
  const fixed = ` ${pct}% ${sizes}`;
  const name = label.length > 30 ? `…${label.slice(-29)}` : label;
  const barWidth = Math.max(10, Math.min(40, width - name.length - fixed.length - 4));
  const filled = Math.round(frac * barWidth);
  return `${name} [${"#".repeat(filled)}${" ".repeat(barWidth - filled)}]${fixed}`;
}

export interface ProgressBar {
  readonly onProgress: (done: number, total: number) => void;
  /** Erase the bar (call on success and on failure). */
  finish(): void;
}

/**
 * Draws nothing during the first `delayMs` (default 500 ms), so small files that hash quickly never show a bar;
 * large ones do.
 */
export function progressBar(
  stream: ProgressStream,
  label: string,
  opts: { now?: () => number; delayMs?: number } = {},
): ProgressBar {
  const now = opts.now ?? Date.now;
  const start = now();
  const delay = opts.delayMs ?? 500;
  let last = -Infinity;
  let drawn = false;
  return {
    onProgress(done, total) {
      const t = now();
      if (t - start < delay) return;
      if (done < total && t - last < 100) return;
      last = t;
      drawn = true;
      stream.write(`\r${formatProgress(label, done, total, stream.columns ?? 80)}`);
    },
    finish() {
      if (drawn) stream.write("\r\x1b[K");
      drawn = false;
    },
  };
}
