/**
 * The executor contract: every sandbox driver (quickjs, python, remote SandboxFusion)
 * takes a fully-resolved ExecRequest and returns an ExecResult of one shape, so that
 * routes, the reasoning loop and benchmarks never care which driver ran the code.
 */
export const LANGUAGES = ['javascript', 'python'] as const;
export type Language = (typeof LANGUAGES)[number];

export type ExecStatus = 'ok' | 'error' | 'timeout' | 'memory' | 'output_limit';

/** A request with every limit resolved (defaults applied and clamped by the caller). */
export interface ExecRequest {
  language: Language;
  code: string;
  /** Wall-clock deadline for the snippet, in milliseconds. */
  timeoutMs: number;
  /** Memory limit for the snippet, in MiB. */
  memoryMb: number;
  stdin: string;
  /** Cap on each of stdout and stderr, in UTF-8 bytes; beyond it, head+tail are kept. */
  maxOutputBytes: number;
}

export interface ExecResult {
  status: ExecStatus;
  stdout: string;
  stderr: string;
  /** What a model should read: the error message, or the last line of a traceback. Null when status is ok. */
  error: string | null;
  truncated: { stdout: boolean; stderr: boolean };
  duration_ms: number;
  /** Which driver ran it, e.g. "quickjs", "python-bwrap", "sandboxfusion". */
  executor: string;
}

export interface Executor {
  /** Driver name, reported as ExecResult.executor and in /v1/info. */
  readonly name: string;
  readonly languages: readonly Language[];
  /** How many executions this driver runs well at once (e.g. its pool size); the Sandbox bounds concurrency by it. */
  readonly concurrency?: number;
  /** What contains a run on this host, shown in /v1/info (python-bwrap: cgroup, seccomp, tmpfs, what is not contained). */
  readonly containment?: Readonly<Record<string, unknown>>;
  /** Never throws for problems with the snippet itself: those are ExecResult statuses. */
  execute(req: ExecRequest, signal?: AbortSignal): Promise<ExecResult>;
  /** Releases pooled processes, threads or wasm modules. */
  dispose(): Promise<void>;
}
