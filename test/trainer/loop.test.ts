import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeServer, type RunningServer } from '../../api/node.ts';
import { FsObjectStore } from '../../core/storage/fs.ts';
import { ensureModel } from '../../scripts/make-model.ts';
import { buildBatch } from '../../trainer/batch/build.ts';
import { createCpuEngine } from '../../trainer/engines/cpu/engine.ts';
import { publishCheckpoint } from '../../trainer/publish/publish.ts';
import { parseBudgetSchedule } from '../../trainer/run/budget.ts';
import { runTrainingJob } from '../../trainer/run/job.ts';
import { Progress } from '../../trainer/run/progress.ts';
import { Trainer } from '../../trainer/run/trainer.ts';
import { LocalQueue } from '../../core/queue/local.ts';
import { tempDir } from './fixtures.ts';

/**
 * The whole loop with nothing simulated: the API serves a published checkpoint and logs the
 * trajectories of /v1/solve; the trainer consumes exactly those, trains, and publishes; the API
 * swaps to the new checkpoint (and its tool budget), and the next trajectories name it.
 *
 * The fixture model has random weights, so every sample of a problem gets the same reward and GRPO
 * would drop the groups as signal-free; the test keeps them (dropNoSignal: false) so a step is taken.
 */
let dir: string;
let cleanup: () => Promise<void>;
let server: RunningServer;
let store: FsObjectStore;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('loop'));
  store = new FsObjectStore(join(dir, 'objects'));
  await publishCheckpoint({ store, prefix: 'checkpoints', modelDir: await ensureModel('tiny'), version: 'base', parent: null, step: 0, schedule: parseBudgetSchedule('1') });
  server = await startNodeServer({
    PORT: '0',
    CIR_DATA_DIR: dir,
    CIR_CHECKPOINTS: 'checkpoints',
    CIR_CHECKPOINT_POLL_MS: '200',
    CIR_TRAJ_BATCH_MS: '50',
    CIR_PYTHON_EXECUTOR: 'off',
    CIR_EXEC_CONCURRENCY: '1',
    CIR_MODEL_THREADS: '1',
  });
});
afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

const solve = async (problem: string, gold: string, seed: number) => {
  const res = await fetch(`${server.url}/v1/solve`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ problem, gold, n: 4, max_tokens: 24, seed, temperature: 1 }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { id: string; checkpoint_version: string; samples: { trajectory_id: string }[] };
};

async function info(): Promise<{ checkpoint: { version: string; tool_budget: number }; trajectories: { queued: number } }> {
  return (await (await fetch(`${server.url}/v1/info`)).json()) as never;
}

async function until(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400 && !(await condition()); i++) await new Promise((r) => setTimeout(r, 25));
  expect(await condition()).toBe(true);
}

describe('serve → log → train → publish → hot swap', () => {
  it('closes the loop', async () => {
    const first = await Promise.all([solve('What is 2 + 3?', '5', 1), solve('What is 7 - 4?', '3', 2)]);
    expect(first.map((s) => s.checkpoint_version)).toEqual(['base', 'base']);
    await until(async () => (await info()).trajectories.queued >= 8);

    const trainer = await Trainer.open({
      runDir: join(dir, 'runs', 'loop'),
      store,
      queue: new LocalQueue(join(dir, 'queue')),
      prefix: 'checkpoints',
      createEngine: (init, options) => createCpuEngine(init, { ...options, threads: 1 }),
      buildBatch: (records) => buildBatch(records, { dropNoSignal: false }),
      schedule: parseBudgetSchedule('0:1,1:2'),
      queueWaitS: 0.05,
      progress: new Progress(new PassThrough()),
    });
    let job;
    let consumedIds: string[];
    try {
      job = await runTrainingJob(trainer, { loop: false });
      expect(trainer.consumer.totals()).toMatchObject({ accepted: 8, rejected: 0, duplicates: 0 });
      consumedIds = trainer.consumer.inbox.all.flatMap((e) => e.header.ids);
    } finally {
      await trainer.close();
    }
    expect(job.steps.map((s) => s.version)).toEqual(['loop-step-000001']);
    expect(job.steps[0]!.metrics).toMatchObject({ records: 8, samples: 8 });
    // Exactly the trajectories the API returned were trained on.
    expect(consumedIds.sort()).toEqual(first.flatMap((s) => s.samples.map((x) => x.trajectory_id)).sort());

    await until(async () => (await info()).checkpoint.version === 'loop-step-000001');
    expect((await info()).checkpoint.tool_budget).toBe(2);
    const next = await solve('What is 3 * 3?', '9', 3);
    expect(next.checkpoint_version).toBe('loop-step-000001');
  });
});
