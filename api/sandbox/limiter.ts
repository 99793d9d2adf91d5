import { ApiError } from '../errors.ts';

/** Who an execution counts against when the caller does not say (in-process work: evaluations, the CLI). */
export const INTERNAL_CALLER = 'internal';

export interface LimiterOptions {
  /** Tasks running at once. */
  concurrency: number;
  /** Tasks waiting, over all callers; beyond it a task is refused with 503. */
  queueLimit: number;
  /** Tasks one caller runs at once (default: `concurrency`, i.e. no per-caller cap). */
  callerConcurrency?: number;
  /** Tasks one caller may have waiting; beyond it its task is refused with 429 (default: `queueLimit`). */
  callerQueueLimit?: number;
}

interface Waiter {
  start: () => void;
}

interface CallerState {
  running: number;
  waiting: Waiter[];
}

/**
 * A bounded concurrency pool shared fairly between callers. At most `concurrency` tasks run at once,
 * at most `callerConcurrency` of them for one caller, so one caller can never hold every slot for
 * its whole timeout while others wait. A freed slot goes to the callers with waiting tasks in turn
 * (round robin, each caller's own tasks in order), not to whoever queued most. Beyond a caller's
 * queue share its task is refused at once with 429, beyond the whole queue with 503, both with
 * Retry-After: a burst degrades into fast, explicit back-pressure instead of unbounded queues.
 */
export class Limiter {
  readonly concurrency: number;
  readonly queueLimit: number;
  readonly callerConcurrency: number;
  readonly callerQueueLimit: number;
  private running = 0;
  private waitingCount = 0;
  /** Callers with running or waiting tasks; Map order is the round robin's (a served caller moves to the end). */
  private readonly callers = new Map<string, CallerState>();

  constructor(options: LimiterOptions) {
    this.concurrency = options.concurrency;
    this.queueLimit = options.queueLimit;
    this.callerConcurrency = Math.min(options.callerConcurrency ?? options.concurrency, options.concurrency);
    this.callerQueueLimit = options.callerQueueLimit ?? options.queueLimit;
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waitingCount;
  }

  async run<T>(task: () => Promise<T>, signal?: AbortSignal, caller: string = INTERNAL_CALLER): Promise<T> {
    const state = await this.acquire(caller, signal);
    try {
      return await task();
    } finally {
      state.running--;
      this.running--;
      this.forgetIfIdle(caller, state);
      this.dispatch();
    }
  }

  private acquire(caller: string, signal?: AbortSignal): Promise<CallerState> {
    signal?.throwIfAborted();
    let state = this.callers.get(caller);
    if (!state) {
      state = { running: 0, waiting: [] };
      this.callers.set(caller, state);
    }
    if (this.running < this.concurrency && state.running < this.callerConcurrency && state.waiting.length === 0) {
      state.running++;
      this.running++;
      return Promise.resolve(state);
    }
    if (this.waitingCount >= this.queueLimit) {
      this.forgetIfIdle(caller, state);
      return Promise.reject(
        new ApiError(503, 'overloaded', `sandbox is busy (${this.running} running, ${this.waitingCount} queued); retry shortly`, {
          'Retry-After': '1',
        }),
      );
    }
    if (state.waiting.length >= this.callerQueueLimit) {
      this.forgetIfIdle(caller, state);
      return Promise.reject(
        new ApiError(
          429,
          'rate_limited',
          `too many executions from this caller: ${state.running} running and ${state.waiting.length} waiting (its share is ${this.callerConcurrency} running, ${this.callerQueueLimit} waiting); retry shortly`,
          { 'Retry-After': '1' },
        ),
      );
    }
    const own = state;
    return new Promise<CallerState>((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(own);
        },
      };
      const onAbort = () => {
        const i = own.waiting.indexOf(waiter);
        if (i >= 0) {
          own.waiting.splice(i, 1);
          this.waitingCount--;
          this.forgetIfIdle(caller, own);
        }
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      own.waiting.push(waiter);
      this.waitingCount++;
    });
  }

  /** Hands free slots to waiting tasks, one caller at a time in turn, skipping callers at their share. */
  private dispatch(): void {
    while (this.running < this.concurrency) {
      let next: [string, CallerState] | undefined;
      for (const entry of this.callers) {
        if (entry[1].waiting.length > 0 && entry[1].running < this.callerConcurrency) {
          next = entry;
          break;
        }
      }
      if (!next) return;
      const [caller, state] = next;
      // To the back of the turn order.
      this.callers.delete(caller);
      this.callers.set(caller, state);
      const waiter = state.waiting.shift()!;
      this.waitingCount--;
      state.running++;
      this.running++;
      waiter.start();
    }
  }

  private forgetIfIdle(caller: string, state: CallerState): void {
    if (state.running === 0 && state.waiting.length === 0 && this.callers.get(caller) === state) this.callers.delete(caller);
  }
}
