import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.ts';
import { execLimits, loadConfig } from '../../api/config.ts';
import { loadModelBackend, type ModelBackend } from '../../api/models/index.ts';
import { Sandbox } from '../../api/sandbox/index.ts';
import { createQuickJSNodeExecutor } from '../../api/sandbox/quickjs/node.ts';
import { readTrajectories } from '../../core/logging/read.ts';
import { TrajectoryLogger } from '../../core/logging/trajectory-logger.ts';
import { processWideLogging } from '../../api/trajectory-logging/index.ts';
import { LocalQueue } from '../../core/queue/local.ts';
import { decodeQueueMessage } from '../../core/schemas/queue-message.ts';
import { FsObjectStore } from '../../core/storage/fs.ts';
import { DEFAULT_MODEL_CONFIG } from '../../model/config.ts';
import { writeFreshModel } from '../../model/init.ts';
import { runRollouts } from '../../model/rollouts.ts';
import { generateProblems } from '../../model/tasks/generate.ts';

/**
 * RL rollouts through /v1/solve of the real app (in process), serving an untrained model of the
 * default layout, with the real sandbox and a trajectory logger on disk: every sample lands in
 * storage with its gold, reward and the problem's tags, announced on the queue.
 */

let dir: string;
let backend: ModelBackend;
let sandbox: Sandbox;
let store: FsObjectStore;
let queue: LocalQueue;
let logger: TrajectoryLogger;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cir-model-rollouts-'));
  await writeFreshModel(join(dir, 'model'), {
    config: { ...DEFAULT_MODEL_CONFIG, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 2, numKeyValueHeads: 1 },
    initStd: 0.5,
  });
  backend = await loadModelBackend({ kind: 'onnx', dir: join(dir, 'model'), threads: 1 });
  sandbox = new Sandbox({ executors: [createQuickJSNodeExecutor({ threads: 1 })], limits: execLimits(loadConfig({})), queueLimit: 32 });
  store = new FsObjectStore(join(dir, 'store'));
  queue = new LocalQueue(join(dir, 'queue'));
  logger = await TrajectoryLogger.open({ store, queue, batchMaxRecords: 1000, batchMaxAgeMs: 60_000 });
});

afterAll(async () => {
  await logger?.close();
  await sandbox?.dispose();
  await backend?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('runRollouts', () => {
  it('logs n graded trajectories per problem, tagged with the problem, and reports refusals', async () => {
    const app = createApp({
      config: loadConfig({ CIR_SOLVE_MAX_N: '4' }),
      sandbox,
      runtime: 'node',
      served: () => ({ backend, checkpoint: { version: 'v0', toolBudget: 2 } }),
      trajectoryLogging: processWideLogging(logger),
      log: () => {},
    });
    const fetch = (url: string, init: RequestInit) => Promise.resolve(app.request(url, init));
    const problems = generateProblems({ split: 'rl', count: 3, seed: 2 });
    const stats = await runRollouts(problems, { baseUrl: 'http://cir.test/', n: 2, maxTokens: 16, temperature: 1, fetch, tags: { run: 'test' } });
    expect(stats).toMatchObject({ problems: 3, samples: 6, failed: [] });
    expect(stats.accuracy).toBe(0);

    await logger.flush();
    const records = [];
    for (const message of await queue.receive({ max: 100, visibilityTimeoutS: 30 })) {
      records.push(...(await readTrajectories(store, decodeQueueMessage(message.body))));
      await queue.delete(message.receipt);
    }
    expect(records).toHaveLength(6);
    const byProblem = new Map(problems.map((p) => [p.id, p]));
    for (const record of records) {
      const tags = record.request.tags!;
      const problem = byProblem.get(tags.problem_id!)!;
      expect(problem).toBeDefined();
      expect(tags).toMatchObject({ run: 'test', split: 'rl', kind: problem.kind, level: String(problem.level) });
      expect(record.gold).toBe(problem.answer);
      expect(record.reward).toBe(-1);
    }

    // The server's refusal (n over its cap) is reported per problem, not thrown.
    const refused = await runRollouts(problems.slice(0, 1), { baseUrl: 'http://cir.test', n: 5, fetch });
    expect(refused.failed).toEqual([{ problemId: problems[0]!.id, status: 400, message: expect.stringMatching(/n must be at most 4/) }]);
  });
});
