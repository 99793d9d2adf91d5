import type { LatestPointer } from '../../core/checkpoints/layout.ts';
import type { CheckpointRefusal, CheckResult } from './status.ts';

/** The version a damaged pointer is listed under in `refused`. */
export const POINTER_REFUSAL = '(latest pointer)';
const MAX_REFUSAL_RETRY_MS = 3_600_000;

export interface CheckpointRefusalsOptions {
  /** Refusals kept in the list. Default 10. */
  max?: number;
  /** First pause before polls look at a refused pointer again; it doubles each time, up to an hour. Default 60 000. */
  retryMs?: number;
  now?: () => number;
  log?: (message: string) => void;
}

/**
 * What a checkpoint watcher refused (corrupt, partial, unloadable), shared by the Node watcher and the
 * Worker's (api/edge/): the list /v1/info shows, and for each refused pointer (version + manifest hash)
 * when polls may look at it again, so a bad checkpoint is not fetched at every poll. Web APIs only.
 */
export class CheckpointRefusals {
  private readonly listed: CheckpointRefusal[] = [];
  private readonly pointers = new Map<string, { retryAt: number; pauseMs: number }>();
  private readonly now: () => number;

  constructor(private readonly options: CheckpointRefusalsOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  list(): CheckpointRefusal[] {
    return [...this.listed];
  }

  last(): CheckpointRefusal | undefined {
    return this.listed.at(-1);
  }

  /**
   * After `latest` was read (null: nothing published): the pointer reads again, so it is no longer listed
   * as refused; the outcome when there is nothing to load (empty, or the version served, or a refused
   * pointer polls leave alone for now), else null: load the checkpoint it names.
   */
  afterPointerRead(pointer: LatestPointer | null, serving: string | null, force: boolean): CheckResult | null {
    this.clear(POINTER_REFUSAL);
    if (pointer === null) return { outcome: 'empty' };
    if (pointer.version === serving || this.paused(pointer, force)) return { outcome: 'unchanged' };
    return null;
  }

  /** True while a poll (not a check asked for) should leave this refused pointer alone. */
  paused(pointer: LatestPointer, force: boolean): boolean {
    const refusal = this.pointers.get(pointerKey(pointer));
    return refusal !== undefined && !force && this.now() < refusal.retryAt;
  }

  /** A pointer whose checkpoint cannot be used: listed, and polls pause on it (twice as long as last time). */
  refusePointer(pointer: LatestPointer, reason: string, serving: string | null): void {
    const key = pointerKey(pointer);
    const previous = this.pointers.get(key);
    const pauseMs = previous ? Math.min(previous.pauseMs * 2, MAX_REFUSAL_RETRY_MS) : (this.options.retryMs ?? 60_000);
    this.pointers.set(key, { retryAt: this.now() + pauseMs, pauseMs });
    this.refuse(pointer.version, reason, serving);
  }

  /** Lists a refusal (once per version and reason) and logs it. */
  refuse(version: string, reason: string, serving: string | null): void {
    const at = new Date(this.now()).toISOString();
    const known = this.listed.find((r) => r.version === version && r.reason === reason);
    if (known) {
      known.at = at;
      return;
    }
    this.listed.push({ version, reason, at });
    this.listed.splice(0, Math.max(0, this.listed.length - (this.options.max ?? 10)));
    this.options.log?.(`refused ${version === POINTER_REFUSAL ? 'the latest pointer' : `checkpoint ${version}`}; still serving ${serving ?? 'nothing'}: ${reason}`);
  }

  /** A pointer whose checkpoint now loads: no pause, and its version no longer listed. */
  accepted(pointer: LatestPointer): void {
    this.pointers.delete(pointerKey(pointer));
    this.clear(pointer.version);
  }

  /** A version (or the pointer) that now reads and loads is no longer listed as refused. */
  clear(version: string): void {
    for (let i = this.listed.length - 1; i >= 0; i--) if (this.listed[i]!.version === version) this.listed.splice(i, 1);
  }
}

const pointerKey = (pointer: LatestPointer): string => `${pointer.version}@${pointer.sha256}`;
