import { appendFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FlakyMemoryQueue, FlakyMemoryStore, makeRecord } from '../../test/logging/fixtures.ts';
import { decodeQueueMessage } from '../schemas/queue-message.ts';
import { TrajectoryValidationError } from '../schemas/trajectory.ts';
import { FsObjectStore } from '../storage/fs.ts';
import { readTrajectories } from './read.ts';
import { LoggerClosedError, TrajectoryLogger, type TrajectoryLoggerOptions } from './trajectory-logger.ts';
import { FsWriteAheadLog } from './wal.ts';

describe('TrajectoryLogger', () => {
  let dir: string;
  let store: FlakyMemoryStore;
  let queue: FlakyMemoryQueue;
  let spool: FsObjectStore;
  const errors: string[] = [];
  const loggers: TrajectoryLogger[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cir-logger-'));
    store = new FlakyMemoryStore();
    queue = new FlakyMemoryQueue();
    spool = new FsObjectStore(join(dir, 'spool'));
    errors.length = 0;
  });
  afterEach(async () => {
    store.down = queue.down = false;
    await Promise.all(loggers.splice(0).map((l) => l.close({ timeoutMs: 1_000 })));
    await rm(dir, { recursive: true, force: true });
  });

  async function openLogger(options: Partial<TrajectoryLoggerOptions> = {}): Promise<TrajectoryLogger> {
    const logger = await TrajectoryLogger.open({
      store,
      queue,
      spool,
      batchMaxRecords: 100,
      batchMaxAgeMs: 60_000,
      retryBaseDelayMs: 5,
      retryMaxDelayMs: 20,
      onError: (_error, context) => errors.push(context),
      ...options,
    });
    loggers.push(logger);
    return logger;
  }

  /** Every record announced on the queue, read back through the trainer's reader. */
  async function readBack(): Promise<string[]> {
    const ids: string[] = [];
    for (const body of queue.sent) ids.push(...(await readTrajectories(store, decodeQueueMessage(body))).map((r) => r.id));
    return ids;
  }

  it('batches by record count: full batches go out on their own, flush() sends the rest', async () => {
    const logger = await openLogger({ batchMaxRecords: 3 });
    const records = Array.from({ length: 7 }, () => makeRecord());
    for (const r of records) await logger.accept(r);
    await vi.waitFor(() => expect(queue.sent).toHaveLength(2));
    await logger.flush();
    expect(queue.sent.map((b) => decodeQueueMessage(b).count)).toEqual([3, 3, 1]);
    expect(await readBack()).toEqual(records.map((r) => r.id));
    expect(logger.stats()).toMatchObject({ accepted: 7, stored: 7, queued: 7, spilled: 0, retries: 0, buffered: 0, backlog: 0 });
    const [key] = decodeQueueMessage(queue.sent[0]!).objects;
    expect(key).toMatch(/^trajectories\/\d{4}\/\d{2}\/\d{2}\/[0-9a-f-]{36}\.jsonl\.gz$/);
    expect(await spool.list('')).toEqual([]);
  });

  it("keeps a request's samples in one batch: seals before a group that would overflow it, never inside one", async () => {
    const logger = await openLogger({ batchMaxRecords: 4 });
    const group = (id: string, n: number) => Array.from({ length: n }, (_, i) => makeRecord({ group_id: id, group_size: n, sample_index: i }));
    const groups = [group('a', 3), group('b', 3), group('c', 6), group('d', 1)];
    for (const g of groups) await logger.accept(g);
    await logger.flush();
    const batches = [];
    for (const body of queue.sent) batches.push((await readTrajectories(store, decodeQueueMessage(body))).map((r) => r.group_id).join(''));
    // 'c' is larger than a batch: it gets one of its own rather than being split.
    expect(batches).toEqual(['aaa', 'bbb', 'cccccc', 'd']);
  });

  it('refuses a whole group when one of its records is invalid', async () => {
    const logger = await openLogger();
    const group = [makeRecord({ group_size: 2 }), makeRecord({ group_size: 2, sample_index: 1, loss_mask: [1] })];
    await expect(logger.accept(group)).rejects.toBeInstanceOf(TrajectoryValidationError);
    expect(logger.stats()).toMatchObject({ accepted: 0, rejected: 2 });
  });

  it('batches by age: a partial batch goes out batchMaxAgeMs after its first record', async () => {
    const logger = await openLogger({ batchMaxAgeMs: 100 });
    await logger.accept(makeRecord());
    await logger.accept(makeRecord());
    expect(queue.sent).toHaveLength(0);
    await vi.waitFor(() => expect(queue.sent).toHaveLength(1), { timeout: 2_000 });
    expect(decodeQueueMessage(queue.sent[0]!).count).toBe(2);
  });

  it('rejects an invalid record without taking it in', async () => {
    const logger = await openLogger();
    const bad = makeRecord({ loss_mask: [1] });
    await expect(logger.accept(bad)).rejects.toBeInstanceOf(TrajectoryValidationError);
    expect(logger.stats()).toMatchObject({ accepted: 0, rejected: 1 });
  });

  it('applies back-pressure when the memory buffer is full and lets callers in as it drains', async () => {
    // No spool: records stay in memory until delivered, and the store is down.
    const logger = await openLogger({ spool: undefined, batchMaxRecords: 2, maxBufferedRecords: 4 });
    store.down = true;
    for (let i = 0; i < 4; i++) await logger.accept(makeRecord());
    expect(logger.accepting).toBe(false);
    let admitted = false;
    const fifth = logger.accept(makeRecord()).then(() => (admitted = true));
    await vi.waitFor(() => expect(logger.stats().retries).toBeGreaterThan(2));
    expect(admitted).toBe(false);
    expect(logger.stats()).toMatchObject({ accepted: 4, buffered: 4 });
    store.down = false;
    await fifth;
    await logger.flush();
    expect(logger.stats()).toMatchObject({ accepted: 5, stored: 5, queued: 5, buffered: 0 });
    expect(logger.accepting).toBe(true);
  });

  it('spills to the spool while the remote is down (memory is freed, callers are not held up) and drains after', async () => {
    const logger = await openLogger({ batchMaxRecords: 2, maxBufferedRecords: 4 });
    store.down = true;
    const records = Array.from({ length: 10 }, () => makeRecord());
    for (const r of records) await logger.accept(r); // more than the buffer: the spool absorbs them
    await vi.waitFor(() => expect(logger.stats().spilled).toBeGreaterThan(0));
    await vi.waitFor(async () => expect(await spool.list('batches/')).toHaveLength(5));
    expect(queue.sent).toHaveLength(0);
    expect(errors.some((e) => e.includes('retrying'))).toBe(true);

    store.down = false;
    await logger.flush();
    expect(await readBack()).toEqual(records.map((r) => r.id));
    expect(await spool.list('')).toEqual([]);
    expect(logger.stats()).toMatchObject({ accepted: 10, stored: 10, queued: 10, buffered: 0, backlog: 0 });
  });

  it('close() seals and delivers the open batch; accept() after close is refused', async () => {
    const logger = await openLogger();
    const records = [makeRecord(), makeRecord(), makeRecord()];
    for (const r of records) await logger.accept(r);
    expect(await logger.close()).toEqual({ undeliveredBatches: 0 });
    expect(await readBack()).toEqual(records.map((r) => r.id));
    await expect(logger.accept(makeRecord())).rejects.toBeInstanceOf(LoggerClosedError);
  });

  it('a second logger on the same spool delivers what the first could not before it closed', async () => {
    const first = await openLogger({ batchMaxRecords: 2 });
    store.down = true;
    const records = Array.from({ length: 5 }, () => makeRecord());
    for (const r of records) await first.accept(r);
    expect(await first.close({ timeoutMs: 100 })).toEqual({ undeliveredBatches: 3 });
    expect(errors.at(-1)).toBe('they stay in the spool for the next start');
    store.down = false;

    const second = await openLogger();
    await second.flush();
    expect((await readBack()).sort()).toEqual(records.map((r) => r.id).sort());
    expect(second.stats()).toMatchObject({ accepted: 0, recovered: 5, stored: 5, queued: 5 });
    expect(await spool.list('')).toEqual([]);
  });

  it('keeps a batch that was stored but not announced, and announces it (once) after a restart', async () => {
    const first = await openLogger({ batchMaxRecords: 1 });
    queue.down = true;
    const record = makeRecord();
    await first.accept(record);
    await vi.waitFor(() => expect(first.stats().stored).toBe(1));
    await first.close({ timeoutMs: 50 });
    expect(await spool.list('batches/')).toHaveLength(1);
    queue.down = false;

    const second = await openLogger();
    await second.flush();
    expect(queue.sent).toHaveLength(1);
    expect(store.objects.size).toBe(1); // re-stored under the same key: idempotent
    expect(await readBack()).toEqual([record.id]);
  });

  it('with a write-ahead log, what was accepted before the process died (no close) is delivered by the next logger', async () => {
    const wal = new FsWriteAheadLog(join(dir, 'wal'));
    const first = await openLogger({ wal, batchMaxRecords: 100 });
    const records = [makeRecord(), makeRecord({ group_id: 'other' })];
    await first.accept(records[0]!);
    await first.accept(records[1]!);
    // The open batch exists only in memory and in the write-ahead segment; the "kill": no close().
    expect(queue.sent).toHaveLength(0);
    expect((await readdir(join(dir, 'wal'))).filter((n) => n.endsWith('.wal'))).toHaveLength(1);
    loggers.splice(loggers.indexOf(first), 1);
    // A write the kill cut short: half a line after the last newline is dropped.
    const [segment] = (await readdir(join(dir, 'wal'))).filter((n) => n.endsWith('.wal'));
    await appendFile(join(dir, 'wal', segment!), '{"schema_version":2,"id":"cut sh');

    const second = await openLogger({ wal: new FsWriteAheadLog(join(dir, 'wal')) });
    await second.flush();
    expect((await readBack()).sort()).toEqual(records.map((r) => r.id).sort());
    expect((await readdir(join(dir, 'wal'))).filter((n) => n.endsWith('.wal'))).toEqual([]);
  });

  it('removes a batch\'s write-ahead segment once the batch is in the spool', async () => {
    const logger = await openLogger({ wal: new FsWriteAheadLog(join(dir, 'wal')), batchMaxRecords: 2 });
    await logger.accept([makeRecord({ group_size: 2 }), makeRecord({ group_size: 2, sample_index: 1 })]);
    await logger.flush();
    expect((await readdir(join(dir, 'wal'))).filter((n) => n.endsWith('.wal'))).toEqual([]);
    expect(queue.sent).toHaveLength(1);
  });

  it('sets a damaged spool entry aside instead of letting it block the batches behind it', async () => {
    await spool.put('batches/000000000000001-broken.batch', new TextEncoder().encode('not a spool entry'));
    const logger = await openLogger();
    const record = makeRecord();
    await logger.accept(record);
    await logger.flush();
    expect(await readBack()).toEqual([record.id]);
    expect(await spool.list('')).toEqual(['quarantine/000000000000001-broken.batch']);
    expect(errors.some((e) => e.includes('quarantine/'))).toBe(true);
  });
});
