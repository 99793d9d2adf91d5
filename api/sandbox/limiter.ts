import { ApiError } from '../errors.ts';

/**
 * A bounded concurrency pool: at most `concurrency` tasks run at once, at most `queueLimit`
 * wait. Beyond that a task is refused at once with 503 + Retry-After, so a burst degrades
 * into fast, explicit back-pressure instead of unbounded queues and collapse.
 */
export class Limiter {
  private running = 0;
  private readonly waiting: Array<{ start: () => void; abort: (e: unknown) => void }> = [];

  constructor(
    readonly concurrency: number,
    readonly queueLimit: number,
  ) {}

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private acquire(signal?: AbortSignal): Promise<void> {
    if (this.running < this.concurrency) {
      this.running++;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.queueLimit) {
      return Promise.reject(
        new ApiError(503, 'overloaded', `sandbox is busy (${this.running} running, ${this.waiting.length} queued); retry shortly`, {
          'Retry-After': '1',
        }),
      );
    }
    signal?.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const entry = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        abort: reject,
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    // The slot passes straight to the next waiter, so `running` stays unchanged.
    if (next) next.start();
    else this.running--;
  }
}
