import { Scope, type QuickJSContext, type QuickJSHandle, type QuickJSWASMModule } from 'quickjs-emscripten-core';
import { OutputCollector } from '../output.ts';
import type { ExecRequest, ExecResult, ExecStatus } from '../types.ts';
import { BRIDGE_SOURCE, FORMATTER_SOURCE } from './prelude.ts';

/**
 * One snippet, one fresh QuickJS runtime and context, on an already-loaded wasm module.
 * Pure with respect to its host: no Node or Workers API, so the Node threads and the
 * Workers isolate run exactly this.
 */

export const EXECUTOR_NAME = 'quickjs';
const MiB = 1024 * 1024;
const OUT_OF_MEMORY = 'InternalError: out of memory';
const MAX_SUMMARY_CHARS = 1000;

export interface RunLimits {
  /**
   * QuickJS's stack limit. QuickJS measures only the wasm shadow stack, while wasm frames also
   * use the host's native stack: this must trip first, or the host throws its own RangeError.
   */
  stackBytes: number;
  /**
   * Interrupt checks allowed per millisecond of timeout, for hosts whose clock does not advance
   * during synchronous work (Cloudflare's). QuickJS checks about every 10,000 branches or calls.
   * Undefined: the clock alone decides.
   */
  checksPerMs?: number;
  /** A run is stopped once it has printed this many times max_output_bytes: the excess would be dropped anyway. */
  outputFloodFactor: number;
}

export interface RunOptions extends RunLimits {
  /** Milliseconds, monotonic. Injectable so tests can stand the clock still like Cloudflare's. */
  now?: () => number;
  /** Whether the host refused the wasm heap more memory during this run (see heap.ts). */
  heapExhausted?: () => boolean;
  /** Whether the caller has given up on this run: it stops at the next interrupt check, and its result is not used. */
  cancelled?: () => boolean;
}

export interface RunOutcome {
  result: ExecResult;
  /**
   * The wasm module threw on the host side (its native stack overflowed, or emscripten aborted):
   * QuickJS's state is unknown, so the module must be discarded and nothing else run on it.
   */
  moduleBroken: boolean;
}

type StopReason = 'timeout' | 'output_limit' | 'cancelled';

interface Uncaught {
  summary: string;
  text: string;
  outOfMemory: boolean;
}

export function runSnippet(module: QuickJSWASMModule, request: ExecRequest, options: RunOptions): RunOutcome {
  const run = new SnippetRun(request, options);
  // Every handle of the run, the runtime and context included, so they are freed in reverse order.
  const scope = new Scope();
  try {
    const runtime = scope.manage(module.newRuntime());
    runtime.setMemoryLimit(request.memoryMb * MiB);
    runtime.setMaxStackSize(options.stackBytes);
    runtime.setInterruptHandler(() => run.shouldInterrupt());
    run.execute(scope.manage(runtime.newContext()), scope);
  } catch (error) {
    // Thrown on the host side from inside wasm: freeing handles could only fail again, so they
    // are abandoned along with the module.
    run.hostFault(error);
    return { result: run.result(), moduleBroken: true };
  }
  try {
    scope.dispose();
  } catch {
    // QuickJS asserts on leaked objects when a runtime is freed: the module is not to be trusted.
    return { result: run.result(), moduleBroken: true };
  }
  return { result: run.result(), moduleBroken: false };
}

/** The state of one run: output, the reason it was stopped, and how it ended. */
class SnippetRun {
  private readonly stdout: OutputCollector;
  private readonly stderr: OutputCollector;
  private readonly now: () => number;
  private readonly started: number;
  private readonly deadline: number;
  private readonly checkBudget: number;
  private readonly floodBytes: number;
  private checks = 0;
  private stopped: StopReason | null = null;
  private uncaught: Uncaught | null = null;

  constructor(
    private readonly request: ExecRequest,
    private readonly options: RunOptions,
  ) {
    this.stdout = new OutputCollector(request.maxOutputBytes);
    this.stderr = new OutputCollector(request.maxOutputBytes);
    this.now = options.now ?? (() => performance.now());
    this.started = this.now();
    this.deadline = this.started + request.timeoutMs;
    this.checkBudget = options.checksPerMs === undefined ? Infinity : Math.max(1, request.timeoutMs * options.checksPerMs);
    this.floodBytes = request.maxOutputBytes * options.outputFloodFactor;
  }

  shouldInterrupt(): boolean {
    if (this.stopped === null && (++this.checks > this.checkBudget || this.now() > this.deadline)) this.stopped = 'timeout';
    if (this.stopped === null && this.options.cancelled?.()) this.stopped = 'cancelled';
    return this.stopped !== null;
  }

  private write(fd: number, text: string): void {
    if (this.stopped === 'output_limit') return;
    (fd === 2 ? this.stderr : this.stdout).push(text);
    // Stopped at the next interrupt check (a few thousand operations away): a flood costs little.
    if (this.stdout.bytesSeen + this.stderr.bytesSeen > this.floodBytes) this.stopped = 'output_limit';
  }

  execute(context: QuickJSContext, scope: Scope): void {
    const bridge = this.installBridge(context, scope);
    if (!bridge) return;
    this.evaluate(context, scope, bridge.describe);
    // Output still batched in the sandbox, read without running sandbox code: it survives a timeout.
    for (const fd of [1, 2]) {
      const text = scope.manage(context.getProp(bridge.pending, fd - 1));
      if (context.typeof(text) === 'string') this.write(fd, context.getString(text));
    }
  }

