import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { downloadVerifiedCheckpoint } from '../../core/checkpoints/download.ts';
import { readLatestPointer, readPointedManifest, CHECKPOINT_VERSION } from '../../core/checkpoints/layout.ts';
import type { QueueConsumer } from '../../core/queue/queue.ts';
import type { TrajectoryRecord } from '../../core/schemas/trajectory.ts';
import type { ObjectStore } from '../../core/storage/object-store.ts';
import type { TrainBatch } from '../batch/types.ts';
import { TrajectoryConsumer, type ConsumeCounts } from '../consumer/consumer.ts';
import type { CreateEngine, Engine, EngineOptions, RlStepMetrics } from '../engines/types.ts';
import { publishCheckpoint } from '../publish/publish.ts';
import { budgetAt, type ToolBudgetSchedule } from './budget.ts';
import { RunLock } from './lock.ts';
import { appendMetrics, numericMetrics, readMetrics, stepMetrics, writePlots } from './metrics.ts';
import { Progress } from './progress.ts';
import { pad, readRunState, runPaths, writeRunState, type RunState, type StepMetrics } from './state.ts';

/**
 * `cir train`'s engine room: consume → build a batch → engine step(s) → export → commit → publish,
 * resumable at every point (see state.ts for the run directory and the commit protocol).
 */

export interface TrainerOptions {
  runDir: string;
  store: ObjectStore;
  queue: QueueConsumer;
  /** Checkpoint area in the store. */
  prefix: string;
  createEngine: CreateEngine;
  engineOptions?: EngineOptions;
  /** Records → training batch (groups, rewards, advantages, masks): trainer/batch. */
  buildBatch: (records: TrajectoryRecord[], step: number) => TrainBatch;
  /** Weights to start a new run from; default: the store's latest checkpoint. Ignored when resuming. */
  init?: { dir: string; version: string | null };
  /** Tool budget schedule; default: the run's (or 2 calls from step 0 for a new run). */
  schedule?: ToolBudgetSchedule;
  /** Records per step (whole consumer entries are taken until this many). Default 64. */
  batchRecords?: number;
  /** Fewer pending records than this: no step yet. Default 1. */
  minRecords?: number;
  /** Optimizer updates per batch (PPO epochs). Default 1. */
  epochs?: number;
  lr?: number;
  /** Long-poll wait of each receive. Default 1 s. */
  queueWaitS?: number;
  visibilityTimeoutS?: number;
  maxReceives?: number;
  /** Lease of the run-directory lock. */
  lockTtlMs?: number;
  progress?: Progress;
  log?: (line: string) => void;
}

export interface StepResult {
  step: number;
  version: string;
  metrics: StepMetrics;
}

export class Trainer {
  private constructor(
    private readonly options: TrainerOptions & { batchRecords: number; minRecords: number; epochs: number },
    private readonly lock: RunLock,
    readonly consumer: TrajectoryConsumer,
    private state: RunState,
    private readonly engine: Engine,
    private readonly progress: Progress,
    /** The model directory the engine was created from: its exports copy the tokenizer files from there. */
    private readonly engineInitDir: string,
  ) {}

