import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Grader } from '../grader.ts';
import { TIMEOUT_RESULT } from '../grader.ts';
import type { GradePrediction, GradeResult } from '../index.ts';
import { resolveOptions, type GradeOptions } from '../options.ts';
import { startBundledThread } from './bundle.ts';

/**
 * Grading off the event loop with a hard deadline (Node): a pool of worker threads, each grading one
 * pair at a time. The grader's own deadline is cooperative (checked between steps), so a step that
 * runs long (exact arithmetic on a huge number, a pathological expression) could hold a thread for
 * minutes; here a grading that outlives its timeout plus `graceMs` gets the `timeout` verdict at
 * once and its thread is terminated and replaced. The server's event loop never runs grading.
 *
 * Lifetime: `new GradingPool()` starts its threads; `dispose()` stops them (pending gradings reject).
 */
export interface GradingPoolOptions {
  /** Worker threads. Default: min(2, available cores). */
  threads?: number;
  /** Past the grading's own timeout, how long before it is stopped. Default 1000 ms. */
  graceMs?: number;
  /** Gradings waiting for a thread beyond this are refused (the caller's problem: too many at once). Default 10 000. */
  maxQueued?: number;
  /** The threads' JavaScript module (one speaking this protocol); tests give one that can be made to hang. Default: worker-thread.ts, bundled. */
  entry?: URL;
}

export interface GradeRequest {
  id: number;
  gold: string;
  pred: GradePrediction;
  options?: GradeOptions;
}

export type GradeReply = { id: number; result: GradeResult } | { id: number; error: string };

const THREAD_SOURCE = new URL('./worker-thread.ts', import.meta.url);

interface Task {
  request: GradeRequest;
  resolve: (result: GradeResult) => void;
  reject: (error: Error) => void;
  hardDeadlineMs: number;
}

export class GradingPoolClosedError extends Error {
  constructor() {
    super('the grading pool is closed');
    this.name = 'GradingPoolClosedError';
  }
}

class GradingThread {
  readonly ready: Promise<void>;
  task: Task | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly worker: Worker,
    private readonly onFree: (thread: GradingThread) => void,
    private readonly onDead: (thread: GradingThread, reason: string) => void,
  ) {
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (message: { ready?: boolean }) => {
        if (!message.ready) return;
        worker.off('message', onMessage);
        resolve();
      };
      worker.on('message', onMessage);
      worker.once('error', (error: Error) => reject(error));
      worker.once('exit', (code) => reject(new Error(`grading thread exited (${code}) before it was ready`)));
    });
    worker.on('message', (reply: GradeReply | { ready: true }) => {
      if ('ready' in reply || !this.task || reply.id !== this.task.request.id) return;
      const task = this.finish();
      if ('result' in reply) task.resolve(reply.result);
      else task.reject(new Error(reply.error));
      this.onFree(this);
    });
    worker.on('error', (error: Error) => this.die(`grading thread failed: ${error.message}`));
    worker.on('exit', (code) => this.die(`grading thread exited (${code})`));
  }

  run(task: Task): void {
    this.task = task;
    this.timer = setTimeout(() => {
      // Past the hard deadline: the verdict is timeout, and the thread (still computing) is replaced.
      this.finish().resolve(TIMEOUT_RESULT);
      this.onDead(this, 'a grading overran its deadline');
    }, task.hardDeadlineMs);
    this.worker.postMessage(task.request);
  }

  private finish(): Task {
    clearTimeout(this.timer);
    const task = this.task!;
    this.task = null;
    return task;
  }

  private die(reason: string): void {
    if (this.task) this.finish().resolve(TIMEOUT_RESULT);
    this.onDead(this, reason);
  }
}

export class GradingPool implements Grader {
  private readonly threads = new Set<GradingThread>();
  private readonly idle: GradingThread[] = [];
  private readonly queue: Task[] = [];
  private readonly size: number;
  private readonly graceMs: number;
  private readonly maxQueued: number;
  private readonly entry: URL | undefined;
  private nextId = 1;
  private closed = false;
  /** Threads stopped at their deadline (for /v1/info and tests). */
  stopped = 0;

  constructor(options: GradingPoolOptions = {}) {
    this.size = options.threads ?? Math.min(2, availableParallelism());
    this.graceMs = options.graceMs ?? 1_000;
    this.maxQueued = options.maxQueued ?? 10_000;
    this.entry = options.entry;
    for (let i = 0; i < this.size; i++) this.spawn();
  }

  /** Resolves once every thread has started (graders work before that too: tasks wait for a thread). */
  async ready(): Promise<void> {
    await Promise.all([...this.threads].map((t) => t.ready));
  }

  grade(gold: string, pred: GradePrediction, options?: GradeOptions): Promise<GradeResult> {
    if (this.closed) return Promise.reject(new GradingPoolClosedError());
    // Options are checked here, so a bad mode is the caller's error and not a thread's.
    let timeoutMs: number;
    try {
      ({ timeoutMs } = resolveOptions(options));
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.queue.length >= this.maxQueued) return Promise.reject(new Error(`grading queue full (${this.maxQueued} waiting)`));
    return new Promise((resolve, reject) => {
      this.queue.push({ request: { id: this.nextId++, gold, pred, ...(options && { options }) }, resolve, reject, hardDeadlineMs: timeoutMs + this.graceMs });
      this.pump();
    });
  }

  stats(): { threads: number; busy: number; queued: number; stopped: number } {
    return { threads: this.threads.size, busy: this.threads.size - this.idle.length, queued: this.queue.length, stopped: this.stopped };
  }

  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const task of this.queue.splice(0)) task.reject(new GradingPoolClosedError());
    const workers = [...this.threads].map((t) => t.worker);
    this.threads.clear();
    this.idle.length = 0;
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private spawn(): void {
    const worker = this.entry ? new Worker(this.entry, { execArgv: [] }) : startBundledThread(THREAD_SOURCE);
    // Idle threads never keep the process alive; a busy one has its grading's timer, which does.
    worker.unref();
    const thread = new GradingThread(
      worker,
      (free) => this.release(free),
      (dead, reason) => this.replace(dead, reason),
    );
    this.threads.add(thread);
    thread.ready.then(
      () => this.release(thread),
      () => this.replace(thread, 'did not start'),
    );
  }

  private release(thread: GradingThread): void {
    if (this.closed || !this.threads.has(thread)) return;
    this.idle.push(thread);
    this.pump();
  }

  private replace(thread: GradingThread, reason: string): void {
    if (!this.threads.delete(thread)) return;
    const at = this.idle.indexOf(thread);
    if (at >= 0) this.idle.splice(at, 1);
    if (reason === 'a grading overran its deadline') this.stopped++;
    void thread.worker.terminate();
    if (!this.closed) this.spawn();
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) this.idle.shift()!.run(this.queue.shift()!);
  }
}
