import type { Zygote } from './zygote.ts';

interface Waiter {
  resolve(zygote: Zygote): void;
  reject(error: unknown): void;
}

/**
 * Keeps `size` zygotes started, so that a request only waits for one that is idle. A zygote
 * that dies or is killed (timeout, output flood) is replaced in the background. A zygote that
 * cannot be made (`start` throws) or fails to start fails the requests waiting for it instead
 * of being retried in a loop; the next request tries again.
 */
export class ZygotePool {
  private readonly all = new Set<Zygote>();
  private readonly idle: Zygote[] = [];
  private readonly waiters: Waiter[] = [];
  private disposed = false;

  constructor(
    readonly size: number,
    private readonly start: () => Zygote,
  ) {}

  /** Starts zygotes until `size` exist, or one cannot be made. */
  fill(): void {
    while (!this.disposed && this.all.size < this.size && this.add());
  }

  /** An idle zygote, now owned by the caller until release(). */
  acquire(signal?: AbortSignal): Promise<Zygote> {
    if (this.disposed) return Promise.reject(new Error('python executor was disposed'));
    signal?.throwIfAborted();
    // Longest idle first: its spare child has had the most time to get ready.
    const zygote = this.idle.shift();
    if (zygote) return Promise.resolve(zygote);
    return new Promise<Zygote>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (z) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(z);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
      this.fill();
    });
  }

  /** Returns a zygote after a run; one that is not reusable (killed, or in doubt) is killed and replaced. */
  release(zygote: Zygote, reusable: boolean): void {
    if (reusable && zygote.alive && !this.disposed) this.offer(zygote);
    else zygote.kill(); // its 'closed' starts the replacement
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error('python executor was disposed'));
    const zygotes = [...this.all];
    for (const zygote of zygotes) zygote.kill();
    await Promise.all(zygotes.map((z) => z.closed));
  }

  private add(): boolean {
    let zygote: Zygote;
    try {
      zygote = this.start();
    } catch (error) {
      this.failWaiters(error);
      return false;
    }
    this.all.add(zygote);
    let started = false;
    zygote.ready.then(
      () => {
        started = true;
        if (this.disposed) zygote.kill();
        else this.offer(zygote);
      },
      (error: unknown) => this.failWaiters(error),
    );
    void zygote.closed.then(() => {
      this.all.delete(zygote);
      const i = this.idle.indexOf(zygote);
      if (i >= 0) this.idle.splice(i, 1);
      if (started) this.fill();
    });
    return true;
  }

  private failWaiters(error: unknown): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  private offer(zygote: Zygote): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(zygote);
    else this.idle.push(zygote);
  }
}
