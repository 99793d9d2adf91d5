import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTrajectoryLoggingFromEnv, type TrajectoryLogging } from '../../core/logging/from-env.ts';
import { readTrajectories } from '../../core/logging/read.ts';
import { decodeQueueMessage, type QueueMessage } from '../../core/schemas/queue-message.ts';
import { Emulator, remoteLoggingEnv, S3RVER_CREDENTIALS } from './emulators.ts';
import { makeRecord } from './fixtures.ts';

/**
 * The delivery promise end to end, against real S3 and SQS servers that go down mid-run: records
 * keep being accepted through both outages, and afterwards every accepted record is stored and
 * readable through the messages on the queue.
 */
describe('trajectory logging through S3 and SQS outages', () => {
  const bucket = 'cir-outage';
  const queueName = 'trajectories';
  let dir: string;
  let s3: Emulator;
  let sqs: Emulator;
  let logging: TrajectoryLogging | undefined;

  async function createBucket(): Promise<void> {
    const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    client.destroy();
  }

  /** Infra's job on a real deployment; fauxqs keeps queues in memory, so again after each restart. */
  async function createQueue(): Promise<string> {
    const client = new SQSClient({ endpoint: sqs.endpoint, region: 'us-east-1', credentials: S3RVER_CREDENTIALS });
    const url = (await client.send(new CreateQueueCommand({ QueueName: queueName }))).QueueUrl!;
    client.destroy();
    return url;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cir-outage-'));
    [s3, sqs] = await Promise.all([Emulator.s3(join(dir, 's3')), Emulator.sqs()]);
    await Promise.all([s3.start(), sqs.start()]);
    await createBucket();
  });

  afterAll(async () => {
    await logging?.close({ timeoutMs: 1_000 });
    await Promise.all([s3?.kill(), sqs?.kill()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('stores and announces every accepted record although S3 and then SQS are killed and restarted', { timeout: 60_000 }, async () => {
    const queueUrl = await createQueue();
    const env = {
      ...remoteLoggingEnv(s3, sqs, bucket, queueUrl),
      CIR_TRAJ_BATCH_RECORDS: '20',
      CIR_TRAJ_BATCH_MS: '200',
      CIR_TRAJ_BUFFER_RECORDS: '200',
      CIR_TRAJ_RETRY_MAX_MS: '1000',
    };
    const deliveryErrors: string[] = [];
    logging = await createTrajectoryLoggingFromEnv(env, {
      dataDir: join(dir, 'data'),
      onError: (_error, context) => deliveryErrors.push(context),
    });
    const { logger, store, queue } = logging;
    const stats = () => logger.stats();

    // The API side: a steady stream of requests, each handing over one record and never waiting for storage.
    const accepted = new Set<string>();
    let producing = true;
    let heldUp = 0;
    const producer = (async () => {
      while (producing) {
        const record = makeRecord({ group_id: `problem-${accepted.size}` });
        if (!logger.accepting) heldUp++;
        await logger.accept(record);
        accepted.add(record.id);
        await sleep(4);
      }
    })();

    // The trainer side: takes messages off the queue and deletes them once it holds them; objects are
    // read at the end (reading them needs S3, which is down for part of the run).
    const messages = new Map<string, QueueMessage>();
    let consuming = true;
    const consumer = (async () => {
      while (consuming) {
        try {
          for (const m of await queue.receive({ max: 10, visibilityTimeoutS: 5, waitS: 1 })) {
            const message = decodeQueueMessage(m.body);
            messages.set(message.objects.join(','), message); // a duplicate announcement collapses here
            await queue.delete(m.receipt);
          }
        } catch {
          await sleep(100); // SQS is down; the trainer would retry too
        }
      }
    })();
    const announced = () => [...messages.values()].reduce((n, m) => n + m.count, 0);

    await sleep(800);
    expect(stats().queued).toBeGreaterThan(0);

    // Outage 1: S3 dies mid-run. Requests go on; batches pile up in the local spool.
    await s3.kill();
    await sleep(800);
    await vi.waitFor(() => expect(stats().spilled).toBeGreaterThan(0), { timeout: 5_000 });

    // Outage 2: SQS dies too. First let the consumer take everything already announced: fauxqs keeps
    // messages in memory only (a real SQS would keep them), and with S3 down nothing new gets announced.
    await vi.waitFor(() => expect(announced()).toBe(stats().queued), { timeout: 10_000 });
    expect(stats().stored).toBe(stats().queued);
    await sqs.kill();
    await sleep(500);

    // S3 comes back first: spooled batches get stored but cannot be announced yet.
    await s3.start();
    await vi.waitFor(() => expect(stats().stored).toBeGreaterThan(stats().queued), { timeout: 10_000 });

    // SQS comes back (its queue recreated, same URL); the spool drains.
    await sqs.start();
    expect(await createQueue()).toBe(queueUrl);
    producing = false;
    await producer;
    await logger.flush();
    await vi.waitFor(() => expect(announced()).toBe(accepted.size), { timeout: 15_000 });
    consuming = false;
    await consumer;

    // Every accepted record is stored and readable through the queue messages, none lost.
    const read = new Set<string>();
    for (const message of messages.values()) for (const r of await readTrajectories(store, message)) read.add(r.id);
    expect(read.size).toBe(accepted.size);
    expect([...accepted].every((id) => read.has(id))).toBe(true);
    expect(stats()).toMatchObject({ accepted: accepted.size, stored: accepted.size, queued: accepted.size, backlog: 0, buffered: 0 });
    expect(stats().retries).toBeGreaterThan(0);
    expect(await store.list('trajectories/')).toHaveLength(messages.size);
    expect(deliveryErrors.length).toBeGreaterThan(0);
    // Requests were never held up by the outages: the spool absorbed them, the memory buffer never filled.
    expect(heldUp).toBe(0);
  });
});
