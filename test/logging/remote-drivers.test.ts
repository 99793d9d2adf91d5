import { CreateBucketCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../core/bytes.ts';
import { createQueueFromEnv } from '../../core/queue/from-env.ts';
import { SqsQueue } from '../../core/queue/sqs.ts';
import { ConfigError } from '../../core/env.ts';
import { createStorageFromEnv } from '../../core/storage/from-env.ts';
import { sha256File } from '../../core/storage/files.ts';
import { S3ObjectStore } from '../../core/storage/s3.ts';
import { Emulator, remoteLoggingEnv, S3RVER_CREDENTIALS } from './emulators.ts';

/** A small file (one PutObject, under the part size). */
async function small(dir: string): Promise<string> {
  const path = join(dir, 'small.json');
  await writeFile(path, '{"a":1}');
  return path;
}

/** The S3 and SQS drivers against real servers speaking the protocols (s3rver, fauxqs) on localhost. */
describe('S3 and SQS drivers', () => {
  const bucket = 'cir-drivers';
  let dir: string;
  let s3: Emulator;
  let sqs: Emulator;
  let queueUrl: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cir-remote-drivers-'));
    [s3, sqs] = await Promise.all([Emulator.s3(join(dir, 's3')), Emulator.sqs()]);
    await Promise.all([s3.start(), sqs.start()]);
    const admin = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    admin.destroy();
    const sqsAdmin = new SQSClient({ endpoint: sqs.endpoint, region: 'us-east-1', credentials: S3RVER_CREDENTIALS });
    queueUrl = (await sqsAdmin.send(new CreateQueueCommand({ QueueName: 'drivers' }))).QueueUrl!;
    sqsAdmin.destroy();
    env = remoteLoggingEnv(s3, sqs, bucket, queueUrl);
  });

  afterAll(async () => {
    await Promise.all([s3?.kill(), sqs?.kill()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('S3ObjectStore puts (with sha256 metadata), gets, lists by prefix and deletes', async () => {
    const store = createStorageFromEnv(env, { dataDir: dir });
    expect(store).toBeInstanceOf(S3ObjectStore);
    const bytes = new TextEncoder().encode('hello');
    const sha256 = await sha256Hex(bytes);
    await store.put('trajectories/2025/01/31/a.jsonl.gz', bytes, { contentType: 'application/gzip', sha256 });
    await store.put('trajectories/2025/02/01/b.jsonl.gz', bytes);
    await store.put('elsewhere/c', bytes);
    expect(new TextDecoder().decode((await store.get('trajectories/2025/01/31/a.jsonl.gz'))!)).toBe('hello');
    expect(await store.get('trajectories/missing')).toBeNull();
    expect(await store.list('trajectories/2025/')).toEqual(['trajectories/2025/01/31/a.jsonl.gz', 'trajectories/2025/02/01/b.jsonl.gz']);

    const head = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
    const meta = await head.send(new HeadObjectCommand({ Bucket: bucket, Key: 'trajectories/2025/01/31/a.jsonl.gz' }));
    head.destroy();
    expect(meta.Metadata).toMatchObject({ sha256 });
    expect(meta.ContentType).toBe('application/gzip');

    await store.delete('elsewhere/c');
    await store.delete('elsewhere/c');
    expect(await store.list('elsewhere/')).toEqual([]);
    await store.close?.();
  });

  it('S3ObjectStore moves files of any size: multipart upload above the part size, streamed download', async () => {
    const store = new S3ObjectStore({ bucket, region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: S3RVER_CREDENTIALS, partBytes: 5 * 1024 * 1024 });
    const file = join(dir, 'weights.bin');
    const bytes = new Uint8Array(12 * 1024 * 1024 + 123).map((_, i) => (i * 7919) % 251);
    await writeFile(file, bytes);
    const sha256 = await sha256Hex(bytes);
    await store.putFile('checkpoints/v1/model.safetensors', file, { sha256 }); // 3 parts
    await store.putFile('checkpoints/v1/small.json', await small(dir));
    expect(await store.getFile('checkpoints/v1/model.safetensors', join(dir, 'back.bin'))).toBe(true);
    expect(await sha256File(join(dir, 'back.bin'))).toBe(sha256);
    const head = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
    const meta = await head.send(new HeadObjectCommand({ Bucket: bucket, Key: 'checkpoints/v1/model.safetensors' }));
    head.destroy();
    expect(meta).toMatchObject({ Metadata: { sha256 }, ContentLength: bytes.length });
    expect(await store.get('checkpoints/v1/small.json')).toEqual(new TextEncoder().encode('{"a":1}'));
    expect(await store.getFile('checkpoints/v1/missing', join(dir, 'missing.bin'))).toBe(false);
    expect(await readdir(dir)).not.toContain('missing.bin');
    await store.close();
  });

  it('SqsQueue sends, receives, redelivers after the visibility timeout, extends and deletes', async () => {
    const queue = createQueueFromEnv(env, { dataDir: dir });
    if (!(queue instanceof SqsQueue)) throw new Error(`expected an SqsQueue, got ${queue.constructor.name}`);
    await queue.send('first');
    const [m] = await queue.receive({ max: 10, visibilityTimeoutS: 1, waitS: 1 });
    expect(m).toMatchObject({ body: 'first', receiveCount: 1 });
    expect(await queue.receive({ max: 10, visibilityTimeoutS: 1 })).toEqual([]);
    await sleep(1_200);
    const [again] = await queue.receive({ max: 10, visibilityTimeoutS: 1, waitS: 1 });
    expect(again).toMatchObject({ id: m!.id, body: 'first', receiveCount: 2 });
    await queue.extendVisibility(again!.receipt, 30);
    await sleep(1_200);
    expect(await queue.receive({ max: 10, visibilityTimeoutS: 1 })).toEqual([]);
    await queue.delete(again!.receipt);
    await queue.close?.();
  });

  it('factories name each bad variable and never echo secrets', () => {
    const bad = { CIR_STORAGE: 's3', CIR_S3_ENDPOINT: 'not a url', AWS_SECRET_ACCESS_KEY: 'hunter2-secret' };
    let error: unknown;
    try {
      createStorageFromEnv(bad, { dataDir: dir });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('CIR_S3_BUCKET=(unset): required when CIR_STORAGE=s3');
    expect(message).toContain('CIR_S3_ENDPOINT="not a url"');
    expect(message).toContain('AWS_ACCESS_KEY_ID=(unset): set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
    expect(message).not.toContain('hunter2');
    expect(() => createQueueFromEnv({ CIR_QUEUE: 'kafka' }, { dataDir: dir })).toThrow(/CIR_QUEUE="kafka"/);
  });
});
