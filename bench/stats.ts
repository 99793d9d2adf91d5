/** Small helpers every bench suite uses: percentiles, timed loops, aligned tables. */

export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return NaN;
  const i = Math.min(sortedMs.length - 1, Math.max(0, Math.ceil((p / 100) * sortedMs.length) - 1));
  return sortedMs[i]!;
}

export interface LoadResult {
  count: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/**
 * Runs `task` from `concurrency` loops until `count` calls finished (or `maxSeconds` passed),
 * recording each call's latency. A call that throws or returns false counts as an error.
 */
export async function measure(
  task: () => Promise<boolean | void>,
  { count, concurrency, maxSeconds = 30, warmup = Math.min(20, count) }: { count: number; concurrency: number; maxSeconds?: number; warmup?: number },
): Promise<LoadResult> {
  for (let i = 0; i < warmup; i++) await task();
  const latencies: number[] = [];
  let errors = 0;
  let started = 0;
  const t0 = performance.now();
  const deadline = t0 + maxSeconds * 1000;
  const loop = async () => {
    while (started < count && performance.now() < deadline) {
      started++;
      const t = performance.now();
      let ok: boolean | void = false;
      try {
        ok = await task();
      } catch {
        ok = false;
      }
      latencies.push(performance.now() - t);
      if (ok === false) errors++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { count: latencies.length, errors, seconds, perSecond: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: (string | number)[]) => r.map((c, i) => String(c).padEnd(widths[i]!)).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** The middle value (the upper one of the two middles for an even count). */
export function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}
