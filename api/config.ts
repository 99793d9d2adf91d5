import { z } from 'zod';
import { ConfigError, parseEnv } from '../core/env.ts';
import { isModuleName } from './sandbox/python/imports.ts';

/**
 * Server configuration, read from environment variables and validated once at start-up.
 * Every runtime (Node, Workers) goes through loadConfig so that a typo fails loudly with
 * the variable's name instead of surfacing later as odd behaviour.
 */

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const apiKeys = z
  .string()
  .transform((s) => s.split(',').map((k) => k.trim()).filter((k) => k.length > 0));

/** `*`, or origins as browsers send them (`https://app.example.com`, no path). */
const corsOrigins = z
  .string()
  .transform((s) => s.split(',').map((o) => o.trim()).filter((o) => o.length > 0))
  .refine((origins) => origins.every((o) => o === '*' || /^https?:\/\/[^/\s]+$/.test(o)), 'each origin must be * or scheme://host[:port], without a path');

/** Python module names, comma-separated; `none` (or empty) for none. */
const moduleList = z
  .string()
  .transform((s) => (s.trim() === 'none' ? [] : s.split(',').map((m) => m.trim()).filter((m) => m.length > 0)))
  .refine((names) => names.every(isModuleName), 'each entry must be a module name such as sympy or numpy.linalg, or the list must be none');

const ConfigSchema = z.object({
  PORT: int(0, 65535).default(8787),
  HOST: z.string().min(1).default('127.0.0.1'),
  CIR_DATA_DIR: z.string().min(1).default('./data'),
  /** Training run directories (`cir train --run-dir <this>/<name>`) the console plots; clients name a run, never a path. */
  CIR_RUNS_DIR: z.string().min(1).default('./runs'),
  /** Comma-separated bearer keys; when empty, the API is open. */
  CIR_API_KEYS: apiKeys.default([]),
  CIR_MAX_BODY_BYTES: int(1024, 64 * 1024 * 1024).default(2 * 1024 * 1024),
  CIR_MAX_CODE_BYTES: int(16, 16 * 1024 * 1024).default(256 * 1024),
  CIR_EXEC_CONCURRENCY: int(1, 1024).optional(),
  CIR_EXEC_QUEUE_LIMIT: int(0, 100_000).default(256),
  /** Executions one caller (API key, else client address) runs at once per executor; default half the executor's concurrency. */
  CIR_EXEC_CALLER_CONCURRENCY: int(1, 1024).optional(),
  /** Executions one caller may have waiting per executor before its requests get 429. */
  CIR_EXEC_CALLER_QUEUE_LIMIT: int(0, 100_000).default(64),
  CIR_EXEC_TIMEOUT_MS: int(1, 600_000).default(5_000),
  CIR_EXEC_MAX_TIMEOUT_MS: int(1, 600_000).default(30_000),
  CIR_EXEC_MEMORY_MB: int(8, 65_536).default(256),
  CIR_EXEC_MAX_MEMORY_MB: int(8, 65_536).default(1024),
  CIR_EXEC_OUTPUT_BYTES: int(64, 64 * 1024 * 1024).default(64 * 1024),
  CIR_EXEC_MAX_OUTPUT_BYTES: int(64, 64 * 1024 * 1024).default(1024 * 1024),
  /** Python executor: auto (bwrap when the host has it), bwrap, remote (CIR_SANDBOX_URL), or off. */
  CIR_PYTHON_EXECUTOR: z.enum(['auto', 'bwrap', 'remote', 'off']).default('auto'),
  /** Interpreter run inside the Python sandbox (Debian's, which has python3-sympy/numpy). */
  CIR_PYTHON_BIN: z.string().min(1).default('/usr/bin/python3'),
  /**
   * Modules a second set of Python sandboxes imports at start, so that snippets naming them do not
   * import them per run (comma-separated; `none` for a single set of plain sandboxes).
   */
  CIR_PYTHON_PRELOAD: moduleList.default(['sympy', 'numpy']),
  /** Base URL of a SandboxFusion-compatible server (its POST /run_code). */
  CIR_SANDBOX_URL: z.string().url().optional(),
  CIR_SANDBOX_API_KEY: z.string().optional(),
  /** `info` and `debug` write an access log line per request to stderr. */
  CIR_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /** Node server: time to receive a request's headers. */
  CIR_HTTP_HEADERS_TIMEOUT_MS: int(100, 600_000).default(10_000),
  /** Node server: time to receive a whole request, headers and body (a stalled upload is cut after it). */
  CIR_HTTP_REQUEST_TIMEOUT_MS: int(100, 3_600_000).default(30_000),
  /** Node server: how long an idle keep-alive connection stays open between requests. */
  CIR_HTTP_IDLE_TIMEOUT_MS: int(100, 600_000).default(5_000),
  /**
   * Node server: how long a shutdown (SIGTERM) waits for requests in flight, keep-alive clients
   * included, before it closes every connection and releases the rest (trajectories not yet
   * delivered stay in the spool for the next start).
   */
  CIR_SHUTDOWN_MS: int(0, 600_000).default(10_000),
  /** Node server: grading threads (/v1/grade, /v1/solve with gold); a grading past its timeout plus a second is stopped. */
  CIR_GRADING_THREADS: int(1, 64).default(2),
  /** Node server: open connections at once, and from one client address; beyond them a connection gets 503 and is closed. */
  CIR_HTTP_MAX_CONNECTIONS: int(1, 1_000_000).default(2048),
  CIR_HTTP_MAX_CONNECTIONS_PER_CLIENT: int(1, 1_000_000).default(256),
  /** Origins allowed to call the API from a browser (CORS): comma-separated, or `*`; empty: CORS off. */
  CIR_CORS_ORIGINS: corsOrigins.default([]),
  /** Code-integrated reasoning (/v1/solve, /v1/chat/completions): tool budget when the checkpoint gives none. */
  CIR_TOOL_BUDGET: int(0, 256).default(4),
  /** Largest tool budget a request may ask for (max_tool_calls). */
  CIR_MAX_TOOL_CALLS: int(0, 256).default(16),
  /** Default max_tokens of a solve (model tokens per sample, over all turns). */
  CIR_SOLVE_MAX_TOKENS: int(1, 1_000_000).default(2048),
  CIR_MAX_PROBLEM_CHARS: int(1, 10_000_000).default(32_000),
  /** Largest n per solve (the model's own maximum applies too). */
  CIR_SOLVE_MAX_N: int(1, 1024).default(64),
  /**
   * Wall-clock limit of one execution inside a rollout (a request's tool_timeout_ms may change it, up to
   * CIR_EXEC_MAX_TIMEOUT_MS): one runaway snippet cannot hold a whole solve; the model reads `timeout`.
   */
  CIR_TOOL_TIMEOUT_MS: int(1, 600_000).default(3_000),
  /** Execution output shown to the model, UTF-8 bytes (head + tail kept around a marker). */
  CIR_TOOL_OUTPUT_BYTES: int(64, 64 * 1024 * 1024).default(2048),
  /** Show the model the whole traceback of failing code instead of its last line. */
  CIR_FULL_TRACEBACK: z.enum(['true', 'false', '1', '0']).default('false').transform((v) => v === 'true' || v === '1'),
});