  private evaluate(context: QuickJSContext, scope: Scope, describe: QuickJSHandle): void {
    const evaluated = context.evalCode(this.request.code, 'main.js');
    if (evaluated.error) return this.caught(context, describe, scope.manage(evaluated.error));
    scope.manage(evaluated.value);
    const jobs = context.runtime.executePendingJobs();
    if (jobs.error) return this.caught(context, describe, scope.manage(jobs.error));
    // An async main() as the last statement: its rejection is reported like an uncaught exception.
    const settled = context.getPromiseState(evaluated.value);
    if (settled.type === 'rejected') this.caught(context, describe, scope.manage(settled.error));
    else if (settled.type === 'fulfilled' && !settled.notAPromise) scope.manage(settled.value);
  }

  /** Runs the bridge (prelude.ts); null when it could not run, e.g. under a 1 ms deadline. */
  private installBridge(context: QuickJSContext, scope: Scope): { describe: QuickJSHandle; pending: QuickJSHandle } | null {
    const install = context.evalCode(BRIDGE_SOURCE, 'prelude.js');
    if (install.error) {
      this.caught(context, null, scope.manage(install.error));
      return null;
    }
    const write = scope.manage(
      context.newFunction('write', (fd, text) => {
        this.write(context.getNumber(fd), context.getString(text));
      }),
    );
    const stdin = scope.manage(context.newString(this.request.stdin));
    const formatter = scope.manage(context.newString(FORMATTER_SOURCE));
    // Past floodBytes the run is stopped; a unit is at least a byte, so this much output always trips it.
    const budget = scope.manage(context.newNumber(this.floodBytes + 2));
    const installed = context.callFunction(scope.manage(install.value), context.undefined, write, stdin, formatter, budget);
    if (installed.error) {
      this.caught(context, null, scope.manage(installed.error));
      return null;
    }
    const bridge = scope.manage(installed.value);
    return { describe: scope.manage(context.getProp(bridge, 'describe')), pending: scope.manage(context.getProp(bridge, 'pending')) };
  }

  /** Records an uncaught exception, which result() appends to stderr as Node would print it. */
  private caught(context: QuickJSContext, describe: QuickJSHandle | null, thrown: QuickJSHandle): void {
    if (this.stopped === null) this.uncaught = this.describe(context, describe, thrown);
  }

  private describe(context: QuickJSContext, describe: QuickJSHandle | null, thrown: QuickJSHandle): Uncaught {
    // Out of memory, formatting the exception (inside the sandbox or by dumping it) would only fail again.
    if (this.options.heapExhausted?.()) return { summary: OUT_OF_MEMORY, text: OUT_OF_MEMORY, outOfMemory: true };
    if (describe) {
      const described = context.callFunction(describe, context.undefined, thrown);
      if (described.error) {
        described.error.dispose();
      } else {
        const parts: unknown = context.dump(described.value);
        described.value.dispose();
        if (Array.isArray(parts) && typeof parts[0] === 'string' && typeof parts[1] === 'string') {
          return { summary: clip(parts[0]), text: parts[1], outOfMemory: parts[0] === OUT_OF_MEMORY };
        }
      }
    }
    // The host's own reading of the exception; only a toJSON could run, bounded by the interrupt handler.
    const raw: unknown = context.dump(thrown);
    const summary = clip(isErrorLike(raw) ? `${raw.name}: ${raw.message}` : `Uncaught ${JSON.stringify(raw) ?? String(raw)}`);
    return { summary, text: summary, outOfMemory: summary === OUT_OF_MEMORY };
  }

  /** The host threw from inside wasm: report it as the snippet's error, since the snippet caused it. */
  hostFault(error: unknown): void {
    const summary = error instanceof Error ? `${error.name}: ${error.message}` : `host error: ${String(error)}`;
    this.uncaught = { summary, text: summary, outOfMemory: this.options.heapExhausted?.() ?? false };
  }

  /** The outcome; call once, after the run. */
  result(): ExecResult {
    if (this.uncaught) this.stderr.push(`${this.uncaught.text}\n`);
    const stdout = this.stdout.result();
    const stderr = this.stderr.result();
    const overflowed = stdout.truncated || stderr.truncated;
    let status: ExecStatus;
    let error: string | null;
    if (this.stopped === 'timeout') {
      status = 'timeout';
      error = `timed out after ${this.request.timeoutMs} ms`;
    } else if (this.stopped === 'cancelled') {
      status = 'error';
      error = 'cancelled: the caller gave up on this run';
    } else if (this.stopped === 'output_limit') {
      status = 'output_limit';
      error = `output limit exceeded: stopped after ${this.stdout.bytesSeen + this.stderr.bytesSeen} bytes of output (max_output_bytes is ${this.request.maxOutputBytes})`;
    } else if (this.uncaught?.outOfMemory) {
      status = 'memory';
      error = `out of memory: the snippet exceeded its ${this.request.memoryMb} MiB memory limit`;
    } else if (overflowed) {
      status = 'output_limit';
      error = this.uncaught?.summary ?? `output exceeded max_output_bytes (${this.request.maxOutputBytes}) and was truncated`;
    } else {
      status = this.uncaught ? 'error' : 'ok';
      error = this.uncaught?.summary ?? null;
    }
    return {
      status,
      stdout: stdout.text,
      stderr: stderr.text,
      error,
      truncated: { stdout: stdout.truncated, stderr: stderr.truncated },
      duration_ms: Math.round((this.now() - this.started) * 1000) / 1000,
      executor: EXECUTOR_NAME,
    };
  }
}

/** The `error` field is one line for a model to read, not a dump. */
function clip(summary: string): string {
  return summary.length > MAX_SUMMARY_CHARS ? `${summary.slice(0, MAX_SUMMARY_CHARS)}…` : summary;
}

function isErrorLike(value: unknown): value is { name: string; message: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { name?: unknown }).name === 'string' &&
    typeof (value as { message?: unknown }).message === 'string'
  );
}
