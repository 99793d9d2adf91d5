import { mentionsAnyOf } from './imports.ts';
import { ZygotePool } from './pool.ts';
import type { ReadyInfo } from './protocol.ts';
import type { Zygote } from './zygote.ts';

/** What /v1/info says about the preloaded sandboxes. */
export interface PreloadReport {
  /**
   * warming: the first preloaded sandbox is still importing (a snippet that names one of the
   * modules waits for it); ready; off: every snippet takes the plain path (`reason` says why).
   */
  status: 'warming' | 'ready' | 'off';
  /** Modules they hold: the configured ones, then, once ready, what importing them brought in. */
  modules: string[];
  /** Preloaded sandboxes kept warm. */
  sandboxes: number;
  reason?: string;
}

export interface Acquired {
  zygote: Zygote;
  pool: ZygotePool;
}

/**
 * A second pool of sandboxes whose zygotes import `modules` once at start; a snippet that names
 * one of them is forked from there instead of importing it itself (README.md here, "Preloaded
 * sandboxes"). It warms in the background: a snippet arriving before then waits for the first one.
 * When none of the modules can be imported, the pool goes off and every snippet runs plain.
 */
export class PreloadedSandboxes {
  readonly report: PreloadReport;
  private pool: ZygotePool | null = null;
  private wants: (code: string) => boolean;
  private retired: Promise<void> = Promise.resolve();

  constructor(
    private readonly modules: readonly string[],
    size: number,
    start: () => Zygote,
  ) {
    this.wants = mentionsAnyOf(modules);
    if (modules.length === 0) {
      this.report = { status: 'off', modules: [], sandboxes: 0, reason: 'turned off (preloadModules is empty)' };
      return;
    }
    this.report = { status: 'warming', modules: [...modules], sandboxes: size };
    this.pool = new ZygotePool(size, () => {
      const zygote = start();
      zygote.ready.then((info) => this.learn(info), () => {});
      return zygote;
    });
    this.pool.fill();
  }

  /**
   * A preloaded zygote for a snippet that names one of the modules, once one is idle; null when
   * the snippet should take the plain path (it names none, the pool is off, or the sandbox it
   * waited for failed to start: the next snippet tries again).
   */
  async acquire(code: string, signal?: AbortSignal): Promise<Acquired | null> {
    const pool = this.pool;
    if (!pool || !this.wants(code)) return null;
    try {
      return { zygote: await pool.acquire(signal), pool };
    } catch (error) {
      if (signal?.aborted) throw error;
      return null;
    }
  }

  async dispose(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    await Promise.all([this.retired, pool?.dispose()]);
  }

  /** Runs before the pool hands out the zygote that got ready. */
  private learn(info: ReadyInfo): void {
    const pool = this.pool;
    if (!pool) return;
    if (info.preloaded.length === 0) {
      Object.assign(this.report, {
        status: 'off',
        modules: [],
        sandboxes: 0,
        reason: `none of ${this.modules.join(', ')} can be imported by the sandbox's interpreter; snippets import what they use themselves`,
      });
      this.pool = null;
      this.retired = pool.dispose(); // waiting snippets take the plain path
      return;
    }
    this.report.status = 'ready';
    this.report.modules = info.preloaded;
    this.wants = mentionsAnyOf(info.preloaded);
  }
}
