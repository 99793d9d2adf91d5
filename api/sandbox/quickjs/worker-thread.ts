import { parentPort, workerData } from 'node:worker_threads';
import type { ExecRequest, ExecResult } from '../types.ts';
import { QuickJSEngine } from './engine.ts';
import type { RunLimits } from './run.ts';

/**
 * A sandbox worker thread (started through thread-entry.mjs): loads the QuickJS instance once,
 * then runs the snippets the pool sends, one at a time.
 */

/** What the pool hands each thread: the compiled module (compiled once, shared) and the limits. */
export interface ThreadData {
  wasmModule: WebAssembly.Module;
  limits: RunLimits;
  /** A run that grew the wasm memory past this retires the thread (see `retire`). */
  retireHeapBytes: number;
}

/**
 * Thread → pool. `retire`: the run grew the wasm memory past `retireHeapBytes`; a replaced instance's
 * memory is only given back when this thread's isolate collects it, which an idle thread may never do
 * (a 400 MB string left the process 400 MB larger for good), so the pool replaces the whole thread.
 */
export type ThreadMessage = { type: 'ready' } | { type: 'result'; result: ExecResult; retire: boolean };

/**
 * Pool → thread: a run, and a flag the pool sets (Atomics, element 0 to 1) when the caller gives
 * up on it. The thread is busy inside QuickJS then and cannot take messages; QuickJS's interrupt
 * handler reads the flag instead.
 */
export interface RunMessage {
  request: ExecRequest;
  cancel: Int32Array;
}

const port = parentPort;
if (!port) throw new Error('worker-thread.ts runs only as a worker thread');
const { wasmModule, limits, retireHeapBytes } = workerData as ThreadData;
const engine = await QuickJSEngine.load(wasmModule, limits);

// Chained so that replacing a grown or broken instance, done after the reply is sent,
// finishes before the next run starts. A failed replacement rejects the chain, which crashes
// the thread: the pool then starts a fresh one.
let previous = Promise.resolve();
port.on('message', ({ request, cancel }: RunMessage) => {
  previous = previous.then(async () => {
    const result = engine.run(request, () => Atomics.load(cancel, 0) === 1);
    port.postMessage({ type: 'result', result, retire: engine.heapBytes > retireHeapBytes } satisfies ThreadMessage);
    await engine.ready();
  });
});
port.postMessage({ type: 'ready' } satisfies ThreadMessage);
