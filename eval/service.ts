import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError } from '../api/errors.ts';
import type { ServedModel } from '../api/models/served.ts';
import type { ReasoningSettings } from '../api/reasoning/index.ts';
import type { EvalRunView, EvalService, EvalStartRequest } from '../api/routes/evals.ts';
import type { Sandbox } from '../api/sandbox/index.ts';
import { BenchmarkError } from './benchmarks.ts';
import { DEFAULT_EVAL_SETTINGS, EvalInputError, prepareEval, type PreparedEval } from './harness.ts';
import { buildSummary, type EvalSummary } from './report.ts';
import type { EvalProgress, SolveFn } from './runner.ts';
import { readRun, RunDirError, SUMMARY_FILE } from './store.ts';
import type { Grader } from '../api/grading/grader.ts';

/**
 * Evaluation runs inside the Node server (POST /v1/evals): each run is a run directory under
 * `runsDir/<id>` (the same layout as `cir eval --out`), solved over the served model and the
 * server's sandbox in the background. Progress is kept in memory; runs of earlier server
 * lifetimes are read back from their directories. dispose() stops running evaluations (their
 * finished samples stay on disk) and waits until their reports are written.
 */

export interface EvalServiceOptions {
  served: () => ServedModel | undefined;
  sandbox: Sandbox;
  /** Where run directories go (e.g. $CIR_DATA_DIR/evals). */
  runsDir: string;
  /** Benchmark directory (CIR_BENCHMARKS_DIR, default shared/data/benchmarks). */
  dataDir: string;
  /** Pins the served model while a problem is solved (checkpoint swaps wait for it). */
  holdServed?: () => () => void;
  settings?: Partial<ReasoningSettings>;
  /** Grades the samples (the server's pool); default inline. */
  grader?: Grader;
  /** Evaluations running at once; more are refused with 429. Default 2. */
  maxRunning?: number;
  retries?: number;
  retryDelayMs?: number;
  solve?: SolveFn;
  log?: (message: string, error?: unknown) => void;
}

interface ActiveRun {
  id: string;
  prepared: PreparedEval;
  request: EvalStartRequest;
  status: EvalRunView['status'];
  progress: EvalProgress;
  startedAt: number;
  createdAt: string;
  finishedAt?: string;
  error?: string;
  summary?: EvalSummary;
  controller: AbortController;
  done: Promise<void>;
}

const ID_PATTERN = /^ev_[0-9a-f]{24}$/;

