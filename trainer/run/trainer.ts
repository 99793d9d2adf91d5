import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { downloadVerifiedCheckpoint } from '../../core/checkpoints/download.ts';
import { CheckpointReadError, readLatestPointer, readPointedManifest, CHECKPOINT_VERSION } from '../../core/checkpoints/layout.ts';
import type { QueueConsumer } from '../../core/queue/queue.ts';
import type { TrajectoryRecord } from '../../core/schemas/trajectory.ts';
import type { ObjectStore } from '../../core/storage/object-store.ts';
import type { Grader } from '../../api/grading/grader.ts';
import { gradeRecords } from '../batch/build.ts';
import { DEFAULT_GROUP_POLICY, selectGroups, type BatchTarget, type GroupPolicy, type PoolRecord } from '../batch/groups.ts';
import { miniBatches } from '../batch/mini-batches.ts';
import type { TrainBatch } from '../batch/types.ts';
import { TrajectoryConsumer, type ConsumeCounts } from '../consumer/consumer.ts';
import type { InboxEntry } from '../consumer/inbox.ts';
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
  /** Records → training batch (groups, rewards, advantages, masks): trainer/batch. `verdicts`: re-grading done by `grader`. */
  buildBatch: (records: TrajectoryRecord[], step: number, verdicts?: ReadonlyMap<string, boolean>) => TrainBatch;
  /** Re-grades the records before each batch is built (a pool: off the event loop, with a hard deadline); default: buildBatch grades. */
  grader?: Grader;
  /** Weights to start a new run from; default: the store's latest checkpoint. Ignored when resuming. */
  init?: { dir: string; version: string | null };
  /** Tool budget schedule; default: the run's (or 2 calls from step 0 for a new run). */
  schedule?: ToolBudgetSchedule;
  /** Per-call tool timeout written into each checkpoint it publishes; default: none (the API's own). */
  toolTimeoutMs?: number;
  /** Records per step, in whole groups (the first group always fits). Default 64; ignored with batchGroups. */
  batchRecords?: number;
  /** Groups (problems) per step, as verl's train_batch_size counts prompts. */
  batchGroups?: number;
  /** Groups per optimizer update (verl ppo_mini_batch_size): a batch makes ceil(groups / this) updates per epoch. Default: the whole batch. */
  miniBatchGroups?: number;
  /** Samples per group the rollouts draw (the recipe's n): sizes the consume step of a loop that counts groups. Default 1. */
  samplesPerGroup?: number;
  /** How long an incomplete group waits for its other samples, and what happens to it then. */
  groupPolicy?: GroupPolicy;
  /** Fewer pending records than this: no step yet. Default 1. */
  minRecords?: number;
  /** Passes over each batch (PPO epochs). Default 1. */
  epochs?: number;
  lr?: number;
  /** Long-poll wait of each receive. Default 1 s. */
  queueWaitS?: number;
  visibilityTimeoutS?: number;
  maxReceives?: number;
  /** Replace a damaged `latest` pointer when publishing (see publishCheckpoint), instead of stopping. */
  repairLatest?: boolean;
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

