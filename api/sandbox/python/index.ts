import { readFileSync } from 'node:fs';
import { Limiter } from '../limiter.ts';
import { OutputCollector } from '../output.ts';
import type { ExecRequest, ExecResult, Executor } from '../types.ts';
import { bwrapArgs } from './bwrap.ts';
import { setUpContainment, type Containment, type ContainmentReport } from './containment.ts';
import { PythonUnavailableError, resolveOptions, type PythonExecutorOptions, type ResolvedOptions } from './options.ts';
import { ZygotePool } from './pool.ts';
import { PreloadedSandboxes, type PreloadReport } from './preload.ts';
import type { ZygoteRequest } from './protocol.ts';
import { classify, type StopReason } from './result.ts';
import { Zygote, type RunOutcome, type SandboxCommand } from './zygote.ts';

export type { ContainmentReport } from './containment.ts';
export type { PreloadReport } from './preload.ts';

/** /v1/info's `executors.python.containment`: what contains a run, and which modules start preloaded. */
export type PythonExecutorReport = ContainmentReport & { preload: PreloadReport };
export { PYTHON_DEFAULTS, PythonUnavailableError, type PythonExecutorOptions } from './options.ts';

export const PYTHON_EXECUTOR_NAME = 'python-bwrap';

const zygoteSource = readFileSync(new URL('./zygote.py', import.meta.url), 'utf8');

/** Processes in a sandbox besides the snippet's: bwrap, the sandbox's init and the zygote. */
const SANDBOX_OWN_TASKS = 3;

function sandboxCommand(options: ResolvedOptions, containment: Containment): SandboxCommand {
  const { cgroups, sandboxFilter, snippetFilter } = containment;
  return {
    bwrapBin: options.bwrapBin,
    args: bwrapArgs(options, zygoteSource, { sandboxFilter, snippetFilter, cgroup: cgroups !== null }),
    user: options.sandboxUser,
    sandboxFilter,
    cgroups,
    maxTasks: options.maxProcesses + SANDBOX_OWN_TASKS,
  };
}

/** Python reads stdin as UTF-8, which has no encoding for half a surrogate pair. */
function invalidStdin(stdin: string): string | null {
  const lone = /\p{Surrogate}/u.exec(stdin);
  if (!lone) return null;
  const unit = lone[0].charCodeAt(0).toString(16).toUpperCase();
  return `invalid stdin: a lone UTF-16 surrogate (U+${unit}) at index ${lone.index} has no UTF-8 encoding; send stdin as valid Unicode text`;
}

function zygoteRequest(req: ExecRequest, options: ResolvedOptions): ZygoteRequest {
  return {
    code: req.code,
    stdin: req.stdin,
    limits: {
      timeoutMs: req.timeoutMs,
      memoryMb: req.memoryMb,
      maxProcesses: options.maxProcesses,
      maxOpenFiles: options.maxOpenFiles,
    },
  };
}

/**
 * Python in bubblewrap sandboxes, one fresh forked process per snippet (README.md here).
 * Throws PythonUnavailableError when bwrap or the interpreter is missing; call probePython
 * first to also check that sandboxes actually start on this host.
 */
