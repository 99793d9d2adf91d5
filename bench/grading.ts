/**
 * `npm run bench grading`: the grader against the grader this work started from (api/grading at
 * BASELINE_COMMIT, taken from git history into a temporary folder), pair by pair in the same run:
 * accuracy on the case tables, and the time of every pair under both, as ratios. Target: the
 * current grader no more than 1.5x slower than the baseline.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CASES, MODEL_WRITTEN_CATEGORIES } from '../api/grading/cases.ts';
import { grade, type GradePrediction } from '../api/grading/index.ts';
import { RESPONSE_CASES } from '../api/grading/response-cases.ts';
import { percentile, table } from './stats.ts';

/** The commit the grader accuracy work (issue 18) branched from. */
const BASELINE_COMMIT = '6039c62';
/** Most the current grader may take per pair, as a multiple of the baseline's time. */
const TARGET_RATIO = 1.5;

type Grade = (gold: string, pred: GradePrediction) => { equal: boolean };

interface Pair {
  set: string;
  category: string;
  gold: string;
  pred: GradePrediction;
  equal: boolean;
}

/** A code-integrated response around the pred, so extraction is measured too. */
const asResponse = (pred: string) =>
  `Let me compute this.\n\`\`\`python\nprint(6 * 7)\n\`\`\`\n\`\`\`output\n42\n\`\`\`\nSo the final answer is $\\boxed{${pred}}$.`;

function pairs(): Pair[] {
  const issue = (category: string) => (MODEL_WRITTEN_CATEGORIES.has(category) ? 'issue 18 answers' : 'answer table');
  return [
    ...CASES.map((c) => ({ set: issue(c.category), category: c.category, gold: c.gold, pred: { answer: c.pred }, equal: c.equal })),
    ...CASES.map((c) => ({ set: `${issue(c.category)} in responses`, category: c.category, gold: c.gold, pred: { response: asResponse(c.pred) }, equal: c.equal })),
    ...RESPONSE_CASES.map((c) => ({ set: 'issue 18 responses', category: c.category, gold: c.gold, pred: { response: c.pred }, equal: c.equal })),
  ];
}

/**
 * api/grading as of `commit`, written out of git history beside a link to this checkout's
 * node_modules (its mathjs and fraction.js), and imported; `dispose` removes the folder.
 */