/** Records were used up (set aside, held, or without a reward signal) but nothing was trained: no checkpoint. */
export interface SkippedStep {
  skipped: string;
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
    /** The reference policy, when the loss has a KL term. */
    private readonly reference: Engine | null,
  ) {}

  private readonly pools = new Map<string, PoolRecord[]>();

  /** Takes the run directory's lock, creates or resumes the run (finishing an interrupted publish), starts the engine. */
  static async open(options: TrainerOptions): Promise<Trainer> {
    const runDir = resolve(options.runDir);
    await mkdir(runDir, { recursive: true });
    const paths = runPaths(runDir);
    const lock = await RunLock.acquire(paths.lock, { ttlMs: options.lockTtlMs });
    const log = options.log ?? (() => {});
    try {
      const existing = await readRunState(runDir);
      // A new run's state is written only once its engine has started from the weights, so a wrong --init
      // leaves nothing behind and the next attempt starts afresh.
      let state = existing ?? (await newRunState(runDir, options));
      if (options.schedule && JSON.stringify(options.schedule) !== JSON.stringify(state.schedule)) {
        state = { ...state, schedule: options.schedule };
      }
      const consumer = await TrajectoryConsumer.open({
        dir: paths.consumer,
        store: options.store,
        queue: options.queue,
        visibilityTimeoutS: options.visibilityTimeoutS,
        maxReceives: options.maxReceives,
        log,
      });
      const inRun = (dir: string) => (isAbsolute(dir) ? dir : join(runDir, dir));
      const modelDir = inRun(state.model.dir);
      const engine = await options.createEngine({ kind: 'model-dir', dir: modelDir }, options.engineOptions).catch((error: Error) => {
        throw existing ? error : new Error(`cannot start a new run from ${state.model.version ?? modelDir}: ${error.message}`);
      });
      let reference: Engine | null = null;
      try {
        if (state.model.engine_state) await engine.loadState(join(runDir, state.model.engine_state));
        if ((options.engineOptions?.policyLoss?.klCoef ?? 0) > 0) {
          if (state.reference === null) throw new Error('a KL term needs the run\'s initial weights, which this run (started by an older version) did not record; start a new run for kl_coef > 0');
          // A second engine holding the initial weights, never stepped: the reference policy (verl's ref model).
          reference = await options.createEngine({ kind: 'model-dir', dir: inRun(state.reference) }, options.engineOptions);
        }
      } catch (error) {
        await reference?.dispose();
        await engine.dispose();
        throw error;
      }
      if (JSON.stringify(state) !== JSON.stringify(existing)) await writeRunState(runDir, state);
      if (existing) log(`resuming run ${state.run} after step ${state.step}${options.init ? ' (--init applies to new runs only; ignored)' : ''}`);
      else log(`new run ${state.run}: starting from ${state.model.version ?? state.model.dir}`);
      const trainer = new Trainer(
        { batchRecords: 64, minRecords: 1, epochs: 1, ...options, runDir },
        lock,
        consumer,
        state,
        engine,
        options.progress ?? new Progress(process.stderr),
        modelDir,
        reference,
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

  /** What fills a batch: groups (batchGroups) or records. */
  get batchTarget(): BatchTarget {
    return this.options.batchGroups !== undefined ? { groups: this.options.batchGroups } : { records: this.options.batchRecords };
  }

  /** Records a full batch is expected to hold (a loop consumes this many before it looks for a batch). */
  get expectedBatchRecords(): number {
    const target = this.batchTarget;
    return 'groups' in target ? target.groups * (this.options.samplesPerGroup ?? 1) : target.records;
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

  /** Pending records (accounted for, not yet trained on): new ones and those held for their group. */
  pendingRecords(): number {
    return this.consumer.pendingRecordCount() + this.state.held.length;
  }

  /** Records held for their group (waiting for its other samples, or past the last batch's target). */
  get heldRecords(): number {
    return this.state.held.length;
  }

  /**
   * One step on whole groups of the oldest pending records (up to the batch target; see
   * batch/groups.ts): train, export, commit, publish. `full`: only a full batch (a loop waits for one);
   * otherwise a short one is taken (a job trains what it consumed). Null when no batch is ready (or
   * fewer than minRecords are pending); a SkippedStep when records were used up without an update.
   */
  async trainStep({ full = false }: { full?: boolean } = {}): Promise<StepResult | SkippedStep | null> {
    const { epochs, runDir } = this.options;
    if (this.pendingRecords() < this.minRecords) return null;
    const pending = this.consumer.pending();
    const selection = selectGroups(
      await this.poolOf(this.state.held),
      await Promise.all(pending.map((entry) => this.entryPool(entry))),
      this.batchTarget,
      this.options.groupPolicy ?? DEFAULT_GROUP_POLICY,
      { nowMs: Date.now(), flush: !full },
    );
    if (selection === null) return null;
    const throughSeq = pending[selection.entriesExamined - 1]?.header.seq ?? this.state.trained_through;
    const records = await this.consumer.inbox.recordsById(selection.train);
    const step = this.state.step + 1;
    const verdicts = this.options.grader ? await gradeRecords(records, this.options.grader) : undefined;
    const built = this.options.buildBatch(records, step, verdicts);
    const batch = this.reference && built.samples.length > 0 ? await withReferenceLogprobs(built, this.reference) : built;
    const groupAccount = {
      incomplete_groups_trained: selection.incompleteTrained,
      groups_set_aside: selection.setAside.length,
      records_set_aside: selection.setAside.reduce((n, g) => n + g.ids.length, 0),
      groups_held: selection.heldGroups,
    };
    if (groupAccount.groups_set_aside > 0) {
      this.options.log?.(
        `step ${step}: set aside ${groupAccount.groups_set_aside} group(s) still incomplete after the group timeout ` +
          `(${selection.setAside.map((g) => `${g.groupId}: ${g.ids.length}`).join(', ')})`,
      );
    }

    const updates: RlStepMetrics[] = [];
    if (batch.samples.length > 0) {
      const parts = miniBatches(batch, this.options.miniBatchGroups);
      const total = epochs * parts.length;
      for (let epoch = 0; epoch < epochs; epoch++) {
        for (const part of parts) {
          this.progress.update(`step ${step}`, updates.length, total, `${part.samples.length} samples, ${batch.stats.lossTokens} loss tokens in the batch`);
          updates.push(await this.engine.step(part, this.options.lr === undefined ? undefined : { lr: this.options.lr }));
        }
      }
      this.progress.update(`step ${step}`, total, total, `${batch.samples.length} samples`);
      this.progress.clear();
    }
    const setAsideTotal = this.state.set_aside + groupAccount.records_set_aside;
    if (updates.length === 0) {
      // Nothing to learn (every group without a reward signal and dropped, or only set-aside groups), but the records are used up.
      await this.lock.assertHeld();
      this.state = { ...this.state, trained_through: throughSeq, held: selection.held, set_aside: setAsideTotal };
      await writeRunState(runDir, this.state);
      await this.consumer.inbox.markTrained(throughSeq);
      const reason =
        records.length === 0
          ? `no complete group to train on (${selection.heldGroups} held, ${groupAccount.groups_set_aside} set aside)`
          : `${records.length} records, no group with a reward signal; nothing to train, no checkpoint`;
      this.options.log?.(`step ${step}: ${reason}`);
      return { skipped: reason };
    }

    const paths = runPaths(runDir);
    const modelRel = paths.model(step);
    const engineRel = paths.engine(step);
    await replaceDir(join(runDir, modelRel), (dir) => this.engine.exportOnnx(dir));
    await replaceDir(join(runDir, engineRel), (dir) => this.engine.saveState(dir));

    const version = `${this.state.run}-step-${pad(step)}`;
    const toolBudget = budgetAt(this.state.schedule, step);
    const metrics = { ...stepMetrics(step, version, toolBudget, batch.stats, updates), ...groupAccount };
    await this.lock.assertHeld();
    this.state = {
      ...this.state,
      step,
      trained_through: throughSeq,
      held: selection.held,
      set_aside: setAsideTotal,
      model: { dir: modelRel, version: this.state.model.version, engine_state: engineRel },
      pending_publish: {
        version,
        step,
        parent: this.state.model.version,
        created_at: new Date().toISOString(),
        metrics: numericMetrics(metrics),
        tool_timeout_ms: this.options.toolTimeoutMs ?? null,
      },
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
        ...(pending.tool_timeout_ms !== null && { toolTimeoutMs: pending.tool_timeout_ms }),
        metrics: pending.metrics,
        createdAt: pending.created_at,
        expectLatest: this.state.expected_latest,
        ...(this.options.repairLatest && { repairLatest: true }),
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

  /** Pool metadata of some record ids (held ones: their entries are already in consumed/). */
  private async poolOf(ids: readonly string[]): Promise<PoolRecord[]> {
    if (ids.length === 0) return [];
    const entries = this.consumer.inbox.entriesHolding(ids);
    const wanted = new Set(ids);
    const pools = await Promise.all(entries.map((entry) => this.entryPool(entry)));
    return pools.flat().filter((r) => wanted.has(r.id));
  }

  /** An entry's records as pool metadata, read once per entry (entries never change). */
  private async entryPool(entry: InboxEntry): Promise<PoolRecord[]> {
    let pool = this.pools.get(entry.name);
    if (!pool) {
      const arrivedAtMs = Date.parse(entry.header.received_at);
      pool = (await this.consumer.records([entry])).map((r) => ({ id: r.id, groupId: r.group_id, groupSize: r.group_size, arrivedAtMs }));
      this.pools.set(entry.name, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    try {
      await this.reference?.dispose();
      await this.engine.dispose();
    } finally {
      await this.lock.release();
    }
  }
}

/** The batch with each sample's reference logprobs over its response (0 where the loss mask is). */
async function withReferenceLogprobs(batch: TrainBatch, reference: Engine): Promise<TrainBatch> {
  const logprobs = await reference.logprobs(batch.samples.map((s) => ({ ids: s.inputIds, from: s.promptLength, temperature: s.temperature })));
  return {
    ...batch,
    samples: batch.samples.map((s, i) => ({ ...s, refLogprobs: logprobs[i]!.map((lp, t) => (s.lossMask[t] ? lp : 0)) })),
  };
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
  const latest = await readLatestPointer(options.store, options.prefix).catch((error: unknown) => {
    // With --init the pointer only says what to expect at the first publish (which refuses or repairs a damaged one).
    if (options.init && error instanceof CheckpointReadError && error.kind === 'pointer') return null;
    throw error;
  });
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
    reference: model.dir,
    pending_publish: null,
    held: [],
    set_aside: 0,
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
