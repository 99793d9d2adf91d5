import { randomUUID } from 'node:crypto';
import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { downloadVerifiedCheckpoint } from '../../core/checkpoints/download.ts';
import {
  CheckpointReadError,
  readLatestPointer,
  readPointedManifest,
  type LatestPointer,
} from '../../core/checkpoints/layout.ts';
import type { CheckpointManifest } from '../../core/schemas/checkpoint.ts';
import type { ObjectStore } from '../../core/storage/object-store.ts';
import type { ModelBackend } from '../models/types.ts';
import type { ServedSlot } from './slot.ts';
import type { CheckpointControl, CheckpointRefusal, CheckpointWatchStatus, CheckResult } from './status.ts';

export type { CheckResult } from './status.ts';

/**
 * Follows the `latest` pointer of a checkpoint area (core/checkpoints/layout.ts) and hot-swaps the
 * served model: poll (or be notified) → read the pointer → verify the manifest against the pointer and
 * every file against the manifest while downloading into a private staging directory → load the model
 * in the background → install it in the slot (which drains and disposes the old one). A checkpoint
 * that fails verification or does not load is refused: the old model keeps serving, the refusal is
 * logged and listed in the status (`/v1/info`), and the same pointer is not retried. A store that is
 * unreachable is not a refusal: the next poll tries again.
 */

export interface CheckpointWatcherOptions {
  store: ObjectStore;
  prefix: string;
  /** Where verified checkpoints are written for loading (one directory per version). */
  cacheDir: string;
  pollMs: number;
  slot: ServedSlot;
  /** Loads a verified checkpoint directory (e.g. loadModelBackend with the server's model options). */
  load: (dir: string, manifest: CheckpointManifest) => Promise<ModelBackend>;
  log?: (message: string) => void;
  /** Refusals kept in the status. Default 10. */
  maxRefusals?: number;
}

export class CheckpointWatcher implements CheckpointControl {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<CheckResult> | null = null;
  private queued: Promise<CheckResult> | null = null;
  private stopped = false;
  private serving: string | null = null;
  private loading: string | null = null;
  private lastCheckAt: string | null = null;
  private lastError: string | null = null;
  private swaps = 0;
  private readonly refused: CheckpointRefusal[] = [];
  /** Pointers already refused (version + manifest hash), so a bad checkpoint is not fetched every poll. */
  private readonly refusedPointers = new Set<string>();

  constructor(private readonly options: CheckpointWatcherOptions) {
    this.serving = options.slot.current()?.checkpoint.version ?? null;
  }

  /** Polls every pollMs until stop() (call check() first for an immediate one). */
  start(): void {
    const tick = async () => {
      await this.check();
      if (!this.stopped) {
        this.timer = setTimeout(tick, this.options.pollMs);
        this.timer.unref?.();
      }
    };
    this.timer = setTimeout(tick, this.options.pollMs);
    this.timer.unref?.();
  }

  /**
   * One check. A call while a check is in flight gets the check that follows it (shared by every such
   * caller): the one in flight may have read the pointer before the caller's news.
   */
  check(): Promise<CheckResult> {
    if (this.stopped) return Promise.resolve({ outcome: 'unchanged' });
    if (!this.running) {
      this.running = this.checkOnce().finally(() => {
        this.running = null;
      });
      return this.running;
    }
    this.queued ??= this.running.then(() => {
      this.queued = null;
      return this.check();
    });
    return this.queued;
  }

  /** Something was published: check now instead of at the next poll. */
  notify(): void {
    if (!this.stopped) void this.check();
  }

  status(): CheckpointWatchStatus {
    return {
      prefix: this.options.prefix,
      poll_ms: this.options.pollMs,
      serving: this.serving,
      loading: this.loading,
      last_check_at: this.lastCheckAt,
      last_error: this.lastError,
      refused: [...this.refused],
      swaps: this.swaps,
      draining: this.options.slot.drainingCount,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.queued;
    await this.running;
  }

  private async checkOnce(): Promise<CheckResult> {
    const { store, prefix } = this.options;
    this.lastCheckAt = new Date().toISOString();
    let pointer: LatestPointer | null;
    try {
      pointer = await readLatestPointer(store, prefix);
    } catch (error) {
      return this.failed(error, 'latest pointer');
    }
    if (pointer === null) {
      this.lastError = null;
      return { outcome: 'empty' };
    }
    const pointerKey = `${pointer.version}@${pointer.sha256}`;
    if (pointer.version === this.serving || this.refusedPointers.has(pointerKey)) {
      this.lastError = null;
      return { outcome: 'unchanged' };
    }

    const started = performance.now();
    this.loading = pointer.version;
    let staging: string | null = null;
    try {
      const { manifest } = await readPointedManifest(store, prefix, pointer);
      staging = join(this.options.cacheDir, `.staging-${randomUUID()}`);
      await downloadVerifiedCheckpoint(store, prefix, manifest, staging);
      const dir = join(this.options.cacheDir, pointer.version);
      await rm(dir, { recursive: true, force: true });
      await rename(staging, dir);
      staging = null;
      let backend: ModelBackend;
      try {
        backend = await this.options.load(dir, manifest);
      } catch (error) {
        throw new CheckpointReadError('manifest', `checkpoint ${pointer.version} does not load: ${(error as Error).message}`);
      }
      if (this.stopped) {
        await backend.dispose();
        return { outcome: 'unchanged' };
      }
      const previous = this.serving;
      this.options.slot.install({ backend, checkpoint: { version: manifest.version, toolBudget: manifest.tool_budget.limit } });
      this.serving = manifest.version;
      this.swaps++;
      this.lastError = null;
      const ms = performance.now() - started;
      this.options.log?.(`checkpoint ${manifest.version} (step ${manifest.step}, tool budget ${manifest.tool_budget.limit}) now serving, replacing ${previous ?? 'nothing'}; verified and loaded in ${ms.toFixed(0)} ms`);
      await this.pruneCache(previous);
      return { outcome: 'swapped', version: manifest.version, ms };
    } catch (error) {
      if (error instanceof CheckpointReadError && !error.transient) {
        this.refusedPointers.add(pointerKey);
        const refusal = { version: pointer.version, reason: error.message, at: new Date().toISOString() };
        this.refused.push(refusal);
        this.refused.splice(0, Math.max(0, this.refused.length - (this.options.maxRefusals ?? 10)));
        this.options.log?.(`refused checkpoint ${pointer.version}; still serving ${this.serving ?? 'nothing'}: ${error.message}`);
        if (staging) await rm(staging, { recursive: true, force: true });
        await rm(join(this.options.cacheDir, pointer.version), { recursive: true, force: true });
        return { outcome: 'refused', version: pointer.version, reason: error.message };
      }
      if (staging) await rm(staging, { recursive: true, force: true });
      return this.failed(error, `checkpoint ${pointer.version}`);
    } finally {
      this.loading = null;
    }
  }

  private failed(error: unknown, what: string): CheckResult {
    const reason = `${what}: ${(error as Error).message}`;
    if (this.lastError !== reason) this.options.log?.(`checkpoint watch: ${reason} (will retry)`);
    this.lastError = reason;
    return { outcome: 'error', reason };
  }

  /** Keeps the served version and the one just replaced (requests may still be finishing on it); drops the rest. */
  private async pruneCache(previous: string | null): Promise<void> {
    const keep = new Set([this.serving, previous]);
    const entries = await readdir(this.options.cacheDir).catch(() => [] as string[]);
    for (const name of entries) {
      if (!keep.has(name) && !name.startsWith('.staging-')) await rm(join(this.options.cacheDir, name), { recursive: true, force: true });
    }
  }
}
