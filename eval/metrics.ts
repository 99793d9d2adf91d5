/**
 * Evaluation metrics, computed from sample records only (pure; no I/O), the way the
 * code-integrated reasoning papers report them:
 *
 * - greedy accuracy: share of problems whose one greedy sample is correct;
 * - avg@k: per problem the share of its k samples that are correct, averaged over problems;
 * - pass@k: the unbiased estimator of Chen et al. (2021), 1 − C(n−c, k) / C(n, k) per problem
 *   with n samples of which c are correct, averaged over problems (only problems with n ≥ k);
 * - breakdowns by subject and level (problem-averaged, like avg@k);
 * - tool use: executions per solution, execution error rate, share of solutions that ran code,
 *   accuracy with vs without code, response length, accuracy of solutions that hit an execution
 *   error (error feedback), and accuracy by number of executions.
 */
import { EXEC_ERROR_STATUSES, type SampleRecord } from './record.ts';

/**
 * Unbiased pass@k from n samples with c correct: the probability that k samples drawn without
 * replacement from the n contain at least one correct. Computed as a running product so large
 * n does not overflow. Throws on k > n or c out of [0, n].
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(c) || !Number.isInteger(k) || k < 1 || n < 1) {
    throw new RangeError(`pass@k needs integers n ≥ 1, k ≥ 1; got n=${n}, c=${c}, k=${k}`);
  }
  if (k > n) throw new RangeError(`pass@${k} needs at least ${k} samples, got ${n}`);
  if (c < 0 || c > n) throw new RangeError(`correct count ${c} outside [0, ${n}]`);
  if (n - c < k) return 1;
  // C(n−c, k) / C(n, k) = Π_{i=n−c+1}^{n} (1 − k / i)
  let allWrong = 1;
  for (let i = n - c + 1; i <= n; i++) allWrong *= 1 - k / i;
  return 1 - allWrong;
}

/** The k values pass@k is reported for: powers of two below k, and k. */
export function passKs(k: number): number[] {
  const ks: number[] = [];
  for (let p = 1; p < k; p *= 2) ks.push(p);
  ks.push(k);
  return ks;
}

export interface GroupStat {
  key: string;
  problems: number;
  samples: number;
  /** Mean over problems of the share of their samples that are correct. */
  accuracy: number;
}

export interface CallsBucket {
  /** Executions in the solution. */
  calls: number;
  samples: number;
  accuracy: number;
}

export interface ToolUseStats {
  /** Samples that ran (those that could not be generated are not part of tool use). */
  samples: number;
  /** Mean executions per solution. */
  calls_per_solution: number;
  executions: number;
  exec_errors: number;
  /** Failed executions / executions; null without executions. */
  exec_error_rate: number | null;
  /** Share of solutions that ran code at least once. */
  code_usage_rate: number;
  samples_with_code: number;
  samples_without_code: number;
  accuracy_with_code: number | null;
  accuracy_without_code: number | null;
  /** Mean generated tokens per solution (tool output excluded), overall and by correctness / code use. */
  response_tokens: { mean: number; correct: number | null; incorrect: number | null; with_code: number | null; without_code: number | null };
  /** Mean tool-output tokens per solution. */
  tool_tokens_mean: number;
  /** Solutions in which at least one execution failed, and how many of them still ended correct. */
  samples_with_exec_error: number;
  accuracy_after_exec_error: number | null;
  /** Code blocks not run because the tool budget was spent. */
  skipped_calls: number;
  by_calls: CallsBucket[];
}

export interface BenchmarkMetrics {
  name: string;
  /** Problems in the plan (after --limit) and problems with at least one / all k samples. */
  problems: number;
  problems_evaluated: number;
  problems_complete: number;
  samples: number;
  /** The headline figure: greedy accuracy, or avg@k. Over evaluated problems; null when none. */
  accuracy: number | null;
  /** pass@k for each k in passKs(k), over problems with at least k samples (sampled runs only). */
  pass_at_k: Record<string, number | null>;
  by_subject: GroupStat[];
  by_level: GroupStat[];
  tool_use: ToolUseStats;
  /** Samples that could not be generated (e.g. prompt longer than the context), counted as wrong. */
  errors: number;
  finish_reasons: Record<string, number>;
}

export interface EvalMetrics {
  mode: 'greedy' | 'sampled';
  k: number;
  /** "accuracy" (greedy) or "avg@k". */
  metric: string;
  benchmarks: BenchmarkMetrics[];
  /** Unweighted mean over benchmarks with results (the papers' "Avg." column). */
  average: { accuracy: number | null; pass_at_k: Record<string, number | null>; benchmarks: number };
  tool_use: ToolUseStats;
}

