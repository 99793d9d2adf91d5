import { randomUUID } from 'node:crypto';
import { link, open, readFile, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { z } from 'zod';
import { isNotFound, writeJsonAtomic } from './files.ts';

/**
 * One trainer per run directory: a lease file (`<run>/trainer.lock`) created exclusively, renewed
 * while the trainer runs, removed when it stops. A second trainer gets a LockHeldError naming the
 * holder. A holder that died leaves a lease that expires (or, on the same host, whose pid is gone);
 * the next trainer takes it over.
 */

const LeaseSchema = z.object({
  token: z.string(),
  pid: z.number().int(),
  host: z.string(),
  acquired_at: z.string(),
  expires_at_ms: z.number(),
});
type Lease = z.infer<typeof LeaseSchema>;

export class LockHeldError extends Error {
  constructor(
    readonly path: string,
    readonly holder: Lease,
  ) {
    super(
      `another trainer is running on this run directory (pid ${holder.pid} on ${holder.host}, since ${holder.acquired_at}; ` +
        `lock ${path} expires ${new Date(holder.expires_at_ms).toISOString()} unless renewed). Stop it, or use another run directory.`,
    );
    this.name = 'LockHeldError';
  }
}

export class LockLostError extends Error {
  constructor(readonly path: string) {
    super(`lost the run directory lock ${path} (it expired or another trainer took it over); stopping before writing anything more`);
    this.name = 'LockLostError';
  }
}

export interface RunLockOptions {
  /** How long a lease lasts without renewal. Default 60 s. */
  ttlMs?: number;
}

export class RunLock {
  private timer: ReturnType<typeof setInterval> | undefined;
  private lost = false;
  private renewing: Promise<void> = Promise.resolve();

  private constructor(
    readonly path: string,
    private readonly token: string,
    private readonly ttlMs: number,
  ) {}

  /** Takes the lock or throws LockHeldError. Renews it in the background until release(). */
  static async acquire(path: string, options: RunLockOptions = {}): Promise<RunLock> {
    const ttlMs = options.ttlMs ?? 60_000;
    const token = randomUUID();
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await tryCreate(path, lease(token, ttlMs))) {
        const lock = new RunLock(path, token, ttlMs);
        lock.timer = setInterval(() => {
          lock.renewing = lock.renew().catch(() => {
            lock.lost = true;
          });
        }, Math.max(10, ttlMs / 3));
        lock.timer.unref();
        return lock;
      }
      const holder = await readLease(path);
      if (holder !== null && !isStale(holder)) throw new LockHeldError(path, holder);
      await takeOverStale(path, holder);
    }
    const holder = await readLease(path);
    throw new LockHeldError(path, holder ?? { token: '?', pid: -1, host: '?', acquired_at: '?', expires_at_ms: 0 });
  }

  /** Throws LockLostError when the lease is no longer ours (checked before every durable commit). */
  async assertHeld(): Promise<void> {
    await this.renewing;
    const current = await readLease(this.path);
    if (this.lost || current?.token !== this.token) {
      this.lost = true;
      throw new LockLostError(this.path);
    }
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    await this.renewing.catch(() => {});
    const current = await readLease(this.path);
    if (current?.token === this.token) await rm(this.path, { force: true });
  }

  private async renew(): Promise<void> {
    const current = await readLease(this.path);
    if (current?.token !== this.token) throw new LockLostError(this.path);
    await writeJsonAtomic(this.path, { ...current, expires_at_ms: Date.now() + this.ttlMs });
  }
}

function lease(token: string, ttlMs: number): Lease {
  return { token, pid: process.pid, host: hostname(), acquired_at: new Date().toISOString(), expires_at_ms: Date.now() + ttlMs };
}

async function tryCreate(path: string, value: Lease): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(JSON.stringify(value));
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

/** The lease, or null when there is none or it is unreadable (a holder that died while creating it). */
async function readLease(path: string): Promise<Lease | null> {
  try {
    const parsed = LeaseSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch (error) {
    if (isNotFound(error) || error instanceof SyntaxError) return null;
    throw error;
  }
}

function isStale(holder: Lease): boolean {
  if (holder.expires_at_ms <= Date.now()) return true;
  // Same host: a holder whose process is gone will never renew, no need to wait for expiry.
  return holder.host === hostname() && !processAlive(holder.pid);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes a stale lease without ever removing a fresh one that a racing trainer just wrote: move the
 * file aside under a private name, check it is the stale lease we judged, and put it back otherwise.
 */
async function takeOverStale(path: string, stale: Lease | null): Promise<void> {
  const aside = `${path}.stale-${randomUUID()}`;
  try {
    await rename(path, aside);
  } catch (error) {
    if (isNotFound(error)) return;
    throw error;
  }
  const moved = await readLease(aside);
  if (moved !== null && moved.token !== stale?.token) {
    await link(aside, path).catch(() => {});
  }
  await rm(aside, { force: true });
}
