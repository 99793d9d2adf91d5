import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeBatch } from '../../core/logging/batch.ts';
import type { QueueConsumer, QueueProducer, ReceivedMessage, ReceiveOptions } from '../../core/queue/queue.ts';
import { encodeQueueMessage, QUEUE_MESSAGE_SCHEMA_VERSION } from '../../core/schemas/queue-message.ts';
import type { TrajectoryRecord } from '../../core/schemas/trajectory.ts';
import type { ObjectStore, PutOptions } from '../../core/storage/object-store.ts';

export { makeRecord } from '../logging/fixtures.ts';

/** Stores records (or raw lines) as one logger-style batch and announces it, as the API's logger does. */
export async function sendBatch(
  store: ObjectStore,
  queue: QueueProducer,
  items: readonly (TrajectoryRecord | string)[],
): Promise<string> {
  const lines = items.map((item) => (typeof item === 'string' ? item : JSON.stringify(item)));
  const batch = await encodeBatch(lines, 'trajectories', new Date());
  await store.put(batch.key, batch.bytes, { sha256: batch.checksum });
  const body = encodeQueueMessage({ schema_version: QUEUE_MESSAGE_SCHEMA_VERSION, objects: [batch.key], count: batch.count, checksum: batch.checksum });
  await queue.send(body);
  return body;
}

/** A fresh temp directory, removed by the returned cleanup. */
export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `cir-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** The process "dies" here: a fault injected at one point of the consumer or publisher. */
export class SimulatedCrash extends Error {
  constructor(where: string) {
    super(`simulated crash at ${where}`);
    this.name = 'SimulatedCrash';
  }
}

/** A queue consumer whose delete() crashes while `crashOnDelete` is set (the account written, the ack lost). */
export class CrashingQueue implements QueueConsumer {
  crashOnDelete = false;
  constructor(private readonly inner: QueueConsumer) {}
  receive(options: ReceiveOptions): Promise<ReceivedMessage[]> {
    return this.inner.receive(options);
  }
  async delete(receipt: string): Promise<void> {
    if (this.crashOnDelete) throw new SimulatedCrash('queue delete');
    await this.inner.delete(receipt);
  }
}

/** A store wrapper that fails the n-th call of `failOn` onwards (storage down mid-operation). */
export class FailingStore implements ObjectStore {
  calls = 0;
  failAfter = Infinity;
  failOn: 'put' | 'get' = 'put';
  constructor(readonly inner: ObjectStore) {}
  private check(op: 'put' | 'get'): void {
    if (op !== this.failOn) return;
    if (this.calls++ >= this.failAfter) throw new Error(`store unavailable (simulated outage during ${op})`);
  }
  async put(key: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    this.check('put');
    await this.inner.put(key, bytes, options);
  }
  async get(key: string): Promise<Uint8Array | null> {
    this.check('get');
    return this.inner.get(key);
  }
  list(prefix: string): Promise<string[]> {
    return this.inner.list(prefix);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
}