const mean = (xs: readonly number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const share = (rs: readonly SampleRecord[]): number | null => mean(rs.map((r) => (r.correct ? 1 : 0)));

function byProblem(records: readonly SampleRecord[]): Map<string, SampleRecord[]> {
  const groups = new Map<string, SampleRecord[]>();
  for (const r of records) {
    const key = `${r.bench}\u0000${r.id}`;
    const list = groups.get(key);
    if (list) list.push(r);
    else groups.set(key, [r]);
  }
  return groups;
}

/** Problem-averaged accuracy per value of `keyOf` (problems without a value are left out). */
export function groupAccuracy(records: readonly SampleRecord[], keyOf: (r: SampleRecord) => string | undefined): GroupStat[] {
  const groups = new Map<string, SampleRecord[][]>();
  for (const samples of byProblem(records).values()) {
    const key = keyOf(samples[0]!);
    if (key === undefined) continue;
    groups.set(key, [...(groups.get(key) ?? []), samples]);
  }
  return [...groups.entries()]
    .map(([key, problems]) => ({
      key,
      problems: problems.length,
      samples: problems.reduce((a, p) => a + p.length, 0),
      accuracy: mean(problems.map((p) => share(p)!))!,
    }))
    .sort((a, b) => naturalCompare(a.key, b.key));
}

/** "Level 2" before "Level 10". */
function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** Tool-use figures over the samples that ran (samples that could not be generated are left out). */
export function toolUseStats(all: readonly SampleRecord[]): ToolUseStats {
  const records = all.filter((r) => r.error === undefined);
  const withCode = records.filter((r) => r.tool_calls > 0);
  const withoutCode = records.filter((r) => r.tool_calls === 0);
  const withError = records.filter((r) => r.exec_errors > 0);
  const executions = records.reduce((a, r) => a + r.tool_calls, 0);
  const execErrors = records.reduce((a, r) => a + r.exec_errors, 0);
  const tokens = (rs: readonly SampleRecord[]) => mean(rs.map((r) => r.response_tokens));
  const buckets = new Map<number, SampleRecord[]>();
  for (const r of records) buckets.set(r.tool_calls, [...(buckets.get(r.tool_calls) ?? []), r]);
  return {
    samples: records.length,
    calls_per_solution: mean(records.map((r) => r.tool_calls)) ?? 0,
    executions,
    exec_errors: execErrors,
    exec_error_rate: executions ? execErrors / executions : null,
    code_usage_rate: records.length ? withCode.length / records.length : 0,
    samples_with_code: withCode.length,
    samples_without_code: withoutCode.length,
    accuracy_with_code: share(withCode),
    accuracy_without_code: share(withoutCode),
    response_tokens: {
      mean: tokens(records) ?? 0,
      correct: tokens(records.filter((r) => r.correct)),
      incorrect: tokens(records.filter((r) => !r.correct)),
      with_code: tokens(withCode),
      without_code: tokens(withoutCode),
    },
    tool_tokens_mean: mean(records.map((r) => r.tool_tokens)) ?? 0,
    samples_with_exec_error: withError.length,
    accuracy_after_exec_error: share(withError),
    skipped_calls: records.reduce((a, r) => a + r.tool_statuses.filter((s) => s === 'skipped').length, 0),
    by_calls: [...buckets.entries()]
      .sort(([a], [b]) => a - b)
      .map(([calls, rs]) => ({ calls, samples: rs.length, accuracy: share(rs)! })),
  };
}

/** Failed executions among a record's statuses (what `exec_errors` of a record holds). */
export function countExecErrors(statuses: readonly string[]): number {
  return statuses.filter((s) => EXEC_ERROR_STATUSES.has(s)).length;
}

export function benchmarkMetrics(name: string, plannedProblems: number, records: readonly SampleRecord[], k: number, greedy: boolean): BenchmarkMetrics {
  const problems = [...byProblem(records).values()];
  const passAt: Record<string, number | null> = {};
  if (!greedy) {
    for (const kk of passKs(k)) {
      const eligible = problems.filter((p) => p.length >= kk);
      passAt[`pass@${kk}`] = mean(eligible.map((p) => passAtK(p.length, p.filter((r) => r.correct).length, kk)));
    }
  }
  const finish: Record<string, number> = {};
  for (const r of records) finish[r.finish_reason] = (finish[r.finish_reason] ?? 0) + 1;
  return {
    name,
    problems: plannedProblems,
    problems_evaluated: problems.length,
    problems_complete: problems.filter((p) => p.length >= k).length,
    samples: records.length,
    accuracy: mean(problems.map((p) => share(p)!)),
    pass_at_k: passAt,
    by_subject: groupAccuracy(records, (r) => r.subject),
    by_level: groupAccuracy(records, (r) => r.level),
    tool_use: toolUseStats(records),
    errors: records.filter((r) => r.error !== undefined).length,
    finish_reasons: finish,
  };
}

/**
 * Every metric of a run. `plan` lists the benchmarks in report order with their planned problem
 * counts; records of benchmarks not in the plan are ignored.
 */
export function computeMetrics(records: readonly SampleRecord[], plan: { benchmarks: readonly { name: string; problems: number }[]; k: number; greedy: boolean }): EvalMetrics {
  const k = plan.greedy ? 1 : plan.k;
  const names = new Set(plan.benchmarks.map((b) => b.name));
  const relevant = records.filter((r) => names.has(r.bench));
  const benchmarks = plan.benchmarks.map((b) => benchmarkMetrics(b.name, b.problems, relevant.filter((r) => r.bench === b.name), k, plan.greedy));
  const scored = benchmarks.filter((b) => b.accuracy !== null);
  const averagePass: Record<string, number | null> = {};
  for (const key of Object.keys(benchmarks[0]?.pass_at_k ?? {})) {
    averagePass[key] = mean(benchmarks.flatMap((b) => (b.pass_at_k[key] == null ? [] : [b.pass_at_k[key]!])));
  }
  return {
    mode: plan.greedy ? 'greedy' : 'sampled',
    k,
    metric: plan.greedy ? 'accuracy' : `avg@${k}`,
    benchmarks,
    average: { accuracy: mean(scored.map((b) => b.accuracy!)), pass_at_k: averagePass, benchmarks: scored.length },
    tool_use: toolUseStats(relevant),
  };
}
