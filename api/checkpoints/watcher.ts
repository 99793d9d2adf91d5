import { randomUUID } from 'node:crypto';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { downloadVerifiedCheckpoint } from '../../core/checkpoints/download.ts';
import {
  CheckpointReadError,
  readLatestPointer,
  listPublishedManifests,
  readPointedManifest,
  type LatestPointer,
} from '../../core/checkpoints/layout.ts';
import { parseCheckpointManifest, type CheckpointManifest } from '../../core/schemas/checkpoint.ts';
import { sha256File } from '../../core/storage/files.ts';
import type { ObjectStore } from '../../core/storage/object-store.ts';
import type { ModelBackend } from '../models/types.ts';
import { servedCheckpoint } from '../models/served.ts';
import type { ServedSlot } from './slot.ts';
import { CheckpointRefusals, POINTER_REFUSAL } from './refusals.ts';
import { SwapHistory } from './swaps.ts';
import type { CheckpointControl, CheckpointWatchStatus, CheckResult, PublishedCheckpoint } from './status.ts';

export type { CheckResult } from './status.ts';

/**
 * Follows the `latest` pointer of a checkpoint area (core/checkpoints/layout.ts) and hot-swaps the
 * served model: poll (or be notified) → read the pointer → verify the manifest against the pointer and
 * every file against the manifest while downloading into a private staging directory → load the model
 * in the background → install it in the slot (which drains and disposes the old one). A checkpoint
 * that fails verification or does not load is refused: the old model keeps serving, the refusal is
 * logged and listed in the status (`/v1/info`), and polls look at the same pointer again only after a
 * growing pause (a check asked for, POST /v1/checkpoints/check, looks at once): a store repaired in
 * place is picked up and the refusal cleared. A store that is unreachable or does not answer is not a
 * refusal: the next poll tries again. The last checkpoint served is remembered in the cache, so a
 * restart while `latest` cannot be used serves it (verified again) rather than nothing or the base weights.
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
  /** A pointer read slower than this counts as a store error. Default 30 000. */
  storeTimeoutMs?: number;
  /** First pause before polls look at a refused pointer again; it doubles each time, up to an hour. Default 60 000. */
  refusalRetryMs?: number;
}

/** The cache's record of the last checkpoint served: its manifest, to verify the cached files against. */
const LAST_GOOD_FILE = '.last-good.json';

export class CheckpointWatcher implements CheckpointControl {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<CheckResult> | null = null;
  private queued: Promise<CheckResult> | null = null;
  private stopped = false;
  private serving: string | null = null;
  private loading: string | null = null;
  private lastCheckAt: string | null = null;
  private lastError: string | null = null;
  private readonly refusals: CheckpointRefusals;
  private readonly swappedIn = new SwapHistory();
  private checkingSince: string | null = null;
  private note: string | null = null;

  constructor(private readonly options: CheckpointWatcherOptions) {
    this.serving = options.slot.current()?.checkpoint.version ?? null;
    this.refusals = new CheckpointRefusals({ max: options.maxRefusals, retryMs: options.refusalRetryMs, log: options.log });
  }

  /** Polls every pollMs until stop() (call check() first for an immediate one). */
  start(): void {
    const tick = async () => {
      await this.check({ force: false });
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
   * caller): the one in flight may have read the pointer before the caller's news. `force` (the
   * default: someone asked) also looks again at a refused pointer; polls pass false.
   */
  check({ force = true }: { force?: boolean } = {}): Promise<CheckResult> {
    if (this.stopped) return Promise.resolve({ outcome: 'unchanged' });
    if (!this.running) {
      this.running = this.checkOnce(force).finally(() => {
        this.running = null;
      });
      return this.running;
    }
    this.queued ??= this.running.then(() => {
      this.queued = null;
      return this.check({ force });
    });
    return this.queued;
  }

  /** Says what is served and why, when it is not the latest checkpoint (shown in the status). */
  setNote(note: string | null): void {
    this.note = note;
  }

