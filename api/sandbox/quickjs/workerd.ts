import type { ExecRequest, ExecResult, Executor } from '../types.ts';
import { QuickJSEngine, type EngineOptions } from './engine.ts';
import { EXECUTOR_NAME } from './run.ts';

/**
 * The JavaScript executor for Cloudflare Workers (workerd): QuickJS in the isolate itself,
 * one snippet at a time (a run is synchronous), a fresh runtime and context per snippet.
 *
 * There are no threads to terminate here, and on Cloudflare's deployed runtime the clock does
 * not advance during synchronous work (Date.now() and performance.now() move only on I/O), so
 * the deadline is also a budget of interrupt checks: QuickJS calls the interrupt handler about
 * every 10,000 branches or calls, and a run may take `timeout_ms * checksPerMs` of them (10 per
 * ms by default). The budget is only a proxy for time. Measured on a 2-core x86 host, an empty
 * `while (true) {}` makes about 20 checks per ms (it stops at half its timeout), tight loops and
 * recursion 1 to 7, allocation-, string- and BigInt-heavy code 0.1 to 0.7 (it may run 15 to 100
 * times its timeout): Cloudflare's own CPU limit ([limits] cpu_ms) is the backstop there.
 * Where the clock does advance (`wrangler dev`, workerd itself) it also stops runs at their
 * deadline, and duration_ms is real; on Cloudflare it reads near 0.
 */

const KiB = 1024;

export interface QuickJSWorkerdExecutorOptions {
  /** The QuickJS wasm imported as a module (a CompiledWasm rule): Workers cannot compile wasm from bytes. */
  wasmModule: WebAssembly.Module;
  /**
   * QuickJS's stack limit. workerd's native stack is smaller than a Node thread's: plain recursion
   * overflowed it at 512 KiB of QuickJS stack, not at 256 KiB (~1,500 calls). The parser on deeply
   * nested input can still overflow it first; that surfaces as a RangeError result and the instance
   * is replaced.
   */
  stackBytes?: number;
  /** Interrupt checks allowed per millisecond of timeout. */
  checksPerMs?: number;
  /** The most memory a run may use, whatever it asks: a Workers isolate has 128 MB in all. */
  maxMemoryMb?: number;
  /** A run is stopped once it printed this many times max_output_bytes. */
  outputFloodFactor?: number;
  /** The clock; tests stand it still to play Cloudflare. */
  now?: () => number;
}

const WORKERD_DEFAULTS = { stackBytes: 192 * KiB, checksPerMs: 10, maxMemoryMb: 64, outputFloodFactor: 8 } as const;

export function createQuickJSWorkerdExecutor(options: QuickJSWorkerdExecutorOptions): Executor {
  const engineOptions: EngineOptions = {
    stackBytes: options.stackBytes ?? WORKERD_DEFAULTS.stackBytes,
    checksPerMs: options.checksPerMs ?? WORKERD_DEFAULTS.checksPerMs,
    outputFloodFactor: options.outputFloodFactor ?? WORKERD_DEFAULTS.outputFloodFactor,
    now: options.now,
  };
  const maxMemoryMb = options.maxMemoryMb ?? WORKERD_DEFAULTS.maxMemoryMb;
  // Loaded on first use, inside a request: Workers allow no asynchronous work at startup.
  let loading: Promise<QuickJSEngine> | undefined;

  return {
    name: EXECUTOR_NAME,
    languages: ['javascript'],
    concurrency: 1,
    async execute(request: ExecRequest, signal?: AbortSignal): Promise<ExecResult> {
      signal?.throwIfAborted();
      loading ??= QuickJSEngine.load(options.wasmModule, engineOptions).catch((error: unknown) => {
        loading = undefined;
        throw error;
      });
      const engine = await loading;
      await engine.ready();
      return engine.run({ ...request, memoryMb: Math.min(request.memoryMb, maxMemoryMb) });
    },
    async dispose() {
      loading = undefined;
    },
  };
}
