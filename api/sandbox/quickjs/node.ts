import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ExecRequest, ExecResult, Executor } from '../types.ts';
import { EXECUTOR_NAME, type RunLimits } from './run.ts';
import type { RunMessage, ThreadData, ThreadMessage } from './worker-thread.ts';

/**
 * The JavaScript executor for Node: a pool of worker threads, each with its own QuickJS
 * instance, running one snippet at a time in a fresh runtime and context.
 *
 * Why threads: QuickJS consults its interrupt handler only between bytecode operations, so a
 * long native operation (a huge sort, a big allocation loop) can overrun the deadline. Each run
 * therefore also has a hard limit of timeout + grace, past which its thread is terminated and
 * reported as `timeout` (its output is lost), and a fresh thread takes its place: the pool
 * never shrinks. A thread that crashes is replaced the same way.
 *
 * Cancellation: when the caller's signal aborts mid-run (a client went away), the run is flagged
 * through shared memory and stops at QuickJS's next interrupt check, freeing its thread within
 * milliseconds instead of at its deadline; `execute` rejects with the signal's reason.
 */

const MiB = 1024 * 1024;

export interface QuickJSNodeExecutorOptions {
  /** Worker threads, each running one snippet at a time. Default: the available cores. */
  threads?: number;
  /** How long past its deadline a run may go before its thread is terminated. Default 500 ms. */
  graceMs?: number;
  /** QuickJS's stack limit: 2 MiB by default, about 12,000 plain recursive calls (Node allows about 11,000). */
  stackBytes?: number;
  /** A run is stopped once it printed this many times max_output_bytes. Default 8. */
  outputFloodFactor?: number;
  /** A thread whose run grew its wasm memory past this is replaced, giving the memory back. Default 64 MiB. */
  retireHeapBytes?: number;
}

const NODE_DEFAULTS = { graceMs: 500, stackBytes: 2 * MiB, outputFloodFactor: 8, retireHeapBytes: 64 * MiB } as const;

/**
 * QuickJS's stack limit sees only the wasm shadow stack, which is 5 MiB in this build; beyond
 * that QuickJS would overwrite its own static data.
 */
const MAX_STACK_BYTES = 4 * MiB;
/**
 * Native stack per byte of QuickJS stack given to each thread, so QuickJS's limit trips before
 * the thread's: wasm frames also take native stack, up to ~25x the shadow stack when the parser
 * recurses (measured: `eval("[".repeat(1e6))`), so 64x leaves room.
 */
const NATIVE_STACK_PER_QUICKJS_BYTE = 64;
/** Delay before retrying a thread that failed to start, so a broken install does not spin. */
const RESTART_DELAY_MS = 1000;

const THREAD_ENTRY = new URL('./thread-entry.mjs', import.meta.url);

export function createQuickJSNodeExecutor(options: QuickJSNodeExecutorOptions = {}): Executor {
  return new QuickJSThreadPool(options);
}

/** Compiles the QuickJS wasm (once per pool: threads receive the compiled module and only instantiate it). */
export function compileQuickJSWasm(): WebAssembly.Module {
  const path = createRequire(import.meta.url).resolve('@jitl/quickjs-wasmfile-release-sync/wasm');
  return new WebAssembly.Module(readFileSync(path));
}

type RunOutcome = { kind: 'result'; result: ExecResult } | { kind: 'killed' } | { kind: 'crashed'; error: Error };

/** One worker thread and the run in flight on it, if any. */
class SandboxThread {
  /** Resolves once the thread has loaded its QuickJS instance; rejects if it dies before. */
  readonly ready: Promise<void>;
  private settle: ((outcome: RunOutcome) => void) | null = null;
  private alive = true;

  constructor(
    private readonly worker: Worker,
    private readonly onDeath: (thread: SandboxThread) => void,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      const onReady = (message: ThreadMessage) => {
        if (message.type !== 'ready') return;
        worker.off('message', onReady);
        resolve();
      };
      worker.on('message', onReady);
      // Both are also listened to for good below; these only matter before 'ready'.
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`sandbox thread exited with code ${code} while starting`)));
    });
    worker.on('message', (message: ThreadMessage) => {
      if (message.type !== 'result') return;
      this.finish({ kind: 'result', result: message.result });
      // Replaced like a dead thread, after its result is delivered.
      if (message.retire) this.die({ kind: 'killed' });
    });
    // A permanent 'error' listener: an unlistened 'error' event would throw in the host.
    worker.on('error', (error: unknown) => this.die({ kind: 'crashed', error: error instanceof Error ? error : new Error(String(error)) }));
    worker.on('exit', (code) => this.die({ kind: 'crashed', error: new Error(`sandbox thread exited with code ${code}`) }));
  }

  /**
   * Runs one request; terminates the thread if it is still running `hardLimitMs` later. An abort
   * of `signal` asks the run to stop at its next interrupt check (the hard limit still applies).
   */
  run(request: ExecRequest, hardLimitMs: number, signal?: AbortSignal): Promise<RunOutcome> {
    if (!this.alive) return Promise.resolve({ kind: 'crashed', error: new Error('sandbox thread is gone') });
    this.worker.ref();
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    const onAbort = () => Atomics.store(cancel, 0, 1);
    // An abort that came before this run began fires no event any more: it is read here.
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    return new Promise<RunOutcome>((resolve) => {
      const timer = setTimeout(() => this.die({ kind: 'killed' }), hardLimitMs);
      this.settle = (outcome) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        // An idle thread must not keep the process alive; the timer does while a run is in flight.
        this.worker.unref();
        resolve(outcome);
      };
      this.worker.postMessage({ request, cancel } satisfies RunMessage);
    });
  }

  terminate(): Promise<number> {
    this.alive = false;
    return this.worker.terminate();
  }

  private finish(outcome: RunOutcome): void {
    const settle = this.settle;
    this.settle = null;
    settle?.(outcome);
  }

  private die(outcome: RunOutcome): void {
    if (!this.alive) return this.finish(outcome);
    this.alive = false;
    void this.worker.terminate();
    this.finish(outcome);
    this.onDeath(this);
  }
}

