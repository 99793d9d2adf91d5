import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { LocalQueue } from '../../core/queue/local.ts';
import type { TrajectoryRecord } from '../../core/schemas/trajectory.ts';
import { FsObjectStore } from '../../core/storage/fs.ts';
import { buildBatch, type BatchOptions } from '../../trainer/batch/build.ts';
import type { TrainBatch } from '../../trainer/batch/types.ts';
import { createCpuEngine } from '../../trainer/engines/cpu/engine.ts';
import { runTrainingJob } from '../../trainer/run/job.ts';
import { Progress } from '../../trainer/run/progress.ts';
import { readRunState } from '../../trainer/run/state.ts';
import { Trainer, type TrainerOptions } from '../../trainer/run/trainer.ts';
import { sendBatch } from './fixtures.ts';
import { useRolloutFixture } from './rollouts.ts';

/**
 * Groups split across queue messages on purpose: the trainer must hold each part until its group is
 * complete, so every step sees the same groups, group statistics and advantages as when each group
 * arrives in one message.
 */
const fixture = useRolloutFixture('groups', { groups: 6, n: 4 });
// Rewards that make group statistics matter: group g has g % 4 + 1 correct samples of 4 (a group of 4 correct carries no signal).
beforeAll(() => fixture.records.forEach((r, i) => (r.reward = i % 4 <= Math.floor(i / 4) % 4 ? 1 : -1)));

interface Observed {
  batches: TrainBatch[];
  updates: number[];
}

/** Delivers `messages` (lists of fixture.records), runs one `cir train`-style job, and returns what each step trained on. */
async function trainOn(name: string, messages: TrajectoryRecord[][], over: Partial<TrainerOptions> = {}, batchOptions: Partial<BatchOptions> = {}) {
  const store = new FsObjectStore(join(fixture.root, name, 'objects'));
  const queue = new LocalQueue(join(fixture.root, name, 'queue'));
  for (const message of messages) await sendBatch(store, queue, message);
  const observed: Observed = { batches: [], updates: [] };
  const trainer = await Trainer.open({
    runDir: join(fixture.root, name, 'run'),
    store,
    queue,
    prefix: 'ckpt',
    init: { dir: fixture.modelDir, version: null },
    createEngine: async (init, opts) => {
      const engine = await createCpuEngine(init, { ...opts, threads: 1 });
      const step = engine.step.bind(engine);
      engine.step = (batch, options) => {
        observed.updates.push(batch.samples.length);
        return step(batch, options);
      };
      return engine;
    },
    buildBatch: (rs) => {
      const batch = buildBatch(rs, { estimator: 'reinforce_plus_plus_baseline', ...batchOptions });
      observed.batches.push(batch);
      return batch;
    },
    batchGroups: 3,
    queueWaitS: 0.05,
    visibilityTimeoutS: 0,
    progress: new Progress(new PassThrough()),
    ...over,
  });
  try {
    const job = await runTrainingJob(trainer, { loop: false });
    return { observed, job, held: trainer.heldRecords, state: (await readRunState(join(fixture.root, name, 'run')))! };
  } finally {
    await trainer.close();
  }
}

/** Per step: the groups, the stats, and each sample's advantage by id. */
const summary = (batch: TrainBatch) => ({
  groups: [...new Set(batch.samples.map((s) => s.groupId))].sort(),
  stats: batch.stats,
  advantages: Object.fromEntries(batch.samples.map((s) => [s.id, s.advantages.find((_, t) => s.lossMask[t] === 1)])),
});

describe('whole groups in training', () => {
  it('a step sees the same groups and statistics when groups are split across messages', async () => {
    const byGroup = (g: number) => fixture.records.slice(g * 4, g * 4 + 4);
    const whole = await trainOn('whole', [0, 1, 2, 3, 4, 5].map(byGroup));
    // Split 1 + 3, 2 + 2, 3 + 1, and the parts of different groups interleaved across messages.
    const split = await trainOn('split', [
      [...byGroup(0).slice(0, 1), ...byGroup(1).slice(0, 2)],
      [...byGroup(2).slice(0, 3)],
      [...byGroup(0).slice(1), ...byGroup(2).slice(3)],
      [...byGroup(1).slice(2), ...byGroup(3), ...byGroup(4).slice(0, 1)],
      [...byGroup(5), ...byGroup(4).slice(1)],
    ]);
    expect(whole.observed.batches).toHaveLength(2);
    expect(split.observed.batches).toHaveLength(2);
    for (let step = 0; step < 2; step++) {
      const a = summary(whole.observed.batches[step]!);
      const b = summary(split.observed.batches[step]!);
      expect(b.groups).toEqual(a.groups);
      expect(b.stats).toEqual(a.stats);
      for (const [id, advantage] of Object.entries(a.advantages)) expect(b.advantages[id]).toBeCloseTo(advantage!, 6);
      expect(a.stats).toMatchObject({ groups: 3, keptGroups: 3, samples: 12 });
    }
    expect(split.held).toBe(0);
    expect(split.job.steps.map((s) => s.metrics.groups_held)).toEqual([expect.any(Number), 0]);
  });

  it('holds an incomplete group across jobs, and after the timeout trains it as it is or sets it aside, counted', async () => {
    const partial = fixture.records.slice(0, 2); // 2 of group 0's 4 samples
    const waiting = await trainOn('waiting', [partial, fixture.records.slice(4, 16)]);
    expect(waiting.held).toBe(2);
    expect(waiting.state.held).toEqual(partial.map((r) => r.id));
    expect(waiting.observed.batches.map((b) => b.stats.groups)).toEqual([3]);

    const trained = await trainOn('timed-out-train', [partial, fixture.records.slice(4, 16)], { groupPolicy: { timeoutMs: 0, incomplete: 'train' } });
    expect(trained.held).toBe(0);
    expect(trained.job.steps[0]!.metrics).toMatchObject({ incomplete_groups_trained: 1, groups_set_aside: 0 });

    const setAside = await trainOn('timed-out-set-aside', [partial, fixture.records.slice(4, 16)], { groupPolicy: { timeoutMs: 0, incomplete: 'set-aside' } });
    expect(setAside.held).toBe(0);
    expect(setAside.job.steps[0]!.metrics).toMatchObject({ groups_set_aside: 1, records_set_aside: 2 });
    expect(setAside.state.set_aside).toBe(2);
    expect(setAside.observed.batches.flatMap((b) => b.samples.map((s) => s.groupId))).not.toContain(partial[0]!.group_id);
  });

  it('cuts a batch into mini-batches of whole groups: one optimizer update each', async () => {
    const result = await trainOn('mini', [fixture.records.slice(0, 24)], { batchGroups: 6, miniBatchGroups: 4, epochs: 2 });
    expect(result.observed.updates).toEqual([16, 8, 16, 8]);
    expect(result.job.steps[0]!.metrics.updates).toBe(4);
  });
});
