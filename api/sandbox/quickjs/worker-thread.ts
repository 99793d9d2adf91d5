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
}

/** Thread → pool. The pool → thread message is a bare ExecRequest. */
export type ThreadMessage = { type: 'ready' } | { type: 'result'; result: ExecResult };

const port = parentPort;
if (!port) throw new Error('worker-thread.ts runs only as a worker thread');
const { wasmModule, limits } = workerData as ThreadData;
const engine = await QuickJSEngine.load(wasmModule, limits);

// Chained so that replacing a grown or broken instance, done after the reply is sent,
// finishes before the next run starts. A failed replacement rejects the chain, which crashes
// the thread: the pool then starts a fresh one.
let previous = Promise.resolve();
port.on('message', (request: ExecRequest) => {
  previous = previous.then(async () => {
    port.postMessage({ type: 'result', result: engine.run(request) } satisfies ThreadMessage);
    await engine.ready();
  });
});
port.postMessage({ type: 'ready' } satisfies ThreadMessage);
