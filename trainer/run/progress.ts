/**
 * Progress on stderr. On a terminal: one bar redrawn in place (`\r`), at most ~10 times a second.
 * Elsewhere (a log file, CI): plain lines, one when a phase starts, at each quarter and at its end,
 * so logs stay readable.
 */
export class Progress {
  private lastDraw = 0;
  private drawn = false;
  private lastQuarter = new Map<string, number>();
  private readonly tty: boolean;

  constructor(private readonly out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }) {
    this.tty = out.isTTY === true;
  }

  /** Shows `label` at done/total (total 0: a counter without a bar). */
  update(label: string, done: number, total: number, detail = ''): void {
    if (this.tty) {
      const now = Date.now();
      if (now - this.lastDraw < 100 && done < total) return;
      this.lastDraw = now;
      const width = Math.max(10, Math.min(30, (this.out.columns ?? 80) - label.length - detail.length - 20));
      const filled = total > 0 ? Math.round((Math.min(done, total) / total) * width) : 0;
      const bar = total > 0 ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}` : `${done}`;
      this.out.write(`\r\x1b[2K${label} ${bar}${detail ? `  ${detail}` : ''}`);
      this.drawn = true;
      return;
    }
    const quarter = total > 0 ? Math.floor((Math.min(done, total) / total) * 4) : done === 0 ? 0 : -1;
    if (quarter < 0 || this.lastQuarter.get(label) === quarter) return;
    this.lastQuarter.set(label, quarter);
    this.out.write(`${label} ${total > 0 ? `${done}/${total}` : done}${detail ? `  ${detail}` : ''}\n`);
  }

  /** A line of its own (clears a bar in progress first). */
  line(text: string): void {
    this.clear();
    this.out.write(`${text}\n`);
  }

  /** Ends the bar in progress (keeps it on screen). */
  clear(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
    this.lastQuarter.clear();
  }
}