export type Config = z.infer<typeof ConfigSchema>;

export { ConfigError };

/** Reads the configuration from `env`; empty strings count as unset. Throws ConfigError listing every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const config = parseEnv(ConfigSchema, env);
  const pairs: [string, number, string, number][] = [
    ['CIR_EXEC_TIMEOUT_MS', config.CIR_EXEC_TIMEOUT_MS, 'CIR_EXEC_MAX_TIMEOUT_MS', config.CIR_EXEC_MAX_TIMEOUT_MS],
    ['CIR_EXEC_MEMORY_MB', config.CIR_EXEC_MEMORY_MB, 'CIR_EXEC_MAX_MEMORY_MB', config.CIR_EXEC_MAX_MEMORY_MB],
    ['CIR_EXEC_OUTPUT_BYTES', config.CIR_EXEC_OUTPUT_BYTES, 'CIR_EXEC_MAX_OUTPUT_BYTES', config.CIR_EXEC_MAX_OUTPUT_BYTES],
    ['CIR_TOOL_TIMEOUT_MS', config.CIR_TOOL_TIMEOUT_MS, 'CIR_EXEC_MAX_TIMEOUT_MS', config.CIR_EXEC_MAX_TIMEOUT_MS],
  ];
  const conflicts = pairs
    .filter(([, def, , max]) => def > max)
    .map(([defKey, def, maxKey, max]) => `${defKey}=${def} exceeds ${maxKey}=${max}`);
  if (config.CIR_PYTHON_EXECUTOR === 'remote' && !config.CIR_SANDBOX_URL) {
    conflicts.push('CIR_PYTHON_EXECUTOR=remote needs CIR_SANDBOX_URL');
  }
  if (config.CIR_TOOL_BUDGET > config.CIR_MAX_TOOL_CALLS) {
    conflicts.push(`CIR_TOOL_BUDGET=${config.CIR_TOOL_BUDGET} exceeds CIR_MAX_TOOL_CALLS=${config.CIR_MAX_TOOL_CALLS}`);
  }
  if (config.CIR_HTTP_HEADERS_TIMEOUT_MS > config.CIR_HTTP_REQUEST_TIMEOUT_MS) {
    conflicts.push(`CIR_HTTP_HEADERS_TIMEOUT_MS=${config.CIR_HTTP_HEADERS_TIMEOUT_MS} exceeds CIR_HTTP_REQUEST_TIMEOUT_MS=${config.CIR_HTTP_REQUEST_TIMEOUT_MS}`);
  }
  if (config.CIR_HTTP_MAX_CONNECTIONS_PER_CLIENT > config.CIR_HTTP_MAX_CONNECTIONS) {
    conflicts.push(`CIR_HTTP_MAX_CONNECTIONS_PER_CLIENT=${config.CIR_HTTP_MAX_CONNECTIONS_PER_CLIENT} exceeds CIR_HTTP_MAX_CONNECTIONS=${config.CIR_HTTP_MAX_CONNECTIONS}`);
  }
  if (config.CIR_CORS_ORIGINS.includes('*') && config.CIR_CORS_ORIGINS.length > 1) {
    conflicts.push('CIR_CORS_ORIGINS: * allows every origin; list origins or give * alone');
  }
  if (conflicts.length > 0) throw new ConfigError(conflicts);
  return config;
}

/** Limits the sandbox applies to each request: defaults, and the maxima a request may ask for. */
export interface ExecLimits {
  maxCodeBytes: number;
  timeoutMs: { default: number; max: number };
  memoryMb: { default: number; max: number };
  outputBytes: { default: number; max: number };
}

export function execLimits(config: Config): ExecLimits {
  return {
    maxCodeBytes: config.CIR_MAX_CODE_BYTES,
    timeoutMs: { default: config.CIR_EXEC_TIMEOUT_MS, max: config.CIR_EXEC_MAX_TIMEOUT_MS },
    memoryMb: { default: config.CIR_EXEC_MEMORY_MB, max: config.CIR_EXEC_MAX_MEMORY_MB },
    outputBytes: { default: config.CIR_EXEC_OUTPUT_BYTES, max: config.CIR_EXEC_MAX_OUTPUT_BYTES },
  };
}