  /**
   * Serves the last checkpoint this cache served, after verifying its files again against its
   * manifest: for a start-up at which `latest` cannot be used. False when there is none (or it does not
   * verify or load).
   */
  async serveLastGood(why: string): Promise<boolean> {
    const { cacheDir } = this.options;
    let manifest: CheckpointManifest;
    try {
      manifest = parseCheckpointManifest(await readFile(join(cacheDir, LAST_GOOD_FILE), 'utf8'));
    } catch {
      return false;
    }
    const dir = join(cacheDir, manifest.version);
    try {
      for (const [path, expected] of Object.entries(manifest.files)) {
        if ((await sha256File(join(dir, path))) !== expected) throw new Error(`${path} changed on disk`);
      }
      const backend = await this.options.load(dir, manifest);
      this.options.slot.install({ backend, checkpoint: servedCheckpoint(manifest) });
    } catch (error) {
      this.options.log?.(`the cached checkpoint ${manifest.version} cannot be served: ${(error as Error).message}`);
      return false;
    }
    this.serving = manifest.version;
    this.note = `serving ${manifest.version}, the last good checkpoint cached on this machine: ${why}`;
    this.options.log?.(`checkpoint watch: ${this.note}`);
    return true;
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
      refused: this.refusals.list(),
      swaps: this.swappedIn.count,
      swapped_in: this.swappedIn.list(),
      draining: this.options.slot.drainingCount,
      checking_since: this.checkingSince,
      note: this.note,
    };
  }

  async published(): Promise<PublishedCheckpoint[]> {
    const found = await listPublishedManifests(this.options.store, this.options.prefix);
    return found.map((p) =>
      'error' in p
        ? p
        : { version: p.version, parent: p.manifest.parent, step: p.manifest.step, created_at: p.manifest.created_at, tool_budget: p.manifest.tool_budget, metrics: p.manifest.metrics },
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.queued;
    await this.running;
  }

  private async checkOnce(force: boolean): Promise<CheckResult> {
    this.checkingSince = new Date().toISOString();
    try {
      return await this.look(force);
    } finally {
      this.checkingSince = null;
    }
  }

  private async look(force: boolean): Promise<CheckResult> {
    const { store, prefix } = this.options;
    this.lastCheckAt = new Date().toISOString();
    let pointer: LatestPointer | null;
    try {
      pointer = await withTimeout(readLatestPointer(store, prefix), this.options.storeTimeoutMs ?? 30_000, 'reading the latest pointer');
    } catch (error) {
      if (error instanceof CheckpointReadError && error.kind === 'pointer') {
        this.lastError = null;
        this.refusals.refuse(POINTER_REFUSAL, error.message, this.serving);
        return { outcome: 'refused', version: POINTER_REFUSAL, reason: error.message };
      }
      return this.failed(error, 'latest pointer');
    }
    const settled = this.refusals.afterPointerRead(pointer, this.serving, force);
    if (settled || pointer === null) {
      this.lastError = null;
      return settled ?? { outcome: 'empty' };
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
      this.options.slot.install({ backend, checkpoint: servedCheckpoint(manifest) });
      this.serving = manifest.version;
      this.swappedIn.record(manifest.version);
      this.lastError = null;
      this.note = null;
      this.refusals.accepted(pointer);
      await writeFile(join(this.options.cacheDir, LAST_GOOD_FILE), `${JSON.stringify(manifest)}\n`);
      const ms = performance.now() - started;
      this.options.log?.(`checkpoint ${manifest.version} (step ${manifest.step}, tool budget ${manifest.tool_budget.limit}) now serving, replacing ${previous ?? 'nothing'}; verified and loaded in ${ms.toFixed(0)} ms`);
      await this.pruneCache(previous);
      return { outcome: 'swapped', version: manifest.version, ms };
    } catch (error) {
      if (error instanceof CheckpointReadError && !error.transient) {
        this.refusals.refusePointer(pointer, error.message, this.serving);
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
      if (!keep.has(name) && !name.startsWith('.')) await rm(join(this.options.cacheDir, name), { recursive: true, force: true });
    }
  }
}

/** `promise`, or a rejection after `ms` saying what did not answer (the promise itself is left to settle). */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the store did not answer within ${ms} ms (${what})`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
