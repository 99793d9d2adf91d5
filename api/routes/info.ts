import { Hono } from 'hono';
import packageJson from '../../package.json' with { type: 'json' };
import type { Sandbox } from '../sandbox/index.ts';

export const VERSION: string = packageJson.version;

export interface InfoDeps {
  sandbox: Sandbox;
  runtime: 'node' | 'workerd';
  maxBodyBytes: number;
  authRequired: boolean;
}

/** `/healthz` (liveness, never authenticated) and `/v1/info` (what this server can do). */
export function healthRoutes(): Hono {
  return new Hono().get('/healthz', (c) => c.json({ status: 'ok' }));
}

export function infoRoutes(deps: InfoDeps): Hono {
  return new Hono().get('/v1/info', (c) => {
    const { limits } = deps.sandbox;
    return c.json({
      name: 'cir',
      version: VERSION,
      runtime: deps.runtime,
      auth: deps.authRequired ? 'bearer' : 'none',
      executors: deps.sandbox.describe(),
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
