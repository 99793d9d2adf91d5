import { solveProblem, SolveInputError, type ReasoningSettings, type SampleResult, type SolveOptions, type SolveRequest, type SolveResult } from '../api/reasoning/index.ts';
import { RemoteModelError } from '../api/models/openai/client.ts';
import type { ServedModel } from '../api/models/served.ts';
import type { Sandbox } from '../api/sandbox/index.ts';
import type { Benchmark, BenchmarkProblem } from './benchmarks.ts';
import { countExecErrors } from './metrics.ts';
import { SAMPLE_RECORD_VERSION, type SampleRecord } from './record.ts';
import { splitByPlan, type RunStore } from './store.ts';
import type { Grader } from '../api/grading/grader.ts';

/**
 * Runs the samples of a plan that the run directory does not have yet, through the reasoning loop
 * (api/reasoning solveProblem: the same rollout the server and the trainer use), appending each
 * finished sample to the store. Problems run `concurrency` at a time, each as groups of its
 * missing samples (one prefill per group; at most the model's maxN samples per group, so k may
 * exceed it; sample i always draws from the problem seed + i, however the samples are grouped). A backend failure pauses the problem and retries it with
 * exponential backoff; when the retries are spent the whole run stops, resumable. Aborting
 * `signal` stops it too: samples cut short are not recorded, so a re-run redoes exactly them.
 */

export type SolveFn = (served: ServedModel, sandbox: Sandbox, request: SolveRequest, options?: SolveOptions) => Promise<SolveResult>;

export interface EvalSettings {
  greedy: boolean;
  /** Samples per problem (1 when greedy). */
  k: number;
  temperature: number;
  topP: number;
  maxToolCalls: number;
  maxTokens: number;
  /** Tokens per model turn (between tool outputs); undefined: only maxTokens bounds a solution. */
  maxTokensPerTurn?: number;
  seed: number;
  /** Problems in flight at once. */
  concurrency: number;
  /** Retries of a problem after a backend failure before the run stops. */
  retries: number;
  /** First pause before a retry; doubles each time (capped at 60 s). */
  retryDelayMs: number;
}

export const EVAL_LIMITS = {
  k: { min: 1, max: 1024 },
  maxToolCalls: { min: 0, max: 64 },
  concurrency: { min: 1, max: 256 },
  retries: { min: 0, max: 100 },
} as const;

export interface EvalDeps {
  /** The model to evaluate, read once per problem (a server may swap checkpoints between problems). */
  served: () => ServedModel | undefined;
  sandbox: Sandbox;
  /** Default: api/reasoning's solveProblem. */
  solve?: SolveFn;
  /** Loop settings beyond the per-request ones (prompt template, grading, output caps). */
  settings?: Partial<ReasoningSettings>;
  /** Grades each sample against the problem's answer; default inline (a pool bounds each grading hard). */
  grader?: Grader;
  /** Pins the served model while one problem is solved; returns the release (see AppDeps.holdServed). */
  hold?: () => () => void;
}

export interface EvalProgress {
  /** Samples on disk, and in the plan. */
  done: number;
  total: number;
  /** Samples finished by this invocation, and how many of them are correct. */
  finishedNow: number;
  correctNow: number;
  /** The benchmark of the latest finished sample. */
  bench?: string;
  /** Set while a problem waits to retry after a backend failure. */
  retry?: { attempt: number; of: number; inMs: number; error: string };
}

export type EvalOutcome =
  | { status: 'done'; done: number; total: number }
  | { status: 'interrupted'; done: number; total: number }
  | { status: 'failed'; done: number; total: number; error: string };

/** The backend kept failing: the run stopped, and can be resumed. */
export class BackendFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendFailure';
  }
}

/** Per-problem seed, stable across runs and invocations: sample i uses seed + i. */
export function problemSeed(baseSeed: number, bench: string, id: string): number {
  let h = 0x811c9dc5;
  for (const ch of `${bench}/${id}`) h = Math.imul(h ^ ch.codePointAt(0)!, 0x01000193);
  // Below 2^31 - 2^20 so seed + sample index stays a positive 32-bit integer for any k.
  return ((h ^ Math.imul(baseSeed | 0, 0x9e3779b1)) >>> 0) % 0x7ff00000;
}

