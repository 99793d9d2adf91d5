import { Hono } from 'hono';
import { answer501Unless } from '../routes/unavailable.ts';
import type { StepMetrics } from '../../trainer/run/state.ts';
import { z } from 'zod';
import { ApiError, badRequest } from '../errors.ts';
import { describeIssues } from '../validation.ts';

/**
 * Training runs, read-only (the console's training page):
 *   GET /v1/runs                          → { runs_dir, data: [{ name, step, version, updated_at }] }, newest first
 *   GET /v1/runs/:name?after_step=N        → the run's settings, tool-budget schedule and metrics lines after step N
 * The runner (api/runs/service.ts) reads CIR_RUNS_DIR on Node; on Workers these routes answer 501.
 */

/** A run name: one directory level, no dots first (so no `..`), as `cir train --run-dir runs/<name>`. */
export const RUN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface RunSummary {
  name: string;
  /** Committed steps (state.json), 0 before the first. */
  step: number;
  /** The checkpoint version the next step starts from (the last one published). */
  version: string | null;
  /** When state.json or metrics.jsonl last changed. */
  updated_at: string;
}

export interface RunView extends RunSummary {
  /** settings.json (the recipe and flags resolved), null when absent. */
  settings: Record<string, unknown> | null;
  tool_budget_schedule: { step: number; limit: number }[] | null;
  pending_publish: { version: string; step: number } | null;
  /** Lines of metrics.jsonl with step > after_step. */
  metrics: StepMetrics[];
}

export interface RunService {
  readonly dir: string;
  list(): Promise<RunSummary[]>;
  /** null: no run of that name. */
  get(name: string, afterStep: number): Promise<RunView | null>;
}

const RunQuery = z.strictObject({
  after_step: z.coerce.number().int('after_step must be a whole number').min(-1, 'after_step must be at least -1').default(-1),
});

export function runRoutes(service: RunService | undefined): Hono {
  const app = new Hono();
  answer501Unless(app, '/v1/runs', service !== undefined, 'training runs are read from a directory: open them on the Node server (cir serve, CIR_RUNS_DIR)');
  app.get('/v1/runs', async (c) => c.json({ runs_dir: service!.dir, data: await service!.list() }));
  app.get('/v1/runs/:name', async (c) => {
    const name = c.req.param('name');
    if (!RUN_NAME.test(name)) throw badRequest(`a run is named by its directory under CIR_RUNS_DIR (letters, digits, . _ -), not ${JSON.stringify(name.slice(0, 100))}`);
    const query = RunQuery.safeParse(c.req.query());
    if (!query.success) throw badRequest(describeIssues(query.error));
    const run = await service!.get(name, query.data.after_step);
    if (!run) throw new ApiError(404, 'not_found', `no training run ${JSON.stringify(name)} in ${service!.dir} (a run appears once cir train has written state.json or metrics.jsonl there)`);
    return c.json(run);
  });
  return app;
}
