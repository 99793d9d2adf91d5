import { z } from 'zod';
import { boundedRecord } from '../../core/schemas/bounded.ts';
import { capOutput } from './output.ts';
import type { ExecRequest, ExecResult, ExecStatus, Executor, Language } from './types.ts';

/**
 * SandboxFusion's wire format (POST /run_code), in both directions: we serve it so RL
 * frameworks' existing sandbox clients (e.g. verl's) can point at us, and we call it to use
 * any SandboxFusion-compatible server as an executor.
 */

/**
 * SandboxFusion language names we accept, mapped to ours. A Map, not an object literal: a lookup
 * in an object also finds what it inherits (`constructor`, `toString`...).
 */
const LANGUAGE_ALIASES: ReadonlyMap<string, Language> = new Map([
  ['python', 'python'],
  ['python3', 'python'],
  ['nodejs', 'javascript'],
  ['javascript', 'javascript'],
  ['js', 'javascript'],
]);

export const RunCodeRequestSchema = z.object({
  code: z.string(),
  language: z.string().refine((l) => LANGUAGE_ALIASES.has(l), {
    error: (issue) => `unsupported language ${JSON.stringify(issue.input)}; supported: ${[...LANGUAGE_ALIASES.keys()].join(', ')}`,
  }),
  /** Seconds. */
  run_timeout: z.number().positive().optional(),
  compile_timeout: z.number().nonnegative().optional(),
  /** MiB; SandboxFusion uses -1 for "default". */
  memory_limit_MB: z.number().int().optional(),
  stdin: z.string().nullable().optional(),
  files: boundedRecord(z.string().nullable(), 256).optional(),
  fetch_files: z.array(z.string()).max(256).optional(),
});
export type RunCodeRequest = z.infer<typeof RunCodeRequestSchema>;

export function languageOf(name: string): Language {
  const language = LANGUAGE_ALIASES.get(name);
  if (!language) throw new Error(`unsupported language ${name}`);
  return language;
}

const RunResultSchema = z.object({
  status: z.enum(['Finished', 'Error', 'TimeLimitExceeded']),
  execution_time: z.number().nullable().optional(),
  return_code: z.number().nullable().optional(),
  stdout: z.string().nullable().optional(),
  stderr: z.string().nullable().optional(),
});

export const RunCodeResponseSchema = z.object({
  status: z.enum(['Success', 'Failed', 'SandboxError']),
  message: z.string().optional().default(''),
  compile_result: RunResultSchema.nullable().optional(),
  run_result: RunResultSchema.nullable().optional(),
});
export type RunCodeResponse = z.infer<typeof RunCodeResponseSchema>;

const RETURN_CODES: Record<ExecStatus, number> = { ok: 0, error: 1, timeout: -1, memory: 137, output_limit: 1 };

/** Our result in SandboxFusion's shape. */
export function toRunCodeResponse(result: ExecResult): RunCodeResponse & { executor: string } {
  const ok = result.status === 'ok';
  return {
    status: ok ? 'Success' : 'Failed',
    message: result.error ?? '',
    compile_result: null,
    run_result: {
      status: result.status === 'timeout' ? 'TimeLimitExceeded' : 'Finished',
      execution_time: result.duration_ms / 1000,
      return_code: RETURN_CODES[result.status],
      stdout: result.stdout,
      stderr: result.stderr,
    },
    executor: result.executor,
  };
}

/** Last non-empty line of stderr: what a model reads as "the error". */
export function lastLine(text: string): string | null {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  return lines.at(-1) ?? null;
}

function statusOf(response: RunCodeResponse): ExecStatus {
  const run = response.run_result;
  if (!run) return 'error';
  if (run.status === 'TimeLimitExceeded') return 'timeout';
  if (run.status === 'Finished' && run.return_code === 0) return 'ok';
  const stderr = run.stderr ?? '';
  if (run.return_code === 137 || run.return_code === -9 || /MemoryError/.test(lastLine(stderr) ?? '')) return 'memory';
  return 'error';
}

export interface SandboxFusionExecutorOptions {
  /** Base URL; requests go to `${url}/run_code` unless the URL already ends with /run_code. */
  url: string;
  apiKey?: string;
  languages?: Language[];
  /** Extra seconds on top of the snippet's deadline before the HTTP call is abandoned. */
  networkSlackMs?: number;
  concurrency?: number;
  fetch?: typeof fetch;
}

/** An executor that forwards to any SandboxFusion-compatible server. */
export function createSandboxFusionExecutor(options: SandboxFusionExecutorOptions): Executor {
  const endpoint = options.url.replace(/\/+$/, '').endsWith('/run_code')
    ? options.url
    : `${options.url.replace(/\/+$/, '')}/run_code`;
  const doFetch = options.fetch ?? fetch;
  const slackMs = options.networkSlackMs ?? 10_000;
  return {
    name: 'sandboxfusion',
    languages: options.languages ?? ['python', 'javascript'],
    concurrency: options.concurrency ?? 16,
    async execute(req: ExecRequest, signal?: AbortSignal): Promise<ExecResult> {
      const started = performance.now();
      const deadline = AbortSignal.timeout(req.timeoutMs + slackMs);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
      const body: RunCodeRequest = {
        code: req.code,
        language: req.language === 'javascript' ? 'nodejs' : 'python',
        run_timeout: req.timeoutMs / 1000,
        memory_limit_MB: req.memoryMb,
        stdin: req.stdin,
      };
      const response = await doFetch(endpoint, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`sandbox server at ${endpoint} answered ${response.status}: ${text.slice(0, 200)}`);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new Error(`sandbox server at ${endpoint} answered non-JSON: ${text.slice(0, 200)}`);
      }
      const parsed = RunCodeResponseSchema.safeParse(json);
      if (!parsed.success) throw new Error(`sandbox server at ${endpoint} answered an unexpected shape: ${parsed.error.message}`);
      if (parsed.data.status === 'SandboxError') throw new Error(`sandbox server error: ${parsed.data.message}`);
      const run = parsed.data.run_result;
      const stdout = capOutput(run?.stdout ?? '', req.maxOutputBytes);
      const stderr = capOutput(run?.stderr ?? '', req.maxOutputBytes);
      const status = statusOf(parsed.data);
      return {
        status,
        stdout: stdout.text,
        stderr: stderr.text,
        error: status === 'ok' ? null : status === 'timeout' ? `timed out after ${req.timeoutMs} ms` : lastLine(run?.stderr ?? '') ?? parsed.data.message ?? 'failed',
        truncated: { stdout: stdout.truncated, stderr: stderr.truncated },
        duration_ms: run?.execution_time != null ? run.execution_time * 1000 : performance.now() - started,
        executor: 'sandboxfusion',
      };
    },
    async dispose() {},
  };
}
