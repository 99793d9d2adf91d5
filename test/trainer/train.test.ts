import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { startNodeServer } from '../../api/node.ts';
import { runCommand } from '../cli-run.ts';
import { trainCommand } from '../../cli/commands/train.ts';
import { readLatestPointer, readPointedManifest } from '../../core/checkpoints/layout.ts';
import { LocalQueue } from '../../core/queue/local.ts';
import { FsObjectStore } from '../../core/storage/fs.ts';
import { buildBatch } from '../../trainer/batch/build.ts';
import { createCpuEngine } from '../../trainer/engines/cpu/engine.ts';
import type { CreateEngine } from '../../trainer/engines/types.ts';
import { DamagedLatestError, PublishConflictError, PublishError, publishCheckpoint } from '../../trainer/publish/publish.ts';
import { parseBudgetSchedule } from '../../trainer/run/budget.ts';
import { LockHeldError } from '../../trainer/run/lock.ts';
import { runTrainingJob } from '../../trainer/run/job.ts';
import { readMetrics } from '../../trainer/run/metrics.ts';
import { Progress } from '../../trainer/run/progress.ts';
import { readRunState } from '../../trainer/run/state.ts';
import { Trainer, type StepResult, type TrainerOptions } from '../../trainer/run/trainer.ts';
import { FailingStore, sendBatch, SimulatedCrash } from './fixtures.ts';
import { useRolloutFixture } from './rollouts.ts';

const fixture = useRolloutFixture('train', { groups: 6, n: 4 });

const quiet = new Progress(new PassThrough());

function setup(name: string) {
  const store = new FsObjectStore(join(fixture.root, name, 'objects'));
  const queue = new LocalQueue(join(fixture.root, name, 'queue'));
  const options = (over: Partial<TrainerOptions> = {}): TrainerOptions => ({
    runDir: join(fixture.root, name, 'run'),
    store,
    queue,
    prefix: 'ckpt',
    createEngine: (init, opts) => createCpuEngine(init, { ...opts, threads: 1 }),
    buildBatch: (rs) => buildBatch(rs),
    schedule: parseBudgetSchedule('0:2,2:3'),
    queueWaitS: 0.05,
    visibilityTimeoutS: 0,
    progress: quiet,
    ...over,
  });
  return { store, queue, options };
}