export function createEvalService(options: EvalServiceOptions): EvalService & { dispose(): Promise<void> } {
  const runs = new Map<string, ActiveRun>();
  const maxRunning = options.maxRunning ?? 2;
  const log = options.log ?? ((message: string, error?: unknown) => console.error(message, error ?? ''));

  const view = (run: ActiveRun): EvalRunView => {
    const { done, total } = run.progress;
    const elapsed = Date.now() - run.startedAt;
    const perSample = run.progress.finishedNow > 0 ? elapsed / run.progress.finishedNow : null;
    const summary = run.summary ?? buildSummary(run.prepared.store.config, run.prepared.store.records, run.status === 'cancelled' ? 'interrupted' : run.status);
    return {
      id: run.id,
      status: run.status,
      model: summary.model,
      checkpoint: summary.checkpoint,
      benchmarks: run.prepared.benchmarks.map((b) => ({ name: b.name, problems: b.problems.length })),
      settings: summary.settings,
      progress: {
        done,
        total,
        fraction: total ? done / total : 1,
        eta_s: run.status === 'running' && perSample !== null ? Math.round((perSample * (total - done)) / 1000) : null,
        ...(run.progress.retry && run.status === 'running' && {
          retry: { attempt: run.progress.retry.attempt, of: run.progress.retry.of, in_ms: run.progress.retry.inMs, error: run.progress.retry.error },
        }),
      },
      created_at: run.createdAt,
      ...(run.finishedAt && { finished_at: run.finishedAt }),
      ...(run.error && { error: run.error }),
      metrics: summary.metrics,
    };
  };

  /** A run of an earlier server lifetime, from its directory. */
  const viewFromDisk = (id: string): EvalRunView | undefined => {
    if (!ID_PATTERN.test(id)) return undefined;
    const dir = join(options.runsDir, id);
    if (!existsSync(join(dir, SUMMARY_FILE))) return undefined;
    try {
      const { config, records } = readRun(dir);
      const saved = JSON.parse(readFileSync(join(dir, SUMMARY_FILE), 'utf8')) as Partial<EvalSummary>;
      // A run still "running" on disk was cut off by a server stop: it is interrupted now.
      const status = saved.status === 'running' || saved.status === undefined ? 'interrupted' : saved.status;
      const summary = buildSummary(config, records, status, saved.error);
      return {
        id,
        status,
        model: summary.model,
        checkpoint: summary.checkpoint,
        benchmarks: config.benchmarks.map((b) => ({ name: b.name, problems: b.problems })),
        settings: summary.settings,
        progress: { done: summary.progress.done, total: summary.progress.total, fraction: summary.progress.total ? summary.progress.done / summary.progress.total : 1, eta_s: null },
        created_at: config.created_at,
        ...(saved.updated_at && { finished_at: saved.updated_at }),
        ...(saved.error && { error: saved.error }),
        metrics: summary.metrics,
      };
    } catch (e) {
      log(`[evals] cannot read run ${id}`, e);
      return undefined;
    }
  };

  return {
    async start(request) {
      const running = [...runs.values()].filter((r) => r.status === 'running').length;
      if (running >= maxRunning) {
        throw new ApiError(429, 'overloaded', `${running} evaluations are running (the limit is ${maxRunning}); wait for one to finish or cancel one`, { 'retry-after': '60' });
      }
      const id = `ev_${crypto.randomUUID().replace(/-/g, '').slice(0, 24)}`;
      let prepared: PreparedEval;
      try {
        prepared = prepareEval(
          {
            benchmarks: request.benchmarks,
            dataDir: options.dataDir,
            ...(request.limit !== undefined && { limit: request.limit }),
            settings: {
              greedy: request.greedy,
              k: request.greedy ? 1 : request.k,
              temperature: request.temperature,
              topP: request.top_p,
              maxToolCalls: request.max_tool_calls,
              ...(request.max_tokens !== undefined && { maxTokens: request.max_tokens }),
              seed: request.seed,
              concurrency: request.concurrency,
              retries: options.retries ?? DEFAULT_EVAL_SETTINGS.retries,
              retryDelayMs: options.retryDelayMs ?? DEFAULT_EVAL_SETTINGS.retryDelayMs,
            },
            outDir: join(options.runsDir, id),
            backendLabel: 'served model',
          },
          { served: options.served, sandbox: options.sandbox, settings: options.settings, solve: options.solve, hold: options.holdServed, ...(options.grader && { grader: options.grader }) },
        );
      } catch (e) {
        if (e instanceof BenchmarkError || e instanceof EvalInputError || e instanceof RunDirError) {
          throw new ApiError(e instanceof EvalInputError && /no model/.test(e.message) ? 503 : 400, 'invalid_request', e.message);
        }
        throw e;
      }
      const controller = new AbortController();
      const run: ActiveRun = {
        id,
        prepared,
        request,
        status: 'running',
        progress: { done: prepared.alreadyDone, total: prepared.total, finishedNow: 0, correctNow: 0 },
        startedAt: Date.now(),
        createdAt: prepared.store.config.created_at,
        controller,
        done: Promise.resolve(),
      };
      prepared.writeOutputs('running');
      run.done = prepared
        .run({ signal: controller.signal, onProgress: (p) => (run.progress = p) })
        .then(({ outcome, summary }) => {
          run.summary = summary;
          run.progress = { ...run.progress, done: outcome.done, total: outcome.total, retry: undefined };
          run.status = controller.signal.aborted ? 'cancelled' : outcome.status;
          if (outcome.status === 'failed') run.error = outcome.error;
        })
        .catch((e: unknown) => {
          run.status = 'failed';
          run.error = e instanceof Error ? e.message : String(e);
          log(`[evals] run ${id} failed`, e);
          try {
            run.summary = prepared.writeOutputs('failed', run.error);
          } catch (writeError) {
            log(`[evals] run ${id}: cannot write its report`, writeError);
          }
        })
        .finally(() => {
          run.finishedAt = new Date().toISOString();
        });
      runs.set(id, run);
      return view(run);
    },
    get(id) {
      const run = runs.get(id);
      return run ? view(run) : viewFromDisk(id);
    },
    list() {
      const onDisk = existsSync(options.runsDir) ? readdirSync(options.runsDir).filter((id) => ID_PATTERN.test(id) && !runs.has(id)) : [];
      return [...[...runs.values()].map(view), ...onDisk.flatMap((id) => viewFromDisk(id) ?? [])].sort((a, b) => b.created_at.localeCompare(a.created_at));
    },
    async cancel(id) {
      const run = runs.get(id);
      if (!run) return viewFromDisk(id);
      if (run.status === 'running') {
        run.controller.abort(new Error('cancelled'));
        await run.done;
      }
      return view(run);
    },
    async dispose() {
      for (const run of runs.values()) if (run.status === 'running') run.controller.abort(new Error('server shutting down'));
      await Promise.all([...runs.values()].map((r) => r.done));
    },
  };
}
