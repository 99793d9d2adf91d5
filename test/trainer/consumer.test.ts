import { readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalQueue } from '../../core/queue/local.ts';
import { FsObjectStore } from '../../core/storage/fs.ts';
import { TrajectoryConsumer } from '../../trainer/consumer/consumer.ts';
import { LockHeldError, LockLostError, RunLock } from '../../trainer/run/lock.ts';
import { CrashingQueue, FailingStore, makeRecord, sendBatch, SimulatedCrash, tempDir } from './fixtures.ts';

let root: string;
let cleanup: () => Promise<void>;
let store: FsObjectStore;
let queue: LocalQueue;
const consumerDir = () => join(root, 'run', 'consumer');

beforeEach(async () => {
  ({ dir: root, cleanup } = await tempDir('consumer'));
  store = new FsObjectStore(join(root, 'objects'));
  queue = new LocalQueue(join(root, 'queue'));
});
afterEach(() => cleanup());

/** Leases of 0 s: a message not deleted comes back on the very next receive (as after a crash and timeout). */
const open = (overrides: Partial<Parameters<typeof TrajectoryConsumer.open>[0]> = {}) =>
  TrajectoryConsumer.open({ dir: consumerDir(), store, queue, visibilityTimeoutS: 0, ...overrides });

async function queueIsEmpty(): Promise<boolean> {
  return (await queue.receive({ max: 10, visibilityTimeoutS: 0 })).length === 0;
}