  /** Takes the run directory's lock, creates or resumes the run (finishing an interrupted publish), starts the engine. */
  static async open(options: TrainerOptions): Promise<Trainer> {
    const runDir = resolve(options.runDir);
    await mkdir(runDir, { recursive: true });
    const paths = runPaths(runDir);
    const lock = await RunLock.acquire(paths.lock, { ttlMs: options.lockTtlMs });
    const log = options.log ?? (() => {});
    try {
      let state = await readRunState(runDir);
      if (state === null) {
        state = await newRunState(runDir, options);
        await writeRunState(runDir, state);
        log(`new run ${state.run}: starting from ${state.model.version ?? state.model.dir}`);
      } else {
        log(`resuming run ${state.run} after step ${state.step}${options.init ? ' (--init applies to new runs only; ignored)' : ''}`);
      }
      if (options.schedule && JSON.stringify(options.schedule) !== JSON.stringify(state.schedule)) {
        state = { ...state, schedule: options.schedule };
        await writeRunState(runDir, state);
      }
      const consumer = await TrajectoryConsumer.open({
        dir: paths.consumer,
        store: options.store,
        queue: options.queue,
        visibilityTimeoutS: options.visibilityTimeoutS,
        maxReceives: options.maxReceives,
        log,
      });
      const modelDir = isAbsolute(state.model.dir) ? state.model.dir : join(runDir, state.model.dir);
      const engine = await options.createEngine({ kind: 'model-dir', dir: modelDir }, options.engineOptions);
      try {
        if (state.model.engine_state) await engine.loadState(join(runDir, state.model.engine_state));
      } catch (error) {
        await engine.dispose();
        throw error;
      }
      const trainer = new Trainer(
        { batchRecords: 64, minRecords: 1, epochs: 1, ...options, runDir },
        lock,
        consumer,
        state,
        engine,
        options.progress ?? new Progress(process.stderr),
        modelDir,
      );
      await trainer.finishCommittedStep();
      return trainer;
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /** Records per step. */
  get batchRecords(): number {
    return this.options.batchRecords;
  }

  /** Fewer pending records than this: no step. */
  get minRecords(): number {
    return Math.max(1, this.options.minRecords);
  }

  get step(): number {
    return this.state.step;
  }

  get runState(): RunState {
    return this.state;
  }

  /**
   * Receives until the queue has nothing more (or `untilRecords` are pending). Returns what was accounted
   * for. Each receive waits up to `queueWaitS` for messages before the queue counts as empty.
   */
  async consume({ untilRecords = Infinity, signal }: { untilRecords?: number; signal?: AbortSignal } = {}): Promise<ConsumeCounts> {
    const total: ConsumeCounts = { messages: 0, accepted: 0, duplicates: 0, rejected: 0, deadLettered: 0, redelivered: 0, retrying: 0 };
    while (!signal?.aborted && this.consumer.pendingRecordCount() < untilRecords) {
      const counts = await this.consumer.poll({ waitS: this.options.queueWaitS ?? 1 });
      for (const key of Object.keys(total) as (keyof ConsumeCounts)[]) total[key] += counts[key];
      this.progress.update('consuming', total.messages, 0, `${this.consumer.pendingRecordCount()} records pending, ${total.rejected} rejected, ${total.duplicates} duplicates`);
      if (counts.messages + counts.redelivered + counts.retrying === 0) break;
    }
    this.progress.clear();
    return total;
  }

  /** Pending records (accounted for, not yet trained on). */
  pendingRecords(): number {
    return this.consumer.pendingRecordCount();
  }

  /**
   * One step on the oldest pending records (whole entries up to batchRecords): train, export, commit,
   * publish. Null when fewer than minRecords are pending.
   */
  async trainStep(): Promise<StepResult | null> {
    const { batchRecords, epochs, runDir } = this.options;
    if (this.pendingRecords() < this.minRecords) return null;
    const entries = [];
    let count = 0;
    for (const entry of this.consumer.pending()) {
      if (entries.length > 0 && count + entry.header.ids.length > batchRecords) break;
      entries.push(entry);
      count += entry.header.ids.length;
    }
    const records = await this.consumer.records(entries);
    const step = this.state.step + 1;
    const batch = this.options.buildBatch(records, step);
    const throughSeq = entries.at(-1)!.header.seq;

    const updates: RlStepMetrics[] = [];
    if (batch.samples.length > 0) {
      for (let epoch = 0; epoch < epochs; epoch++) {
        this.progress.update(`step ${step}`, epoch, epochs, `${batch.samples.length} samples, ${batch.stats.lossTokens} loss tokens`);
        updates.push(await this.engine.step(batch, this.options.lr === undefined ? undefined : { lr: this.options.lr }));
      }
      this.progress.update(`step ${step}`, epochs, epochs, `${batch.samples.length} samples`);
      this.progress.clear();
    }
    if (updates.length === 0) {
      // Every group had the same reward for all its samples: nothing to learn, but the records are used up.
      await this.lock.assertHeld();
      this.state = { ...this.state, trained_through: throughSeq };
      await writeRunState(runDir, this.state);
      await this.consumer.inbox.markTrained(throughSeq);
      this.options.log?.(`step ${step}: ${records.length} records, no group with a reward signal; nothing to train, no checkpoint`);
      return null;
    }

    const paths = runPaths(runDir);
    const modelRel = paths.model(step);
    const engineRel = paths.engine(step);
    await replaceDir(join(runDir, modelRel), (dir) => this.engine.exportOnnx(dir));
    await replaceDir(join(runDir, engineRel), (dir) => this.engine.saveState(dir));

    const version = `${this.state.run}-step-${pad(step)}`;
    const toolBudget = budgetAt(this.state.schedule, step);
    const metrics = stepMetrics(step, version, toolBudget, batch.stats, updates);
    await this.lock.assertHeld();
    this.state = {
      ...this.state,
      step,
      trained_through: throughSeq,
      model: { dir: modelRel, version: this.state.model.version, engine_state: engineRel },
      pending_publish: { version, step, parent: this.state.model.version, created_at: new Date().toISOString(), metrics: numericMetrics(metrics) },
      last_metrics: metrics,
    };
    await writeRunState(runDir, this.state); // the commit point
    await this.finishCommittedStep();
    return { step, version, metrics };
  }

  /** Everything after a step's commit, idempotent: consumer entries moved, metrics line, plots, publish. */
  private async finishCommittedStep(): Promise<void> {
    const { runDir } = this.options;
    const paths = runPaths(runDir);
    await this.consumer.inbox.markTrained(this.state.trained_through);
    if (this.state.last_metrics) {
      const lines = await readMetrics(paths.metrics);
      const last = lines.at(-1);
      const all = last?.step === this.state.last_metrics.step ? lines : await appendMetrics(paths.metrics, this.state.last_metrics);
      await writePlots(paths.plots, all, `run ${this.state.run}`);
    }
    const pending = this.state.pending_publish;
    if (pending) {
      const published = await publishCheckpoint({
        store: this.options.store,
        prefix: this.options.prefix,
        modelDir: join(runDir, this.state.model.dir),
        version: pending.version,
        parent: pending.parent,
        step: pending.step,
        schedule: this.state.schedule,
        metrics: pending.metrics,
        createdAt: pending.created_at,
        expectLatest: this.state.expected_latest,
      });
      await this.lock.assertHeld();
      this.state = {
        ...this.state,
        model: { ...this.state.model, version: pending.version },
        expected_latest: pending.version,
        pending_publish: null,
      };
      await writeRunState(runDir, this.state);
      this.options.log?.(`published ${pending.version} (step ${pending.step}, tool budget ${published.manifest.tool_budget.limit})`);
      await this.pruneOldSteps();
    }
  }

  /**
   * Keeps the current step's model and engine state (and the one before); older ones are only history.
   * The directory this process's engine started from stays too (its exports copy the tokenizer from it).
   */
  private async pruneOldSteps(): Promise<void> {
    for (const folder of ['models', 'engine']) {
      const dir = join(this.options.runDir, folder);
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names) {
        const match = /^step-(\d+)$/.exec(name);
        const path = join(dir, name);
        if (match && Number(match[1]) < this.state.step - 1 && path !== this.engineInitDir) await rm(path, { recursive: true, force: true });
      }
    }
  }

  async close(): Promise<void> {
    try {
      await this.engine.dispose();
    } finally {
      await this.lock.release();
    }
  }
}

/** Fills `target` through a temp sibling and renames it into place, so a crash never leaves a half-written one. */
async function replaceDir(target: string, fill: (dir: string) => Promise<unknown>): Promise<void> {
  const tmp = `${target}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(dirname(target), { recursive: true });
  await fill(tmp);
  await rm(target, { recursive: true, force: true });
  await rename(tmp, target);
}

async function newRunState(runDir: string, options: TrainerOptions): Promise<RunState> {
  const latest = await readLatestPointer(options.store, options.prefix);
  let model: RunState['model'];
  if (options.init) {
    model = { dir: resolve(options.init.dir), version: options.init.version, engine_state: null };
  } else if (latest) {
    // Start from what the API serves now: download and verify it into the run directory.
    const { manifest } = await readPointedManifest(options.store, options.prefix, latest);
    const rel = join('models', `init-${latest.version}`);
    await replaceDir(join(runDir, rel), (dir) => downloadVerifiedCheckpoint(options.store, options.prefix, manifest, dir));
    model = { dir: rel, version: latest.version, engine_state: null };
  } else {
    throw new Error(`nothing to start from: no checkpoint is published under ${options.prefix}/ yet; pass --init <model dir>`);
  }
  return {
    schema_version: 1,
    run: runName(runDir),
    step: 0,
    trained_through: 0,
    model,
    expected_latest: latest?.version ?? null,
    pending_publish: null,
    schedule: options.schedule ?? [{ step: 0, limit: 2 }],
    last_metrics: null,
  };
}

/** The run directory's name, made a valid checkpoint version prefix. */
function runName(runDir: string): string {
  const name = basename(runDir).replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 100) || 'run';
  if (!CHECKPOINT_VERSION.test(`${name}-step-000000`)) throw new Error(`cannot derive a checkpoint name from ${runDir}`);
  return name;
}
