import { CASES, type GradeCase } from '../api/grading/cases.ts';
import { grade } from '../api/grading/index.ts';
import { percentile, table } from './stats.ts';

/** The baseline: normalised string equality, what a grader without parsing would do. */
function stringEqual(gold: string, pred: string): boolean {
  const norm = (s: string) => s.replace(/\\left|\\right|\$|\s/g, '').replace(/\\[dt]frac/g, '\\frac').toLowerCase();
  return norm(gold) === norm(pred);
}

/** A code-integrated response around the pred, so extraction is measured too. */
const asResponse = (pred: string) =>
  `Let me compute this.\n\`\`\`python\nprint(6 * 7)\n\`\`\`\n\`\`\`output\n42\n\`\`\`\nSo the final answer is $\\boxed{${pred}}$.`;

interface Run {
  name: string;
  accuracy: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
}

/** Runs `check` over the table for at least `seconds`, single-threaded, timing every call. */
function run(name: string, cases: GradeCase[], check: (c: GradeCase) => boolean, seconds: number): Run {
  // Warm-up, so the figures are steady-state: JIT tiers and lazily built tables.
  const warm = performance.now();
  while (performance.now() - warm < 1000) for (const c of cases) check(c);
  const latencies: number[] = [];
  let correct = 0;
  const t0 = performance.now();
  let passes = 0;
  do {
    for (const c of cases) {
      const t = performance.now();
      const equal = check(c);
      latencies.push(performance.now() - t);
      if (passes === 0 && equal === c.equal) correct++;
    }
    passes++;
  } while (performance.now() - t0 < seconds * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    name,
    accuracy: correct / cases.length,
    perSecond: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1]!,
  };
}

/** `npm run bench grading`: pairs/s and latency of the grader over the case table, against string equality. */
export async function benchGrading(): Promise<void> {
  const baseline = run('normalised string equality (baseline)', CASES, (c) => stringEqual(c.gold, c.pred), 1);
  const runs = [
    baseline,
    run('grade(gold, { answer })', CASES, (c) => grade(c.gold, { answer: c.pred }).equal, 4),
    run('grade(gold, { response }) with code blocks', CASES, (c) => grade(c.gold, { response: asResponse(c.pred) }).equal, 4),
  ];
  console.log(`${CASES.length} gold/pred pairs (${CASES.filter((c) => !c.equal).length} near misses), one core, in-process; targets: p99 < 5 ms, >= 2,000 pairs/s`);
  console.log(
    table(
      ['grader', 'accuracy', 'pairs/s', 'p50 ms', 'p99 ms', 'max ms', 'throughput vs baseline'],
      runs.map((r) => [r.name, `${(r.accuracy * 100).toFixed(1)}%`, r.perSecond, r.p50.toFixed(3), r.p99.toFixed(3), r.max.toFixed(2), `${(r.perSecond / baseline.perSecond).toFixed(4)}x`]),
    ),
  );
}