/**
 * Contiguous runs [start, start + n) of the indices in [0, k) that `has` does not have, each at
 * most `maxN` long (the most samples the model takes in one group).
 */
export function missingRanges(k: number, has: (i: number) => boolean, maxN = Infinity): { start: number; n: number }[] {
  const ranges: { start: number; n: number }[] = [];
  for (let i = 0; i < k; i++) {
    if (has(i)) continue;
    const last = ranges[ranges.length - 1];
    if (last && last.start + last.n === i && last.n < maxN) last.n++;
    else ranges.push({ start: i, n: 1 });
  }
  return ranges;
}

export function sampleRecord(bench: string, problem: BenchmarkProblem, sample: number, s: SampleResult, served: ServedModel): SampleRecord {
  const statuses = s.trajectory.tool_calls.map((c) => c.status);
  return {
    v: SAMPLE_RECORD_VERSION,
    bench,
    id: problem.id,
    sample,
    ...(problem.subject !== undefined && { subject: problem.subject }),
    ...(problem.level !== undefined && { level: problem.level }),
    gold: problem.answer,
    answer: s.finalAnswer,
    correct: s.correct ?? false,
    ...(s.gradeReason !== undefined && { grade_reason: s.gradeReason }),
    finish_reason: s.finishReason,
    tool_calls: s.toolCalls.used,
    tool_statuses: statuses,
    exec_errors: countExecErrors(statuses),
    response_tokens: s.usage.completionTokens,
    tool_tokens: s.usage.toolTokens,
    prompt_tokens: s.usage.promptTokens,
    duration_ms: Math.round(s.timings.total_ms),
    model: served.backend.info.id,
    checkpoint: served.checkpoint.version,
    transcript: s.text,
    trajectory_id: s.trajectoryId,
  };
}

