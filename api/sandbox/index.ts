import { ApiError } from '../errors.ts';
import { execLimits, type Config, type ExecLimits } from '../config.ts';
import { INTERNAL_CALLER, Limiter } from './limiter.ts';
import { LANGUAGES, type ExecRequest, type ExecResult, type Executor, type Language } from './types.ts';

export type { ExecRequest, ExecResult, Executor, Language } from './types.ts';

/** What a caller may leave out: limits fall back to the server's defaults. */
export interface ExecInput {
  language: Language;
  code: string;
  timeoutMs?: number;
  memoryMb?: number;
  stdin?: string;
  maxOutputBytes?: number;
  /** Who the execution counts against in the per-caller quotas (api/middleware/caller); default: in-process work. */
  caller?: string;
}

export interface SandboxOptions {
  executors: Executor[];
  limits: ExecLimits;
  /** Concurrent executions per executor (default: the executor's own hint, else 4). */
  concurrency?: number;
  /** Executions allowed to wait per executor before requests get 503. */
  queueLimit: number;
  /**
   * Each caller's share of each executor (a server's callers: API keys or client addresses): executions
   * running at once (default half the executor's concurrency, at least 1) and waiting before 429.
   * Absent: no per-caller caps, for a process with one caller (the CLI).
   */
  callerShare?: { concurrency?: number; queueLimit: number };
  /** Shown instead of a plain "unsupported" when a language has no executor (e.g. why python is off). */
  unavailableReasons?: Partial<Record<Language, string>>;
}

export type ExecutorDescription =
  | {
      executor: string;
      concurrency: number;
      queue_limit: number;
      caller_concurrency: number;
      caller_queue_limit: number;
      running: number;
      queued: number;
      /** What contains its runs (cgroup, seccomp, tmpfs caps), when the executor says. */
      containment?: Readonly<Record<string, unknown>>;
    }
  | { executor: null; reason: string };

/**
 * The sandbox front: routes a request to the executor for its language, resolves and checks
 * limits, and bounds concurrency. Routes and the reasoning loop use this, never an executor directly.
 */
export class Sandbox {
  private readonly byLanguage = new Map<Language, { executor: Executor; limiter: Limiter }>();

  constructor(private readonly options: SandboxOptions) {
    for (const executor of options.executors) {
      const concurrency = options.concurrency ?? executor.concurrency ?? 4;
      const share = options.callerShare;
      const limiter = new Limiter({
        concurrency,
        queueLimit: options.queueLimit,
        ...(share && { callerConcurrency: share.concurrency ?? Math.max(1, Math.ceil(concurrency / 2)), callerQueueLimit: share.queueLimit }),
      });
      for (const language of executor.languages) {
        if (!this.byLanguage.has(language)) this.byLanguage.set(language, { executor, limiter });
      }
    }
  }

  get limits(): ExecLimits {
    return this.options.limits;
  }

  /**
   * Language → executor name, its concurrency (with each caller's share), load now and what contains its
   * runs (when it says), or null with the reason it is unavailable.
   */
  describe(): Record<Language, ExecutorDescription> {
    const out = {} as Record<Language, ExecutorDescription>;
    for (const language of LANGUAGES) {
      const entry = this.byLanguage.get(language);
      out[language] = entry
        ? {
            executor: entry.executor.name,
            concurrency: entry.limiter.concurrency,
            queue_limit: entry.limiter.queueLimit,
            caller_concurrency: entry.limiter.callerConcurrency,
            caller_queue_limit: entry.limiter.callerQueueLimit,
            running: entry.limiter.active,
            queued: entry.limiter.queued,
            ...(entry.executor.containment && { containment: entry.executor.containment }),
          }
        : { executor: null, reason: this.options.unavailableReasons?.[language] ?? 'no executor configured' };
    }
    return out;
  }

  /** Applies defaults and rejects out-of-range limits with a 400 naming the field. */
  resolve(input: ExecInput): ExecRequest {
    const { limits } = this.options;
    const codeBytes = new TextEncoder().encode(input.code).length;
    if (codeBytes > limits.maxCodeBytes) {
      throw new ApiError(413, 'payload_too_large', `code is ${codeBytes} bytes; the limit is ${limits.maxCodeBytes}`);
    }
    return {
      language: input.language,
      code: input.code,
      timeoutMs: within('timeout_ms', input.timeoutMs, 1, limits.timeoutMs),
      memoryMb: within('memory_mb', input.memoryMb, 8, limits.memoryMb),
      maxOutputBytes: within('max_output_bytes', input.maxOutputBytes, 64, limits.outputBytes),
      stdin: input.stdin ?? '',
    };
  }

  async execute(input: ExecInput, signal?: AbortSignal): Promise<ExecResult> {
    const entry = this.byLanguage.get(input.language);
    if (!entry) {
      const reason = this.options.unavailableReasons?.[input.language] ?? 'no executor is configured for it';
      throw new ApiError(501, 'unsupported', `language "${input.language}" is not available on this server: ${reason}`);
    }
    const request = this.resolve(input);
    return entry.limiter.run(() => entry.executor.execute(request, signal), signal, input.caller ?? INTERNAL_CALLER);
  }

  async dispose(): Promise<void> {
    const executors = new Set([...this.byLanguage.values()].map((e) => e.executor));
    await Promise.all([...executors].map((e) => e.dispose()));
  }
}

function within(field: string, value: number | undefined, min: number, range: { default: number; max: number }): number {
  if (value === undefined) return range.default;
  if (!Number.isFinite(value) || value < min || value > range.max) {
    throw new ApiError(400, 'invalid_request', `${field} must be between ${min} and ${range.max} (got ${value})`);
  }
  return Math.floor(value);
}

/**
 * The sandbox that a runtime entry builds from the validated config and the executors its host offers;
 * `shared`: a server's, whose callers get their shares (CIR_EXEC_CALLER_*), not the CLI's.
 */
export function createSandboxFromConfig(
  config: Config,
  executors: Executor[],
  unavailableReasons: Partial<Record<Language, string>> = {},
  shared = false,
): Sandbox {
  return new Sandbox({
    executors,
    limits: execLimits(config),
    concurrency: config.CIR_EXEC_CONCURRENCY,
    queueLimit: config.CIR_EXEC_QUEUE_LIMIT,
    unavailableReasons,
    ...(shared && { callerShare: { concurrency: config.CIR_EXEC_CALLER_CONCURRENCY, queueLimit: config.CIR_EXEC_CALLER_QUEUE_LIMIT } }),
  });
}