describe('cir train (Trainer)', () => {
  it('consumes, trains, publishes a checkpoint a running server picks up, and writes metrics and plots', async () => {
    const { store, queue, options } = setup('e2e');
    await publishCheckpoint({ store, prefix: 'ckpt', modelDir: fixture.modelDir, version: 'init', parent: null, step: 0, schedule: parseBudgetSchedule('2') });
    const server = await startNodeServer({
      PORT: '0',
      CIR_DATA_DIR: join(fixture.root, 'e2e', 'server'),
      CIR_STORAGE: 'fs',
      CIR_STORAGE_DIR: join(fixture.root, 'e2e', 'objects'),
      CIR_CHECKPOINTS: 'ckpt',
      CIR_CHECKPOINT_POLL_MS: '200',
      CIR_PYTHON_EXECUTOR: 'off',
      CIR_MODEL_THREADS: '1',
    });
    try {
      for (let i = 0; i < 3; i++) await sendBatch(store, queue, fixture.records.slice(i * 8, i * 8 + 8));
      const trainer = await Trainer.open(options({ toolTimeoutMs: 1_500 })); // no init: starts from the published 'init'
      try {
        expect(await trainer.consume()).toMatchObject({ messages: 3, accepted: 24 });
        const result = (await trainer.trainStep()) as StepResult;
        expect(result.version).toBe('run-step-000001');
        expect(result.metrics).toMatchObject({ step: 1, records: 24, samples: 24, tool_call_rate: 1, tool_budget: 2 });
        for (const key of ['reward', 'accuracy', 'response_length', 'entropy', 'clip_fraction']) expect(typeof result.metrics[key]).toBe('number');
      } finally {
        await trainer.close();
      }
      const pointer = (await readLatestPointer(store, 'ckpt'))!;
      const { manifest } = await readPointedManifest(store, 'ckpt', pointer);
      expect(manifest).toMatchObject({
        schema_version: 2,
        version: 'run-step-000001',
        parent: 'init',
        step: 1,
        tool_budget: { limit: 2, schedule: [{ step: 0, limit: 2 }, { step: 2, limit: 3 }] },
        tool_timeout_ms: 1_500,
      });
      expect(manifest.metrics.records).toBe(24);
      // Trained weights, not the initial ones, were published.
      expect(manifest.files['model.onnx']).not.toBe(JSON.parse(await readFile(join(fixture.root, 'e2e', 'objects', 'ckpt', 'init', 'manifest.json'), 'utf8')).files['model.onnx']);

      const deadline = Date.now() + 10_000;
      let info: { checkpoint: { version: string; tool_budget: number } };
      do {
        info = (await (await fetch(`${server.url}/v1/info`)).json()) as typeof info;
      } while (info.checkpoint.version !== 'run-step-000001' && Date.now() < deadline && (await new Promise((r) => setTimeout(r, 50)), true));
      expect(info.checkpoint).toMatchObject({ version: 'run-step-000001', tool_budget: 2, tool_timeout_ms: 1_500 });
      const completion = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x', max_tokens: 3 }) });
      expect(completion.status).toBe(200);
    } finally {
      await server.close();
    }
    const run = join(fixture.root, 'e2e', 'run');
    const metrics = await readMetrics(join(run, 'metrics.jsonl'));
    expect(metrics.map((m) => m.step)).toEqual([1]);
    const plots = await readdir(join(run, 'plots'));
    expect(plots).toEqual(expect.arrayContaining(['reward.svg', 'tool-calls.svg', 'response-length.svg', 'entropy.svg', 'clip-fraction.svg']));
    expect(await readFile(join(run, 'plots', 'reward.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
  });

  it('resumes after a crash at each point of a step without losing or double-counting a record', async () => {
    const { store, queue, options } = setup('crash');
    await sendBatch(store, queue, fixture.records.slice(0, 8));
    await sendBatch(store, queue, fixture.records.slice(8, 16));

    // 1. Crash after training, before the step is committed (the export dies).
    let crashExport = true;
    const crashingEngine: CreateEngine = async (init, opts) => {
      const engine = await createCpuEngine(init, { ...opts, threads: 1 });
      const exportOnnx = engine.exportOnnx.bind(engine);
      engine.exportOnnx = async (dir) => {
        if (crashExport) throw new SimulatedCrash('export');
        return exportOnnx(dir);
      };
      return engine;
    };
    let trainer = await Trainer.open(options({ init: { dir: fixture.modelDir, version: null }, createEngine: crashingEngine, batchRecords: 8 }));
    await trainer.consume();
    await expect(trainer.trainStep()).rejects.toThrow(SimulatedCrash);
    await trainer.close();
    expect((await readRunState(options().runDir))!.step).toBe(0);

    // 2. Restart; the storage goes down after the commit, in the middle of publishing.
    crashExport = false;
    const flaky = new FailingStore(store);
    flaky.failAfter = 2;
    trainer = await Trainer.open(options({ store: flaky, createEngine: crashingEngine, batchRecords: 8 }));
    expect(trainer.pendingRecords()).toBe(16);
    await expect(trainer.trainStep()).rejects.toThrow(PublishError);
    await trainer.close();
    expect(await readLatestPointer(store, 'ckpt')).toBeNull();
    const committed = (await readRunState(options().runDir))!;
    expect(committed).toMatchObject({ step: 1, pending_publish: { version: 'run-step-000001' } });

    // 3. Restart with storage back: opening finishes the publish; the redelivered and re-sent messages add nothing.
    const again = await sendBatch(store, queue, fixture.records.slice(16, 24));
    await queue.send(again);
    trainer = await Trainer.open(options({ batchRecords: 8 }));
    expect((await readLatestPointer(store, 'ckpt'))!.version).toBe('run-step-000001');
    expect(await trainer.consume()).toMatchObject({ accepted: 8, redelivered: 1 });
    while ((await trainer.trainStep()) !== null);
    await trainer.close();

    const state = (await readRunState(options().runDir))!;
    expect(state).toMatchObject({ step: 3, pending_publish: null, model: { version: 'run-step-000003' } });
    const metrics = await readMetrics(join(options().runDir, 'metrics.jsonl'));
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3]);
    expect(metrics.reduce((n, m) => n + Number(m.records), 0)).toBe(24);
    const manifests = await Promise.all([1, 2, 3].map(async (s) => JSON.parse(new TextDecoder().decode((await store.get(`ckpt/run-step-00000${s}/manifest.json`))!))));
    expect(manifests.map((m) => [m.parent, m.tool_budget.limit])).toEqual([[null, 2], ['run-step-000001', 3], ['run-step-000002', 3]]);
  });

  it('--loop waits on an empty queue, trains each full batch as it arrives, and stops when asked', async () => {
    const { store, queue, options } = setup('loop');
    const trainer = await Trainer.open(options({ init: { dir: fixture.modelDir, version: null }, batchRecords: 8 }));
    const abort = new AbortController();
    const steps: number[] = [];
    const job = runTrainingJob(trainer, {
      loop: true,
      signal: abort.signal,
      onStep: (r) => {
        steps.push(r.step);
        if (r.step === 2) abort.abort();
      },
    });
    const settle = () => new Promise((r) => setTimeout(r, 300));
    const until = async (n: number) => {
      for (let i = 0; i < 200 && steps.length < n; i++) await new Promise((r) => setTimeout(r, 50));
    };
    try {
      await settle();
      expect(steps).toEqual([]);
      await sendBatch(store, queue, fixture.records.slice(0, 8));
      await until(1);
      expect(steps).toEqual([1]);
      await sendBatch(store, queue, fixture.records.slice(8, 12)); // half a batch: wait for more
      await settle();
      expect(steps).toEqual([1]);
      expect(trainer.pendingRecords()).toBe(4);
      await sendBatch(store, queue, fixture.records.slice(12, 16));
      const result = await job;
      expect(result.steps.map((s) => s.metrics.records)).toEqual([8, 8]);
      expect(result.consumed.accepted).toBe(16);
    } finally {
      abort.abort();
      await job;
      await trainer.close();
    }
  });

  it('a new run that cannot start from --init leaves the run directory as it found it', async () => {
    const { options } = setup('bad-init');
    const missing = join(fixture.root, 'bad-init', 'no-such-model');
    await expect(Trainer.open(options({ init: { dir: missing, version: null } }))).rejects.toThrow(`cannot start a new run from ${missing}`);
    expect(await readRunState(options().runDir)).toBeNull();
    // The right path then starts the run (instead of "--init applies to new runs only").
    const trainer = await Trainer.open(options({ init: { dir: fixture.modelDir, version: null } }));
    try {
      expect(trainer.runState.model.dir).toBe(fixture.modelDir);
    } finally {
      await trainer.close();
    }
    expect((await readRunState(options().runDir))!.model.dir).toBe(fixture.modelDir);
  });

  it('a damaged latest pointer stops the publish until the trainer is told to repair it', async () => {
    const { store, queue, options } = setup('damaged-latest');
    await sendBatch(store, queue, fixture.records.slice(0, 8));
    await store.put('ckpt/latest', new TextEncoder().encode('not a pointer'));
    let trainer = await Trainer.open(options({ init: { dir: fixture.modelDir, version: null } }));
    try {
      await trainer.consume();
      await expect(trainer.trainStep()).rejects.toThrow(DamagedLatestError);
    } finally {
      await trainer.close();
    }
    // The step is committed; reopening with repairLatest finishes its publish.
    trainer = await Trainer.open(options({ repairLatest: true }));
    await trainer.close();
    expect((await readLatestPointer(store, 'ckpt'))!.version).toBe('run-step-000001');
  });

  it('lets one trainer run per run directory and refuses to publish over another trainer', async () => {
    const { store, queue, options } = setup('two');
    const first = await Trainer.open(options({ init: { dir: fixture.modelDir, version: null } }));
    try {
      await expect(Trainer.open(options())).rejects.toThrow(LockHeldError);
      const other = await Trainer.open(options({ runDir: join(fixture.root, 'two', 'other-run'), init: { dir: fixture.modelDir, version: null } }));
      try {
        await sendBatch(store, queue, fixture.records.slice(0, 8));
        await first.consume();
        expect(((await first.trainStep()) as StepResult).version).toBe('run-step-000001');
        await sendBatch(store, queue, fixture.records.slice(8, 16));
        await other.consume();
        await expect(other.trainStep()).rejects.toThrow(PublishConflictError);
      } finally {
        await other.close();
      }
    } finally {
      await first.close();
    }
  });

  it('cir train: one job over the queue, and a clear no-op on an empty queue', async () => {
    const dir = join(fixture.root, 'cli');
    const store = new FsObjectStore(join(dir, 'objects'));
    const queue = new LocalQueue(join(dir, 'queue'));
    const env = { CIR_DATA_DIR: dir, CIR_STORAGE_DIR: join(dir, 'objects'), CIR_QUEUE_DIR: join(dir, 'queue'), CIR_CHECKPOINTS: 'ckpt' };
    const run = (argv: string[]) => runCommand(trainCommand, argv, env);
    const args = ['--run-dir', join(dir, 'run'), '--init', fixture.modelDir, '--batch-records', '12', '--wait-s', '0.05', '--threads', '1', '--budget', '0:2,1:4'];
    const empty = await run(args);
    expect(empty.code).toBe(0);
    expect(empty.stderr).toContain('queue empty');
    expect(JSON.parse(empty.stdout)).toMatchObject({ step: 0, steps: [] });

    await sendBatch(store, queue, fixture.records.slice(0, 12));
    await sendBatch(store, queue, [...fixture.records.slice(12, 24), '{"broken']);
    const job = await run(args);
    expect(job.code).toBe(0);
    const summary = JSON.parse(job.stdout);
    expect(summary).toMatchObject({ step: 2, latest: 'run-step-000002', pending_records: 0, consumed: { accepted: 24, rejected: 1 } });
    expect(summary.steps.map((s: { tool_budget: number }) => s.tool_budget)).toEqual([4, 4]);
    expect(job.stderr).toMatch(/step 1: reward .*entropy .*clip fraction .* → run-step-000001/);
    expect(job.stderr).toContain('malformed line');
  });
});