class QuickJSThreadPool implements Executor {
  readonly name = EXECUTOR_NAME;
  readonly languages = ['javascript'] as const;
  readonly concurrency: number;
  private readonly graceMs: number;
  private readonly threadData: ThreadData;
  private readonly stackSizeMb: number;
  /** Started (ready) threads that have not died: idle or running. */
  private readonly live = new Set<SandboxThread>();
  private readonly idle: SandboxThread[] = [];
  private readonly waiting: { resolve: (thread: SandboxThread) => void; reject: (error: unknown) => void }[] = [];
  private startError: Error | null = null;
  private disposed = false;

  constructor(options: QuickJSNodeExecutorOptions) {
    this.concurrency = Math.max(1, Math.floor(options.threads ?? availableParallelism()));
    this.graceMs = options.graceMs ?? NODE_DEFAULTS.graceMs;
    const limits: RunLimits = {
      stackBytes: options.stackBytes ?? NODE_DEFAULTS.stackBytes,
      outputFloodFactor: options.outputFloodFactor ?? NODE_DEFAULTS.outputFloodFactor,
    };
    if (limits.stackBytes > MAX_STACK_BYTES) throw new RangeError(`stackBytes must be at most ${MAX_STACK_BYTES}`);
    this.stackSizeMb = Math.ceil((limits.stackBytes * NATIVE_STACK_PER_QUICKJS_BYTE) / MiB);
    this.threadData = { wasmModule: compileQuickJSWasm(), limits, retireHeapBytes: options.retireHeapBytes ?? NODE_DEFAULTS.retireHeapBytes };
    for (let i = 0; i < this.concurrency; i++) this.startThread();
  }

  async execute(request: ExecRequest, signal?: AbortSignal): Promise<ExecResult> {
    signal?.throwIfAborted();
    const thread = await this.acquire(signal);
    const started = performance.now();
    const outcome = await thread.run(request, request.timeoutMs + this.graceMs, signal);
    if (outcome.kind === 'result') {
      this.release(thread);
      signal?.throwIfAborted();
      return outcome.result;
    }
    signal?.throwIfAborted();
    const elapsed = performance.now() - started;
    if (outcome.kind === 'killed') return failure(request, 'timeout', `timed out after ${request.timeoutMs} ms`, elapsed);
    const outOfMemory = (outcome.error as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY';
    return failure(request, outOfMemory ? 'memory' : 'error', `the sandbox thread crashed: ${outcome.error.message}`, elapsed);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const waiter of this.waiting.splice(0)) waiter.reject(new Error('the QuickJS executor was disposed'));
    this.idle.length = 0;
    const threads = [...this.live];
    this.live.clear();
    await Promise.all(threads.map((thread) => thread.terminate()));
  }

  private startThread(): void {
    const worker = new Worker(THREAD_ENTRY, {
      workerData: this.threadData,
      // The parent's flags are not needed: thread-entry.mjs loads tsx itself.
      execArgv: [],
      resourceLimits: { stackSizeMb: this.stackSizeMb },
    });
    const thread = new SandboxThread(worker, (dead) => this.replace(dead));
    thread.ready.then(
      () => {
        worker.unref();
        this.startError = null;
        this.live.add(thread);
        this.release(thread);
      },
      (error: Error) => {
        if (this.disposed) return;
        this.startError = error;
        // With no thread alive, nobody would serve the waiters until a restart succeeds.
        if (this.live.size === 0) for (const waiter of this.waiting.splice(0)) waiter.reject(this.startFailure());
        setTimeout(() => this.startThread(), RESTART_DELAY_MS).unref();
      },
    );
  }

  private replace(dead: SandboxThread): void {
    if (!this.live.delete(dead) || this.disposed) return;
    const i = this.idle.indexOf(dead);
    if (i >= 0) this.idle.splice(i, 1);
    this.startThread();
  }

  /**
   * An idle thread, or the next one freed (or started). A caller that gives up while waiting leaves
   * the queue at once: its abort would otherwise fire before its run began, unseen by the run.
   */
  private acquire(signal?: AbortSignal): Promise<SandboxThread> {
    if (this.disposed) return Promise.reject(new Error('the QuickJS executor was disposed'));
    const thread = this.idle.pop();
    if (thread) return Promise.resolve(thread);
    if (this.live.size === 0 && this.startError) return Promise.reject(this.startFailure());
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal!.reason);
      };
      const waiter = {
        resolve: (thread: SandboxThread) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(thread);
        },
        reject: (error: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private release(thread: SandboxThread): void {
    if (this.disposed) {
      void thread.terminate();
      return;
    }
    if (!this.live.has(thread)) return;
    const waiter = this.waiting.shift();
    if (waiter) waiter.resolve(thread);
    else this.idle.push(thread);
  }

  private startFailure(): Error {
    return new Error(`no QuickJS sandbox thread could start: ${this.startError?.message}`, { cause: this.startError });
  }
}

function failure(request: ExecRequest, status: ExecResult['status'], error: string, elapsedMs: number): ExecResult {
  return {
    status,
    stdout: '',
    stderr: '',
    error,
    truncated: { stdout: false, stderr: false },
    duration_ms: Math.round(elapsedMs * 1000) / 1000,
    executor: EXECUTOR_NAME,
  };
}
