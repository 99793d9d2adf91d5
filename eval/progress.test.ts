import { describe, expect, it } from 'vitest';
import { formatDuration, ProgressBar, progressLine } from './progress.ts';

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 200, write: (s: string) => writes.push(s) > 0 } as unknown as NodeJS.WritableStream & { isTTY: boolean } };
}

describe('progress', () => {
  it('formats durations', () => {
    expect(formatDuration(12_400)).toBe('12s');
    expect(formatDuration(245_000)).toBe('4m05s');
    expect(formatDuration(3_720_000)).toBe('1h02m');
    expect(formatDuration(Infinity)).toBe('?');
  });

  it('estimates the time left from this invocation\'s pace only', () => {
    // 40 samples were on disk already; 10 finished now in 20 s: 2 s each, 50 left.
    const line = progressLine({ done: 50, total: 100, finishedNow: 10, correctNow: 3, bench: 'aime24' }, 20_000);
    expect(line).toBe('[############............] 50/100 samples (50.0%) · aime24 · 2.0 s/sample · ETA 1m40s · acc 30.0%');
    expect(progressLine({ done: 0, total: 8, finishedNow: 0, correctNow: 0 }, 0)).toBe('[........................] 0/8 samples (0.0%)');
    expect(progressLine({ done: 1, total: 8, finishedNow: 1, correctNow: 0, retry: { attempt: 2, of: 5, inMs: 4000, error: 'fetch failed' } }, 500)).toContain(
      'backend error, retry 2/5 in 4s: fetch failed',
    );
  });

  it('redraws in place on a terminal and prints every 10 % elsewhere', () => {
    let now = 0;
    const tty = sink(true);
    const bar = new ProgressBar(tty.stream, () => now);
    for (let done = 1; done <= 20; done++) {
      now += 1000;
      bar.update({ done, total: 20, finishedNow: done, correctNow: 0 });
    }
    bar.finish();
    expect(tty.writes.every((w, i) => (i === tty.writes.length - 1 ? w === '\n' : w.startsWith('\r\x1b[2K')))).toBe(true);
    expect(tty.writes).toHaveLength(21);

    now = 0;
    const log = sink(false);
    const plain = new ProgressBar(log.stream, () => now);
    for (let done = 0; done <= 100; done++) {
      now += 100;
      plain.update({ done, total: 100, finishedNow: done, correctNow: 0 });
    }
    expect(log.writes).toHaveLength(11); // 0 %, 10 %, ..., 100 %
    expect(log.writes.every((w) => w.endsWith('\n'))).toBe(true);
  });
});
