import { Hono } from 'hono';
import { answer501Unless } from './unavailable.ts';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import { readJson } from '../validation.ts';

/**
 * Evaluation runs over the served model, in the background:
 *   POST   /v1/evals       { benchmarks: ["math500", ...], k?, greedy?, temperature?, top_p?, max_tool_calls?,
 *                            max_tokens?, limit?, concurrency?, seed? }  → 202 EvalRunView
 *                          (greedy with k, temperature or top_p is a 400, as `cir eval --greedy --k` is)
 *   GET    /v1/evals       every run this server knows
 *   GET    /v1/evals/:id   progress, and the metrics so far (complete once status is "done")
 *   DELETE /v1/evals/:id   stops a running evaluation (its finished samples are kept)
 * The runner is injected (AppDeps.evals) because it needs the filesystem; on runtimes without one
 * (Workers) these routes answer 501. Benchmarks are named, never paths: a client cannot make the
 * server read arbitrary files.
 */

export const EvalStartSchema = z
  .object({
    benchmarks: z
      .array(z.string().regex(/^[A-Za-z0-9][\w.-]*$/, { error: 'a benchmark is a name like "math500" (letters, digits, . _ -), not a path' }))
      .min(1, { error: 'give at least one benchmark' })
      .max(32),
    k: z.number().int().min(1).max(1024).optional(),
    greedy: z.boolean().default(false),
    temperature: z.number().gt(0).max(10).optional(),
    top_p: z.number().gt(0).max(1).optional(),
    max_tool_calls: z.number().int().min(0).max(64).default(5),
    max_tokens: z.number().int().min(1).optional(),
    limit: z.number().int().min(1).max(10_000_000).optional(),
    concurrency: z.number().int().min(1).max(64).default(4),
    seed: z.number().int().min(-(2 ** 31)).max(2 ** 31 - 1).default(0),
  })
  .strict()
  .refine((b) => new Set(b.benchmarks).size === b.benchmarks.length, { error: 'a benchmark is listed twice', path: ['benchmarks'] })
  .superRefine((b, ctx) => {
    // As `cir eval --greedy`: sampling settings next to greedy are a mistake, not something to ignore.
    const sampling = (['k', 'temperature', 'top_p'] as const).filter((key) => b[key] !== undefined);
    if (b.greedy && sampling.length > 0) ctx.addIssue({ code: 'custom', message: `greedy takes no ${sampling.join(', ')} (greedy is one temperature-0 solution per problem)` });
  })
  .transform((b) => ({ ...b, k: b.k ?? 16, temperature: b.temperature ?? 1, top_p: b.top_p ?? 0.95 }));

export type EvalStartRequest = z.infer<typeof EvalStartSchema>;

export type EvalRunStatus = 'running' | 'done' | 'interrupted' | 'failed' | 'cancelled';

export interface EvalRunView {
  id: string;
  status: EvalRunStatus;
  model: string;
  checkpoint: string;
  benchmarks: { name: string; problems: number }[];
  settings: Record<string, unknown>;
  progress: { done: number; total: number; fraction: number; eta_s: number | null; retry?: { attempt: number; of: number; in_ms: number; error: string } };
  created_at: string;
  finished_at?: string;
  error?: string;
  /** Metrics over the samples finished so far (EvalMetrics of eval/metrics.ts: per benchmark, averages, tool use). */
  metrics?: unknown;
}

/** What the routes need from the runner (eval/service.ts on Node). Input problems are thrown as ApiError 4xx. */
export interface EvalService {
  start(request: EvalStartRequest): Promise<EvalRunView>;
  get(id: string): EvalRunView | undefined;
  list(): EvalRunView[];
  cancel(id: string): Promise<EvalRunView | undefined>;
}

const notFound = (id: string) => new ApiError(404, 'not_found', `no evaluation run ${JSON.stringify(id)}`);

export function evalRoutes(service: EvalService | undefined): Hono {
  const app = new Hono();
  answer501Unless(app, '/v1/evals', service !== undefined, 'evaluation runs need a filesystem: start them on the Node server (cir serve) or with cir eval');
  app.post('/v1/evals', async (c) => {
    const request = await readJson(c, EvalStartSchema);
    const view = await service!.start(request);
    return c.json(view, 202, { location: `/v1/evals/${view.id}` });
  });
  app.get('/v1/evals', (c) => c.json({ data: service!.list() }));
  app.get('/v1/evals/:id', (c) => {
    const view = service!.get(c.req.param('id'));
    if (!view) throw notFound(c.req.param('id'));
    return c.json(view);
  });
  app.delete('/v1/evals/:id', async (c) => {
    const view = await service!.cancel(c.req.param('id'));
    if (!view) throw notFound(c.req.param('id'));
    return c.json(view);
  });
  return app;
}
