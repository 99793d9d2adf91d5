import { constants } from 'node:os';
import type { CappedText } from '../output.ts';
import type { ExecStatus } from '../types.ts';
import type { DoneInfo } from './protocol.ts';

/** Why Node stopped a run itself, if it did. */
export type StopReason = 'timeout' | 'output_limit' | null;

export interface RunRecord {
  stopped: StopReason;
  /** The zygote's report; null when the sandbox died or was killed before sending one. */
  done: DoneInfo | null;
  /** The sandbox cgroup's out-of-memory killer killed a process during the run. */
  oomKilled: boolean;
  stdout: CappedText;
  stderr: CappedText;
  /** stdout and stderr bytes seen, before capping. */
  outputBytes: number;
  timeoutMs: number;
  memoryMb: number;
  maxOutputBytes: number;
}

/**
 * Status and model-facing error of a run. Precedence: what Node did (timeout, output kill),
 * then memory (the snippet's MemoryError, then the cgroup's out-of-memory killer) and fatal
 * signals, then truncated output, then the snippet's own error.
 */
export function classify(run: RunRecord): { status: ExecStatus; error: string | null } {
  if (run.stopped === 'timeout') return { status: 'timeout', error: `timed out after ${run.timeoutMs} ms` };
  if (run.stopped === 'output_limit') {
    return {
      status: 'output_limit',
      error: `output limit exceeded: stopped after ${run.outputBytes} bytes of output (max_output_bytes is ${run.maxOutputBytes})`,
    };
  }
  if (run.done?.outcome?.kind === 'memory') return { status: 'memory', error: run.done.outcome.error ?? 'MemoryError' };
  if (run.oomKilled) {
    return {
      status: 'memory',
      error: `memory limit exceeded: the run's processes, files and pipes together passed memory_mb (${run.memoryMb} MiB) and the out-of-memory killer stopped it`,
    };
  }
  if (!run.done) return { status: 'error', error: 'the sandbox exited unexpectedly (did the snippet kill its parent, or change its limits?)' };
  const { outcome, signal, exitCode } = run.done;
  if (signal !== null) {
    const name = signalName(signal);
    // RLIMIT_CPU is the backstop behind the wall clock; SIGKILL from inside the sandbox is the OOM killer.
    if (name === 'SIGXCPU') return { status: 'timeout', error: 'CPU time limit exceeded' };
    if (name === 'SIGKILL') return { status: 'memory', error: 'killed by SIGKILL (out of memory)' };
    return { status: 'error', error: `killed by ${name}` };
  }
  const failure = outcome?.kind === 'error' ? (outcome.error ?? 'error') : exitCode !== 0 ? `exited with status ${exitCode}` : null;
  if (run.stdout.truncated || run.stderr.truncated) {
    // The snippet's own error, if it had one, says more than the truncation (which `truncated` shows).
    return { status: 'output_limit', error: failure ?? `output exceeded max_output_bytes (${run.maxOutputBytes}) and was truncated` };
  }
  return failure === null ? { status: 'ok', error: null } : { status: 'error', error: failure };
}

function signalName(signal: number): string {
  const entry = Object.entries(constants.signals).find(([, n]) => n === signal);
  return entry ? entry[0] : `signal ${signal}`;
}