describe('TrajectoryConsumer', () => {
  it('accounts for every record and deletes each message once it is written down', async () => {
    const a = [makeRecord({ group_size: 2 }), makeRecord({ sample_index: 1, group_size: 2 })];
    const b = [makeRecord({ group_id: 'p2' }), makeRecord({ group_id: 'p2' }), makeRecord({ group_id: 'p2' })];
    await sendBatch(store, queue, a);
    await sendBatch(store, queue, b);
    const consumer = await open();
    const counts = await consumer.poll();
    expect(counts).toMatchObject({ messages: 2, accepted: 5, duplicates: 0, rejected: 0, deadLettered: 0 });
    expect(await queueIsEmpty()).toBe(true);
    const records = await consumer.records(consumer.pending());
    expect(records.map((r) => r.id)).toEqual([...a, ...b].map((r) => r.id));
  });

  it('returns quietly on an empty queue', async () => {
    const consumer = await open();
    const started = Date.now();
    expect(await consumer.poll({ waitS: 0.2 })).toMatchObject({ messages: 0, accepted: 0 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(consumer.pending()).toEqual([]);
  });

  it('survives a crash after writing the account but before the delete: the redelivery is recognised, nothing is counted twice', async () => {
    const records = [makeRecord(), makeRecord()];
    await sendBatch(store, queue, records);
    const crashing = new CrashingQueue(queue);
    crashing.crashOnDelete = true;
    const first = await open({ queue: crashing });
    await expect(first.poll()).rejects.toThrow(SimulatedCrash);

    // Restart: a fresh process opens the same run directory; the lease ran out, so the message is back.
    const second = await open();
    const counts = await second.poll();
    expect(counts).toMatchObject({ messages: 0, accepted: 0, redelivered: 1 });
    expect(await queueIsEmpty()).toBe(true);
    expect(second.totals()).toMatchObject({ messages: 1, accepted: 2, duplicates: 0 });
    expect((await second.records(second.pending())).map((r) => r.id)).toEqual(records.map((r) => r.id));
  });

  it('survives a crash before the account is written: the message stays queued and is consumed once on redelivery', async () => {
    const records = [makeRecord(), makeRecord()];
    await sendBatch(store, queue, records);
    const down = new FailingStore(store);
    down.failOn = 'get';
    down.failAfter = 0;
    const first = await open({ store: down });
    expect(await first.poll()).toMatchObject({ messages: 0, retrying: 1 });
    expect(first.pending()).toEqual([]);

    const second = await open();
    expect(await second.poll()).toMatchObject({ messages: 1, accepted: 2 });
    expect(second.totals().accepted).toBe(2);
  });

  it('dedupes a message sent twice and records that reappear in another message', async () => {
    const shared = makeRecord();
    const body = await sendBatch(store, queue, [shared, makeRecord()]);
    await queue.send(body); // the logger re-sent the same announcement
    await sendBatch(store, queue, [shared, makeRecord()]); // a different batch repeating one record
    const consumer = await open();
    const counts = await consumer.poll();
    expect(counts).toMatchObject({ messages: 2, accepted: 3, duplicates: 1, redelivered: 1 });
    const ids = (await consumer.records(consumer.pending())).map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('rejects malformed, foreign-schema and inconsistent records with reasons, and keeps the good ones', async () => {
    const good = makeRecord();
    const shortMask = makeRecord();
    shortMask.loss_mask = shortMask.loss_mask.slice(0, -2);
    const logs: string[] = [];
    await sendBatch(store, queue, [good, '{not json', JSON.stringify({ ...makeRecord(), schema_version: 99 }), JSON.stringify(shortMask)]);
    const consumer = await open({ log: (l) => logs.push(l) });
    const counts = await consumer.poll();
    expect(counts).toMatchObject({ messages: 1, accepted: 1, rejected: 3 });
    expect(await queueIsEmpty()).toBe(true);
    const [entry] = consumer.pending();
    expect(entry!.header.rejected.map((r) => [r.line, r.kind])).toEqual([
      [2, 'malformed_line'],
      [3, 'schema_version'],
      [4, 'invalid_record'],
    ]);
    expect(entry!.header.rejected[1]!.detail).toContain('unsupported trajectory schema_version 99');
    expect(entry!.header.rejected[2]!.detail).toContain('loss_mask has 10 entries, response_ids has 12');
    expect(logs.join('\n')).toContain('loss_mask has 10 entries');
    expect((await consumer.records(consumer.pending())).map((r) => r.id)).toEqual([good.id]);
  });

  it('sets aside undecodable and corrupt messages with their bodies, and retries a missing object before giving up', async () => {
    await queue.send('{"schema_version": 7, "objects": []}');
    await sendBatch(store, queue, [makeRecord()]);
    const [corruptKey] = await store.list('trajectories/');
    await store.put(corruptKey!, new TextEncoder().encode('not the bytes that were announced'));
    const consumer = await open({ maxReceives: 2 });
    expect(await consumer.poll()).toMatchObject({ messages: 2, deadLettered: 2, accepted: 0 });
    const reasons = consumer.pending().map((e) => e.header.dead_letter!.reason);
    expect(reasons[0]).toContain('unsupported queue message schema_version 7');
    expect(reasons[1]).toContain('checksum mismatch');
    expect(consumer.pending()[0]!.header.dead_letter!.body).toBe('{"schema_version": 7, "objects": []}');

    await sendBatch(store, queue, [makeRecord()]);
    const missing = (await store.list('trajectories/')).find((k) => k !== corruptKey)!;
    await store.delete(missing);
    expect(await consumer.poll()).toMatchObject({ messages: 0, retrying: 1 });
    expect(await consumer.poll()).toMatchObject({ messages: 1, deadLettered: 1 });
    expect(consumer.pending().at(-1)!.header.dead_letter!.reason).toMatch(/missing object.*after 2 deliveries/);
    expect(await queueIsEmpty()).toBe(true);
  });

  it('keeps what was trained on out of pending across restarts', async () => {
    await sendBatch(store, queue, [makeRecord()]);
    await sendBatch(store, queue, [makeRecord(), makeRecord()]);
    const consumer = await open();
    await consumer.poll({ max: 1 });
    await consumer.poll({ max: 1 });
    await consumer.inbox.markTrained(consumer.pending()[0]!.header.seq);
    const reopened = await open();
    expect(reopened.pending().map((e) => e.header.ids.length)).toEqual([2]);
    expect(reopened.totals().accepted).toBe(3);
    expect(await readdir(join(consumerDir(), 'consumed'))).toHaveLength(1);
  });
});

describe('RunLock', () => {
  it('lets one trainer in and tells the second who holds the run directory', async () => {
    const path = join(root, 'trainer.lock');
    const lock = await RunLock.acquire(path);
    const error = await RunLock.acquire(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockHeldError);
    expect((error as Error).message).toContain(`pid ${process.pid} on ${hostname()}`);
    await lock.assertHeld();
    await lock.release();
    const next = await RunLock.acquire(path);
    await next.release();
  });

  it('takes over the lock of a trainer that died, and the old holder notices it lost it', async () => {
    const path = join(root, 'trainer.lock');
    const dead = await RunLock.acquire(path);
    const lease = JSON.parse(await readFile(path, 'utf8'));
    // A pid that is not running on this host: the holder crashed without releasing.
    await writeFile(path, JSON.stringify({ ...lease, pid: 2 ** 22 + 12345 }));
    const next = await RunLock.acquire(path);
    await expect(dead.assertHeld()).rejects.toThrow(LockLostError);
    await next.assertHeld();
    await next.release();
    await dead.release();
  });

  it('takes over an expired lease from another host', async () => {
    const path = join(root, 'trainer.lock');
    await writeFile(path, JSON.stringify({ token: 't', pid: 1, host: 'elsewhere', acquired_at: 'x', expires_at_ms: Date.now() - 1 }));
    const lock = await RunLock.acquire(path);
    await lock.release();
    await writeFile(path, JSON.stringify({ token: 't', pid: 1, host: 'elsewhere', acquired_at: 'x', expires_at_ms: Date.now() + 60_000 }));
    await expect(RunLock.acquire(path)).rejects.toThrow(/pid 1 on elsewhere/);
  });
});
