import type { GradingMode } from '../api/grading/index.ts';
import type { ServedModel } from '../api/models/served.ts';
import { loadBenchmark, type Benchmark } from './benchmarks.ts';
import { buildRunOutputs, type EvalSummary, type RunStatus } from './report.ts';
import { EVAL_LIMITS, planTotal, runEval, type EvalDeps, type EvalOutcome, type EvalProgress, type EvalSettings } from './runner.ts';
import { RunStore, splitByPlan, type OutsidePlan, type RunConfig } from './store.ts';

/** Settings a caller may leave out. */
export const DEFAULT_EVAL_SETTINGS = {
  greedy: false,
  k: 16,
  temperature: 1,
  topP: 0.95,
  maxToolCalls: 5,
  seed: 0,
  concurrency: 4,
  retries: 5,
  retryDelayMs: 2_000,
} as const;

/** Settings out of range, or a plan the model cannot run (max tokens above its context). */
export class EvalInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvalInputError';
  }
}

export interface EvalPlan {
  /** Benchmark names (files in dataDir) or paths to JSONL files. */
  benchmarks: readonly string[];
  dataDir: string;
  /** First N problems of each benchmark. */
  limit?: number;
  /** maxTokens undefined: the model's context length, capped at 4096. */
  settings: Omit<EvalSettings, 'maxTokens'> & { maxTokens?: number };
  outDir: string;
  /** How the backend was named (directory or URL), for the report. */
  backendLabel: string;
  /** The benchmarks already loaded with loadPlanBenchmarks (a caller checking them before loading the model). */
  loaded?: Benchmark[];
  /** Names recorded in run.json when a protocol sets them (the templates themselves travel in EvalDeps.settings). */
  recorded?: { prompt: string; gradingMode?: GradingMode };
}

function checkRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new EvalInputError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
}

/** Checks settings against the harness limits and the model; returns them with maxTokens resolved. */
export function resolveSettings(settings: EvalPlan['settings'], served: ServedModel, limit?: number): EvalSettings {
  const { info } = served.backend;
  // k above the model's maxN is fine: the runner splits a problem's samples into groups of at most maxN.
  checkRange('k', settings.k, EVAL_LIMITS.k.min, EVAL_LIMITS.k.max);
  checkRange('max tool calls', settings.maxToolCalls, EVAL_LIMITS.maxToolCalls.min, EVAL_LIMITS.maxToolCalls.max);
  checkRange('concurrency', settings.concurrency, EVAL_LIMITS.concurrency.min, EVAL_LIMITS.concurrency.max);
  checkRange('retries', settings.retries, EVAL_LIMITS.retries.min, EVAL_LIMITS.retries.max);
  if (!settings.greedy) {
    if (!(settings.temperature > 0 && settings.temperature <= 10)) throw new EvalInputError(`temperature must be in (0, 10] when sampling (use greedy for 0), got ${settings.temperature}`);
    if (!(settings.topP > 0 && settings.topP <= 1)) throw new EvalInputError(`top-p must be in (0, 1], got ${settings.topP}`);
  }
  if (!Number.isSafeInteger(settings.seed)) throw new EvalInputError(`seed must be an integer, got ${settings.seed}`);
  if (!(settings.retryDelayMs >= 0)) throw new EvalInputError(`retry delay must be >= 0 ms, got ${settings.retryDelayMs}`);
  if (limit !== undefined) checkRange('limit', limit, 1, 10_000_000);
  if (settings.maxTokensPerTurn !== undefined) checkRange('max tokens per turn', settings.maxTokensPerTurn, 1, 10_000_000);
  const maxTokens = settings.maxTokens ?? Math.min(4096, info.contextLength);
  checkRange('max tokens', maxTokens, 1, info.contextLength);
  return { ...settings, maxTokens };
}

export function loadPlanBenchmarks(plan: Pick<EvalPlan, 'benchmarks' | 'dataDir' | 'limit'>): Benchmark[] {
  if (plan.benchmarks.length === 0) throw new EvalInputError('no benchmark given');
  return plan.benchmarks.map((ref) => {
    const b = loadBenchmark(ref, plan.dataDir);
    return plan.limit ? { ...b, problems: b.problems.slice(0, plan.limit) } : b;
  });
}

export interface PreparedEval {
  benchmarks: Benchmark[];
  settings: EvalSettings;
  store: RunStore;
  /** Samples of the plan the run directory already has. */
  alreadyDone: number;
  /** Samples the run directory keeps from earlier plans (another --limit or --bench), not in this one's report. */
  outsidePlan: OutsidePlan;
  total: number;
  /** Runs what is missing and writes summary.json, report.md and plots (also when interrupted or failed). */
  run(hooks?: { signal?: AbortSignal; onProgress?: (p: EvalProgress) => void }): Promise<{ outcome: EvalOutcome; summary: EvalSummary }>;
  /** summary.json, report.md and plots from what is on disk now. */
  writeOutputs(status: RunStatus, error?: string): EvalSummary;
}

/**
 * Validates a plan and opens its run directory; nothing is generated yet. Every input problem
 * (unknown benchmark, malformed line, settings out of range, a run directory holding other
 * settings) fails here, before any model time is spent.
 */
export function prepareEval(plan: EvalPlan, deps: EvalDeps): PreparedEval {
  const served = deps.served();
  if (!served) throw new EvalInputError('no model is being served');
  const settings = resolveSettings(plan.settings, served, plan.limit);
  const benchmarks = plan.loaded ?? loadPlanBenchmarks(plan);
  const config: RunConfig = {
    v: 1,
    created_at: new Date().toISOString(),
    model: served.backend.info.id,
    backend: plan.backendLabel,
    checkpoint: served.checkpoint.version,
    greedy: settings.greedy,
    k: settings.greedy ? 1 : settings.k,
    temperature: settings.greedy ? 0 : settings.temperature,
    top_p: settings.greedy ? 1 : settings.topP,
    max_tool_calls: settings.maxToolCalls,
    max_tokens: settings.maxTokens,
    seed: settings.seed,
    benchmarks: benchmarks.map((b) => ({ name: b.name, file: b.file, problems: b.problems.length, total: b.total, ids: b.problems.map((p) => p.id) })),
    limit: plan.limit ?? null,
    ...(plan.recorded && { prompt: plan.recorded.prompt }),
    ...(plan.recorded?.gradingMode && { grading_mode: plan.recorded.gradingMode }),
    ...(settings.maxTokensPerTurn !== undefined && { max_tokens_per_turn: settings.maxTokensPerTurn }),
  };
  const store = RunStore.open(plan.outDir, config);
  const { planned, outside } = splitByPlan(store.config, store.records);
  const total = planTotal(benchmarks, config.k);

  const writeOutputs = (status: RunStatus, error?: string) => {
    const { summary, files } = buildRunOutputs(store.config, store.records, status, error);
    for (const [path, content] of Object.entries(files)) store.writeFile(path, content);
    return summary;
  };

  return {
    benchmarks,
    settings,
    store,
    alreadyDone: planned.length,
    outsidePlan: outside,
    total,
    writeOutputs,
    async run(hooks = {}) {
      const outcome = await runEval(benchmarks, settings, store, deps, hooks);
      const summary = writeOutputs(outcome.status, outcome.status === 'failed' ? outcome.error : undefined);
      return { outcome, summary };
    },
  };
}
