import { Hono } from 'hono';
import packageJson from '../../package.json' with { type: 'json' };
import type { CheckpointWatchStatus } from '../checkpoints/status.ts';
import type { ServedModel } from '../models/served.ts';
import type { TrajectoryLoggerStats } from '../../core/logging/trajectory-logger.ts';
import type { ModelBackend } from '../models/types.ts';
import type { Sandbox } from '../sandbox/index.ts';

export const VERSION: string = packageJson.version;

export interface InfoDeps {
  sandbox: Sandbox;
  runtime: 'node' | 'workerd';
  maxBodyBytes: number;
  authRequired: boolean;
  model: () => ModelBackend | undefined;
  checkpoint?: () => ServedModel['checkpoint'] | undefined;
  checkpointWatch?: () => CheckpointWatchStatus;
  /** The trajectory logger's counters (accepted, stored, queued, spilled, ...), when trajectories are logged. */
  trajectories?: () => TrajectoryLoggerStats;
}

/** `/healthz` (liveness, never authenticated) and `/v1/info` (what this server can do). */
export function healthRoutes(): Hono {
  return new Hono().get('/healthz', (c) => c.json({ status: 'ok' }));
}

export function infoRoutes(deps: InfoDeps): Hono {
  return new Hono().get('/v1/info', (c) => {
    const { limits } = deps.sandbox;
    const model = deps.model()?.info;
    return c.json({
      name: 'cir',
      version: VERSION,
      runtime: deps.runtime,
      auth: deps.authRequired ? 'bearer' : 'none',
      executors: deps.sandbox.describe(),
      model: model
        ? { id: model.id, backend: model.backend, context_length: model.contextLength, max_n: model.maxN, logprobs: model.logprobs }
        : null,
      checkpoint: checkpointInfo(deps),
      trajectories: deps.trajectories?.() ?? null,
      limits: {
        max_body_bytes: deps.maxBodyBytes,
        max_code_bytes: limits.maxCodeBytes,
        timeout_ms: limits.timeoutMs,
        memory_mb: limits.memoryMb,
        max_output_bytes: limits.outputBytes,
      },
    });
  });
}

/** The checkpoint being served (with its tool budget) and, when watching a store, the watcher's state. */
function checkpointInfo(deps: InfoDeps) {
  const checkpoint = deps.checkpoint?.();
  const watch = deps.checkpointWatch?.() ?? null;
  if (!checkpoint && !watch) return null;
  return { version: checkpoint?.version ?? null, tool_budget: checkpoint?.toolBudget ?? null, tool_timeout_ms: checkpoint?.toolTimeoutMs ?? null, watch };
}