async function graderAt(commit: string): Promise<{ grade: Grade; dispose: () => Promise<void> }> {
  const repo = resolve(import.meta.dirname, '..');
  const dir = await mkdtemp(join(tmpdir(), `cir-bench-grader-${commit}-`));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    const archive = execFileSync('git', ['-C', repo, 'archive', commit, 'api/grading'], { maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
    execFileSync('tar', ['-x', '-C', dir], { input: archive });
    await symlink(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const module = (await import(pathToFileURL(join(dir, 'api/grading/index.ts')).href)) as { grade: Grade };
    return { grade: module.grade, dispose };
  } catch (e) {
    await dispose();
    const detail = (e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message;
    throw new Error(`bench grading compares against the grader at ${commit}, read from git history; it needs a clone with that commit: ${detail}`);
  }
}

/**
 * The time of one call per pair under each grader: `rounds` rounds, each timing `reps` calls of
 * every pair under both graders back to back (the order alternating by round), the fastest round
 * kept: on a shared machine load only ever adds time, so the minimum is the steadiest estimate.
 */
function timePairs(list: Pair[], graders: Grade[], rounds: number, reps: number): number[][] {
  const samples = graders.map(() => list.map((): number[] => []));
  for (let round = 0; round < rounds; round++) {
    list.forEach((pair, i) => {
      const order = round % 2 === 0 ? graders.map((_, k) => k) : graders.map((_, k) => graders.length - 1 - k);
      for (const k of order) {
        const t = performance.now();
        for (let r = 0; r < reps; r++) graders[k]!(pair.gold, pair.pred);
        samples[k]![i]!.push((performance.now() - t) / reps);
      }
    });
  }
  return samples.map((perPair) => perPair.map((s) => Math.min(...s)));
}

const accuracy = (list: Pair[], g: Grade) => list.filter((p) => g(p.gold, p.pred).equal === p.equal).length / list.length;
const percent = (x: number) => `${(x * 100).toFixed(1)}%`;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

export async function benchGrading(): Promise<void> {
  const baseline = await graderAt(BASELINE_COMMIT);
  try {
    const list = pairs();
    const graders: Grade[] = [baseline.grade, grade];
    const names = [`grader at ${BASELINE_COMMIT} (baseline)`, 'grader now'];

    const sets = [...new Set(list.map((p) => p.set))];
    console.log(`${list.length} gold/pred pairs (${list.filter((p) => !p.equal).length} must stay not equal), one core, in-process, mode math-verify`);
    console.log(table(
      ['cases', 'pairs', ...names],
      sets.map((set) => {
        const rows = list.filter((p) => p.set === set);
        return [set, String(rows.length), ...graders.map((g) => percent(accuracy(rows, g)))];
      }),
    ));
    // Where the two disagree, by category: what the work fixed (and anything it broke).
    const changed = [...new Set(list.map((p) => `${p.set}: ${p.category}`))].flatMap((key) => {
      const rows = list.filter((p) => `${p.set}: ${p.category}` === key);
      const [before, after] = graders.map((g) => accuracy(rows, g));
      return before === after ? [] : [[key, String(rows.length), percent(before!), percent(after!)]];
    });
    if (changed.length > 0) console.log(`\naccuracy by category where they differ\n${table(['category', 'pairs', 'baseline', 'now'], changed)}`);

    // Warm-up, so both are timed in steady state (JIT tiers, lazily built tables).
    const warm = performance.now();
    while (performance.now() - warm < 1500) for (const g of graders) for (const p of list) g(p.gold, p.pred);
    const [before, after] = timePairs(list, graders, 7, 5) as [number[], number[]];
    const ratios = after.map((t, i) => t / before[i]!).sort((a, b) => a - b);
    const rows = sets.map((set) => {
      const idx = list.flatMap((p, i) => (p.set === set ? [i] : []));
      const [b, a] = [sum(idx.map((i) => before[i]!)), sum(idx.map((i) => after[i]!))];
      return [set, (idx.length / b) * 1000, (idx.length / a) * 1000, `${(a / b).toFixed(2)}x`];
    });
    const total = sum(after) / sum(before);
    rows.push(['all pairs', (list.length / sum(before)) * 1000, (list.length / sum(after)) * 1000, `${total.toFixed(2)}x`]);
    console.log(`\ntime per pair, now / baseline (fastest of 7 rounds of 5 calls each, both graders back to back per pair)`);
    console.log(table(['cases', 'baseline pairs/s', 'now pairs/s', 'time ratio'], rows));
    const sortedBefore = [...before].sort((a, b) => a - b);
    const sortedAfter = [...after].sort((a, b) => a - b);
    console.log(table(
      ['per pair', 'p50', 'p90', 'p99', 'max'],
      [
        ['baseline ms', ...[50, 90, 99, 100].map((p) => percentile(sortedBefore, p).toFixed(3))],
        ['now ms', ...[50, 90, 99, 100].map((p) => percentile(sortedAfter, p).toFixed(3))],
        ['ratio now / baseline', ...[50, 90, 99, 100].map((p) => `${percentile(ratios, p).toFixed(2)}x`)],
      ],
    ));
    const verdict = total <= TARGET_RATIO && percentile(ratios, 50) <= TARGET_RATIO ? 'met' : 'MISSED';
    console.log(`target: no more than ${TARGET_RATIO}x the baseline's time (all pairs, and the median pair): ${verdict}`);
  } finally {
    await baseline.dispose();
  }
}