/** A sample that cannot be generated at all (the problem does not fit the model): recorded as wrong. */
function unrunnableRecord(bench: string, problem: BenchmarkProblem, sample: number, error: string, served: ServedModel): SampleRecord {
  return {
    v: SAMPLE_RECORD_VERSION,
    bench,
    id: problem.id,
    sample,
    ...(problem.subject !== undefined && { subject: problem.subject }),
    ...(problem.level !== undefined && { level: problem.level }),
    gold: problem.answer,
    answer: null,
    correct: false,
    finish_reason: 'error',
    tool_calls: 0,
    tool_statuses: [],
    exec_errors: 0,
    response_tokens: 0,
    tool_tokens: 0,
    prompt_tokens: 0,
    duration_ms: 0,
    model: served.backend.info.id,
    checkpoint: served.checkpoint.version,
    error,
    transcript: '',
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error && !error.message.includes(cause.message) ? `${error.message} (${cause.message})` : error.message;
}

export function planTotal(benchmarks: readonly Benchmark[], k: number): number {
  return benchmarks.reduce((a, b) => a + b.problems.length * k, 0);
}

export async function runEval(
  benchmarks: readonly Benchmark[],
  settings: EvalSettings,
  store: RunStore,
  deps: EvalDeps,
  hooks: { signal?: AbortSignal; onProgress?: (p: EvalProgress) => void } = {},
): Promise<EvalOutcome> {
  const k = settings.greedy ? 1 : settings.k;
  const solve = deps.solve ?? solveProblem;
  const total = planTotal(benchmarks, k);
  // The store's run.json holds this plan (prepareEval wrote it).
  const countDone = () => splitByPlan(store.config, store.records).planned.length;
  let done = countDone();
  const progress: EvalProgress = { done, total, finishedNow: 0, correctNow: 0 };
  const report = (patch: Partial<EvalProgress> = {}) => hooks.onProgress?.({ ...progress, ...patch });

  // Our own controller: the caller's abort, or a problem that ran out of retries, stops every problem.
  const stop = new AbortController();
  const onAbort = () => stop.abort(hooks.signal?.reason);
  hooks.signal?.addEventListener('abort', onAbort, { once: true });
  let failure: string | undefined;

  const tasks = benchmarks.flatMap((b) => b.problems.map((problem) => ({ bench: b.name, problem })));
  const record = (r: SampleRecord) => {
    store.append(r);
    done++;
    progress.done = done;
    progress.finishedNow++;
    if (r.correct) progress.correctNow++;
    progress.bench = r.bench;
    report();
  };

  const runProblem = async (bench: string, problem: BenchmarkProblem): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const has = (i: number) => store.has(bench, problem.id, i);
      if (stop.signal.aborted || missingRanges(k, has).length === 0) return;
      const served = deps.served();
      if (!served) throw new BackendFailure('no model is being served');
      // One group per range: k above the model's maxN runs as several groups, one after another.
      const ranges = missingRanges(k, has, served.backend.info.maxN);
      try {
        for (const { start, n } of ranges) {
          if (stop.signal.aborted) return;
          await solve(
            served,
            deps.sandbox,
            {
              problem: problem.problem,
              gold: problem.answer,
              n,
              maxToolCalls: settings.maxToolCalls,
              temperature: settings.greedy ? 0 : settings.temperature,
              topP: settings.greedy ? 1 : settings.topP,
              maxTokens: settings.maxTokens,
              ...(settings.maxTokensPerTurn !== undefined && { maxTokensPerTurn: settings.maxTokensPerTurn }),
              seed: problemSeed(settings.seed, bench, problem.id) + start,
              tags: { source: 'eval', bench, problem_id: problem.id },
            },
            {
              signal: stop.signal,
              settings: { ...deps.settings, maxToolCalls: Math.max(settings.maxToolCalls, deps.settings?.maxToolCalls ?? 0), maxN: Math.max(n, deps.settings?.maxN ?? 0) },
              ...(deps.grader && { grader: deps.grader }),
              onEvent: (event) => {
                // Samples cut short (cancelled, or failed with the backend) are not results: a re-run redoes them.
                if (event.type !== 'sample' || event.sample.finishReason === 'cancelled' || event.sample.finishReason === 'error') return;
                record(sampleRecord(bench, problem, start + event.sample.index, event.sample, served));
              },
            },
          );
        }
        return;
      } catch (error) {
        if (stop.signal.aborted) return;
        if (error instanceof SolveInputError) {
          // The problem does not fit this model (e.g. prompt longer than the context): wrong, not retried.
          for (const { start, n } of missingRanges(k, has)) {
            for (let i = start; i < start + n; i++) record(unrunnableRecord(bench, problem, i, error.message, served));
          }
          return;
        }
        if (error instanceof RemoteModelError && error.status !== undefined && error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 429) {
          // The server refuses the request itself (bad key, unknown model, ...): retrying cannot help.
          throw new BackendFailure(`${bench}/${problem.id}: the model server refused the request: ${describe(error)}`);
        }
        if (attempt >= settings.retries) {
          throw new BackendFailure(`${bench}/${problem.id}: the model backend failed ${attempt + 1} time${attempt ? 's' : ''} in a row: ${describe(error)}`);
        }
        const inMs = Math.min(60_000, settings.retryDelayMs * 2 ** attempt);
        report({ retry: { attempt: attempt + 1, of: settings.retries, inMs, error: describe(error) } });
        await sleep(inMs, stop.signal);
      }
    }
  };

  let next = 0;
  const worker = async () => {
    while (!stop.signal.aborted) {
      const task = tasks[next++];
      if (!task) return;
      const release = deps.hold?.();
      try {
        await runProblem(task.bench, task.problem);
      } catch (error) {
        failure ??= error instanceof BackendFailure ? error.message : `${task.bench}/${task.problem.id}: ${describe(error)}`;
        stop.abort(error);
      } finally {
        release?.();
      }
    }
  };
  report();
  try {
    await Promise.all(Array.from({ length: Math.min(settings.concurrency, Math.max(1, tasks.length)) }, worker));
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
  }
  done = countDone();
  if (failure !== undefined) return { status: 'failed', done, total, error: failure };
  if (done < total) return { status: 'interrupted', done, total };
  return { status: 'done', done, total };
}
