import type { ServedModel } from '../api/models/served.ts';
import { solveProblem } from '../api/reasoning/index.ts';
import type { SampleResult } from '../api/reasoning/types.ts';
import type { Sandbox } from '../api/sandbox/index.ts';
import type { Problem } from './tasks/generate.ts';

/**
 * Accuracy of a served model on problems through the real rollout loop (solveProblem: the
 * model's chat template, the sandbox, the loop's feedback and budget, the grader). "Without tools"
 * is the same loop with a tool budget of 0: any code block is refused with the loop's budget
 * message and the model must answer directly; nothing is executed.
 */

export interface EvalOptions {
  /** Tool calls allowed per sample; 0 = without tools. */
  budget: number;
  /** Samples per problem (default 1); accuracy is over all samples. */
  n?: number;
  /** Default 0 (greedy). */
  temperature?: number;
  /** Generated tokens per sample, over all turns (default 768). */
  maxTokens?: number;
  /** Problems solved at once (default 4). */
  concurrency?: number;
  seed?: number;
  signal?: AbortSignal;
  onProblem?: (done: number, total: number) => void;
}

export interface Breakdown {
  samples: number;
  accuracy: number;
}

export interface EvalReport {
  budget: number;
  samples: number;
  accuracy: number;
  /** Share of samples that ran at least one code block. */
  toolCallRate: number;
  toolCallsPerSample: number;
  /** Share of samples with a \boxed{} (or other extractable) final answer. */
  answerRate: number;
  meanCompletionTokens: number;
  finishReasons: Record<string, number>;
  byKind: Record<string, Breakdown>;
  byLevel: Record<string, Breakdown>;
  /** By phrasing set: on `heldout`, `rl` phrasings are the ones the warm start never saw. */
  byPhrasingSet: Record<string, Breakdown>;
  /** Share of each problem's samples that are correct, by problem id: what pairedDifference compares. */
  perProblem: Record<string, number>;
  seconds: number;
  /** Model tokens generated per second over the whole evaluation (concurrent solves included). */
  tokensPerSecond: number;
}

interface Scored {
  problem: Problem;
  sample: SampleResult;
}

function breakdown(rows: readonly Scored[], key: (p: Problem) => string): Record<string, Breakdown> {
  const groups = new Map<string, Scored[]>();
  for (const row of rows) {
    const k = key(row.problem);
    groups.set(k, [...(groups.get(k) ?? []), row]);
  }
  return Object.fromEntries(
    [...groups].sort(([a], [b]) => a.localeCompare(b)).map(([k, xs]) => [k, { samples: xs.length, accuracy: xs.filter((x) => x.sample.correct).length / xs.length }]),
  );
}

export async function evaluate(served: ServedModel, sandbox: Sandbox, problems: readonly Problem[], options: EvalOptions): Promise<EvalReport> {
  const started = performance.now();
  const rows: Scored[] = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < problems.length) {
      const problem = problems[next++]!;
      const result = await solveProblem(
        served,
        sandbox,
        {
          problem: problem.text,
          gold: problem.answer,
          n: options.n ?? 1,
          maxToolCalls: options.budget,
          temperature: options.temperature ?? 0,
          maxTokens: options.maxTokens ?? 768,
          seed: options.seed,
          tags: { split: problem.split, kind: problem.kind, problem_id: problem.id },
        },
        { signal: options.signal },
      );
      for (const sample of result.samples) rows.push({ problem, sample });
      options.onProblem?.(++done, problems.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  const samples = rows.map((r) => r.sample);
  const count = Math.max(1, samples.length);
  const perProblem: Record<string, number> = Object.fromEntries(problems.map((p) => [p.id, 0]));
  for (const { problem, sample } of rows) if (sample.correct) perProblem[problem.id]! += 1 / (options.n ?? 1);
  const seconds = (performance.now() - started) / 1000;
  const completionTokens = samples.reduce((s, x) => s + x.usage.completionTokens, 0);
  const finishReasons: Record<string, number> = {};
  for (const s of samples) finishReasons[s.finishReason] = (finishReasons[s.finishReason] ?? 0) + 1;
  return {
    budget: options.budget,
    samples: samples.length,
    accuracy: samples.filter((s) => s.correct).length / count,
    toolCallRate: samples.filter((s) => s.toolCalls.used > 0).length / count,
    toolCallsPerSample: samples.reduce((s, x) => s + x.toolCalls.used, 0) / count,
    answerRate: samples.filter((s) => s.finalAnswer !== null).length / count,
    meanCompletionTokens: completionTokens / count,
    finishReasons,
    byKind: breakdown(rows, (p) => p.kind),
    byLevel: breakdown(rows, (p) => String(p.level)),
    byPhrasingSet: breakdown(rows, (p) => p.phrasingSet),
    perProblem,
    seconds,
    tokensPerSecond: completionTokens / Math.max(seconds, 1e-9),
  };
}

export interface PairedDifference {
  problems: number;
  /** Mean over problems of (accuracy of `after` − accuracy of `before`), in points. */
  points: number;
  /** 95% confidence interval of `points` (normal approximation over problems), in points. */
  ci95: [number, number];
  /** Problems only `after` / only `before` solved more often. */
  better: number;
  worse: number;
}

/**
 * Paired comparison of two evaluations of the same problems (e.g. a model before and after RL):
 * the per-problem difference, its mean and a 95% interval. Pairing removes the problem-to-problem
 * spread, which dominates the noise of two unpaired accuracies on a few hundred problems.
 */
export function pairedDifference(before: Readonly<Record<string, number>>, after: Readonly<Record<string, number>>): PairedDifference {
  const ids = Object.keys(before);
  const missing = ids.filter((id) => !(id in after));
  if (missing.length > 0 || ids.length !== Object.keys(after).length) throw new Error(`the two evaluations cover different problems (e.g. ${missing[0] ?? 'an extra one'})`);
  const diffs = ids.map((id) => after[id]! - before[id]!);
  const n = Math.max(1, diffs.length);
  const mean = diffs.reduce((a, b) => a + b, 0) / n;
  const variance = diffs.length > 1 ? diffs.reduce((a, d) => a + (d - mean) ** 2, 0) / (diffs.length - 1) : 0;
  const half = 1.96 * Math.sqrt(variance / n);
  const points = (x: number) => Math.round(x * 1000) / 10;
  return {
    problems: diffs.length,
    points: points(mean),
    ci95: [points(mean - half), points(mean + half)],
    better: diffs.filter((d) => d > 0).length,
    worse: diffs.filter((d) => d < 0).length,
  };
}
