import { Hono } from 'hono';
import packageJson from '../../package.json' with { type: 'json' };
import type { ModelBackend } from '../models/types.ts';
import type { Sandbox } from '../sandbox/index.ts';

export const VERSION: string = packageJson.version;

export interface InfoDeps {
  sandbox: Sandbox;
  runtime: 'node' | 'workerd';
  maxBodyBytes: number;
  authRequired: boolean;
  model: () => ModelBackend | undefined;
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
