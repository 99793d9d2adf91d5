import { Hono } from 'hono';
import { z } from 'zod';
import { callerOf } from '../middleware/caller/index.ts';
import { readJson } from '../validation.ts';
import type { Sandbox } from '../sandbox/index.ts';
import { LANGUAGES } from '../sandbox/types.ts';
import { RunCodeRequestSchema, languageOf, toRunCodeResponse } from '../sandbox/sandboxfusion.ts';

const ExecuteRequestSchema = z.object({
  language: z.enum(LANGUAGES, { error: (issue) => `unknown language ${JSON.stringify(issue.input)}; expected one of ${LANGUAGES.join(', ')}` }),
  code: z.string({ error: 'code must be a string' }),
  timeout_ms: z.number().optional(),
  memory_mb: z.number().optional(),
  stdin: z.string().optional(),
  max_output_bytes: z.number().optional(),
});

/** `POST /v1/execute`: run one snippet in the sandbox and report exactly what happened. */
export function executeRoutes(sandbox: Sandbox): Hono {
  return new Hono().post('/v1/execute', async (c) => {
    const body = await readJson(c, ExecuteRequestSchema);
    const result = await sandbox.execute(
      {
        language: body.language,
        code: body.code,
        timeoutMs: body.timeout_ms,
        memoryMb: body.memory_mb,
        stdin: body.stdin,
        maxOutputBytes: body.max_output_bytes,
        caller: callerOf(c),
      },
      c.req.raw.signal,
    );
    return c.json(result);
  });
}

/**
 * `POST /run_code`: SandboxFusion's API, so RL frameworks' sandbox clients (verl's among them)
 * can use this server unchanged. Seconds and SandboxFusion's "-1 = default" are translated here.
 */
export function sandboxFusionRoutes(sandbox: Sandbox): Hono {
  return new Hono().post('/run_code', async (c) => {
    const body = await readJson(c, RunCodeRequestSchema);
    const result = await sandbox.execute(
      {
        language: languageOf(body.language),
        code: body.code,
        timeoutMs: body.run_timeout !== undefined ? Math.round(body.run_timeout * 1000) : undefined,
        memoryMb: body.memory_limit_MB !== undefined && body.memory_limit_MB > 0 ? body.memory_limit_MB : undefined,
        stdin: body.stdin ?? undefined,
        caller: callerOf(c),
      },
      c.req.raw.signal,
    );
    return c.json(toRunCodeResponse(result));
  });
}
