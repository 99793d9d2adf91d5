import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeServer } from '../../api/node.ts';
import { OnnxBackend } from '../../api/models/onnx/backend.ts';
import { trainCommand } from '../../cli/commands/train.ts';
import { readLatestPointer } from '../../core/checkpoints/layout.ts';
import { createQueueFromEnv } from '../../core/queue/from-env.ts';
import { createStorageFromEnv } from '../../core/storage/from-env.ts';
import { ensureModel } from '../../scripts/make-model.ts';
import { publishCheckpoint } from '../../trainer/publish/publish.ts';
import { Emulator, remoteLoggingEnv, S3RVER_CREDENTIALS } from '../logging/emulators.ts';
import { sendBatch, tempDir } from './fixtures.ts';
import { rolloutRecords } from './rollouts.ts';

/**
 * `cir train` and the checkpoint watcher on the remote drivers (S3 through s3rver, SQS through
 * fauxqs): SQS receipts and deletes, S3 puts verified by ChecksumSHA256, a server polling S3.
 */
let dir: string;
let cleanup: () => Promise<void>;
let s3: Emulator;
let sqs: Emulator;
let env: Record<string, string>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('remote-train'));
  [s3, sqs] = await Promise.all([Emulator.s3(join(dir, 's3')), Emulator.sqs()]);
  await Promise.all([s3.start(), sqs.start()]);
  const admin = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
  await admin.send(new CreateBucketCommand({ Bucket: 'cir' }));
  admin.destroy();
  const sqsAdmin = new SQSClient({ endpoint: sqs.endpoint, region: 'us-east-1', credentials: S3RVER_CREDENTIALS });
  const queueUrl = (await sqsAdmin.send(new CreateQueueCommand({ QueueName: 'trajectories' }))).QueueUrl!;
  sqsAdmin.destroy();
  env = { ...remoteLoggingEnv(s3, sqs, 'cir', queueUrl), CIR_DATA_DIR: dir, CIR_CHECKPOINTS: 'ckpt' };
});
afterAll(async () => {
  await Promise.all([s3?.kill(), sqs?.kill()]);
  await cleanup?.();
});

describe('cir train on S3 + SQS', () => {
  it('consumes from SQS, publishes to S3, and a server polling S3 swaps to the checkpoint', async () => {
    const modelDir = await ensureModel('tiny');
    const store = createStorageFromEnv(env, { dataDir: dir });
    const queue = createQueueFromEnv(env, { dataDir: dir });
    const backend = await OnnxBackend.load(modelDir, { threads: 1 });
    const records = await rolloutRecords(backend, { groups: 3, n: 4 }).finally(() => backend.dispose());
    await publishCheckpoint({ store, prefix: 'ckpt', modelDir, version: 'base', parent: null, step: 0, schedule: [{ step: 0, limit: 2 }] });
    await sendBatch(store, queue, records.slice(0, 6));
    await sendBatch(store, queue, records.slice(6));

    const server = await startNodeServer({ ...env, PORT: '0', CIR_DATA_DIR: join(dir, 'server'), CIR_CHECKPOINT_POLL_MS: '100', CIR_PYTHON_EXECUTOR: 'off', CIR_MODEL_THREADS: '1' });
    try {
      const stdout = new PassThrough();
      let out = '';
      stdout.on('data', (d) => (out += d));
      const saved = { ...process.env };
      Object.assign(process.env, env);
      let code: number;
      try {
        code = await trainCommand(['--run-dir', join(dir, 'run'), '--wait-s', '1', '--threads', '1'], { stdin: new PassThrough(), stdout, stderr: new PassThrough() });
      } finally {
        process.env = saved;
      }
      expect(code).toBe(0);
      expect(JSON.parse(out)).toMatchObject({ step: 1, latest: 'run-step-000001', consumed: { accepted: 12 }, pending_records: 0 });
      expect((await readLatestPointer(store, 'ckpt'))).toMatchObject({ version: 'run-step-000001' });
      expect(await queue.receive({ max: 10, visibilityTimeoutS: 1 })).toEqual([]);

      let version = '';
      for (let i = 0; i < 200 && version !== 'run-step-000001'; i++) {
        version = ((await (await fetch(`${server.url}/v1/info`)).json()) as { checkpoint: { version: string } }).checkpoint.version;
        if (version !== 'run-step-000001') await new Promise((r) => setTimeout(r, 50));
      }
      expect(version).toBe('run-step-000001');
    } finally {
      await server.close();
      await queue.close?.();
      await store.close?.();
    }
  });
});
