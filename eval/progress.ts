import type { EvalProgress } from './runner.ts';

/** "1h02m", "4m05s", "12s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/**
 * The progress line: done/total, rate, ETA from this invocation's pace (resumed samples do not
 * count towards the rate), running accuracy of this invocation, and a retry notice when paused.
 */
export function progressLine(p: EvalProgress, elapsedMs: number, width = 24): string {
  const fraction = p.total ? p.done / p.total : 1;
  const filled = Math.round(fraction * width);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  const parts = [`${bar} ${p.done}/${p.total} samples (${(fraction * 100).toFixed(1)}%)`];
  if (p.bench) parts.push(p.bench);
  if (p.finishedNow > 0) {
    const perSample = elapsedMs / p.finishedNow;
    parts.push(`${perSample >= 1000 ? `${(perSample / 1000).toFixed(1)} s` : `${Math.round(perSample)} ms`}/sample`);
    parts.push(`ETA ${formatDuration(perSample * (p.total - p.done))}`);
    parts.push(`acc ${((p.correctNow / p.finishedNow) * 100).toFixed(1)}%`);
  }
  if (p.retry) parts.push(`backend error, retry ${p.retry.attempt}/${p.retry.of} in ${formatDuration(p.retry.inMs)}: ${p.retry.error}`);
  return parts.join(' · ');
}

/**
 * Draws progress on a stream (stderr). On a terminal it redraws one line in place, at most 10
 * times a second; elsewhere (logs, CI) it prints a line at every 10 % step or every 30 s, and
 * every retry notice.
 */
export class ProgressBar {
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  private readonly now: () => number;
  private readonly started: number;
  private lastDraw = 0;
  private lastStep = -1;
  private drawn = false;

  constructor(stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }, now: () => number = Date.now) {
    this.stream = stream;
    this.now = now;
    this.started = now();
  }

  update(p: EvalProgress): void {
    const t = this.now();
    const line = progressLine(p, t - this.started);
    if (this.stream.isTTY) {
      if (t - this.lastDraw < 100 && p.done < p.total && !p.retry) return;
      const columns = this.stream.columns ?? 120;
      this.stream.write(`\r\x1b[2K${line.length > columns - 1 ? `${line.slice(0, columns - 2)}…` : line}`);
      this.drawn = true;
    } else {
      const step = p.total ? Math.floor((p.done / p.total) * 10) : 10;
      if (step === this.lastStep && t - this.lastDraw < 30_000 && !p.retry) return;
      this.lastStep = step;
      this.stream.write(`${line}\n`);
    }
    this.lastDraw = t;
  }

  /** Ends the in-place line so later output starts on a fresh one. */
  finish(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