export function createPythonExecutor(options: PythonExecutorOptions = {}): Executor & { containment: PythonExecutorReport } {
  const resolved = resolveOptions(options);
  const containment = setUpContainment(resolved);
  const plainCommand = sandboxCommand({ ...resolved, preloadModules: [] }, containment);
  const preloadCommand = sandboxCommand(resolved, containment);
  const plain = new ZygotePool(resolved.poolSize, () => new Zygote(plainCommand));
  plain.fill();
  // Started second, so that the plain sandboxes are ready first; warms in the background.
  const preloaded = new PreloadedSandboxes(resolved.preloadModules, resolved.poolSize, () => new Zygote(preloadCommand));
  // Either kind has poolSize sandboxes; together they still run at most poolSize snippets at once.
  const runs = new Limiter({ concurrency: resolved.poolSize, queueLimit: Infinity });

  async function execute(req: ExecRequest, signal?: AbortSignal): Promise<ExecResult> {
    const stdinProblem = invalidStdin(req.stdin);
    if (stdinProblem) return refused(stdinProblem);
    return runs.run(() => executeInSandbox(req, signal), signal);
  }

  async function executeInSandbox(req: ExecRequest, signal?: AbortSignal): Promise<ExecResult> {
    const { zygote, pool } = (await preloaded.acquire(req.code, signal)) ?? { zygote: await plain.acquire(signal), pool: plain };
    const started = performance.now();
    const stdout = new OutputCollector(req.maxOutputBytes);
    const stderr = new OutputCollector(req.maxOutputBytes);
    const floodBytes = req.maxOutputBytes * resolved.outputFloodFactor;
    let stopped: StopReason | 'aborted' = null;
    const stop = (why: NonNullable<typeof stopped>) => {
      if (stopped) return;
      stopped = why;
      zygote.kill();
    };
    const collect = (collector: OutputCollector) => (chunk: Uint8Array) => {
      collector.push(chunk);
      if (stdout.bytesSeen + stderr.bytesSeen > floodBytes) stop('output_limit');
    };
    const timer = setTimeout(() => stop('timeout'), req.timeoutMs);
    const onAbort = () => stop('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    let outcome: RunOutcome = { done: null, oomKilled: false };
    try {
      outcome = await zygote.run(zygoteRequest(req, resolved), { stdout: collect(stdout), stderr: collect(stderr) });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      pool.release(zygote, outcome.done !== null && stopped === null);
    }
    if (stopped === 'aborted') throw signal?.reason;
    const out = stdout.result();
    const err = stderr.result();
    const { status, error } = classify({
      stopped,
      ...outcome,
      stdout: out,
      stderr: err,
      outputBytes: stdout.bytesSeen + stderr.bytesSeen,
      timeoutMs: req.timeoutMs,
      memoryMb: req.memoryMb,
      maxOutputBytes: req.maxOutputBytes,
    });
    return {
      status,
      stdout: out.text,
      stderr: err.text,
      error,
      truncated: { stdout: out.truncated, stderr: err.truncated },
      duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
      executor: PYTHON_EXECUTOR_NAME,
    };
  }

  return {
    name: PYTHON_EXECUTOR_NAME,
    languages: ['python'],
    concurrency: resolved.poolSize,
    containment: { ...containment.report, preload: preloaded.report },
    execute,
    dispose: async () => {
      await Promise.all([plain.dispose(), preloaded.dispose()]);
      containment.cgroups?.dispose();
    },
  };
}

/** The result of a request refused before it reached a sandbox. */
function refused(error: string): ExecResult {
  return {
    status: 'error',
    stdout: '',
    stderr: '',
    error,
    truncated: { stdout: false, stderr: false },
    duration_ms: 0,
    executor: PYTHON_EXECUTOR_NAME,
  };
}

export interface PythonProbe {
  available: boolean;
  /** Why not, when unavailable. */
  reason?: string;
  /** Version of the sandboxed interpreter. */
  python?: string;
  hasSympy: boolean;
  hasNumpy: boolean;
  /** What contains a run on this host (the probe's sandbox ran under it). */
  containment?: ContainmentReport;
}

const PROBE_TIMEOUT_MS = 20_000;

/**
 * Starts one sandbox and runs a snippet in it: the only reliable way to know that bwrap,
 * user namespaces and the interpreter all work here. Never throws.
 */
export async function probePython(options: PythonExecutorOptions = {}): Promise<PythonProbe> {
  const unavailable = (reason: string): PythonProbe => ({ available: false, reason, hasSympy: false, hasNumpy: false });
  let resolved: ResolvedOptions;
  try {
    resolved = { ...resolveOptions(options), preloadModules: [] };
  } catch (error) {
    if (error instanceof PythonUnavailableError) return unavailable(error.message);
    throw error;
  }
  const containment = setUpContainment(resolved);
  let zygote: Zygote;
  try {
    zygote = new Zygote(sandboxCommand(resolved, containment));
  } catch (error) {
    containment.cgroups?.dispose();
    return unavailable(`could not make the sandbox's cgroup: ${(error as Error).message}`);
  }
  const timer = setTimeout(() => zygote.kill(), PROBE_TIMEOUT_MS);
  try {
    const info = await zygote.ready;
    const stdout = new OutputCollector(4096);
    const stderr = new OutputCollector(4096);
    const { done } = await zygote.run(
      zygoteRequest({ language: 'python', code: 'print(input())', stdin: 'sandbox ok', timeoutMs: 5000, memoryMb: 64, maxOutputBytes: 4096 }, resolved),
      { stdout: (c) => stdout.push(c), stderr: (c) => stderr.push(c) },
    );
    if (done?.outcome?.kind !== 'ok' || stdout.result().text !== 'sandbox ok\n') {
      return unavailable(`a test snippet failed in the python sandbox: ${stderr.result().text.trim() || 'no output'}`);
    }
    return {
      available: true,
      python: info.python,
      hasSympy: info.modules.sympy,
      hasNumpy: info.modules.numpy,
      containment: containment.report,
    };
  } catch (error) {
    return unavailable((error as Error).message);
  } finally {
    clearTimeout(timer);
    zygote.kill();
    await zygote.closed;
    containment.cgroups?.dispose();
  }
}
