import { describe, expect, it } from 'vitest';
import { FlakyMemoryStore, makeRecord } from '../../test/logging/fixtures.ts';
import { gzip, sha256Hex } from '../bytes.ts';
import type { QueueMessage } from '../schemas/queue-message.ts';
import { encodeBatch } from './batch.ts';
import { readTrajectories, TrajectoryReadError } from './read.ts';

/** Stores `lines` as one batch object and returns the message announcing it. */
async function stored(store: FlakyMemoryStore, lines: string[]): Promise<QueueMessage> {
  const batch = await encodeBatch(lines, 'trajectories', new Date('2025-01-31T00:00:00Z'));
  await store.put(batch.key, batch.bytes);
  return { schema_version: 1, objects: [batch.key], count: batch.count, checksum: batch.checksum };
}

async function readError(promise: Promise<unknown>): Promise<TrajectoryReadError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(TrajectoryReadError);
  return error as TrajectoryReadError;
}

describe('readTrajectories', () => {
  it('reads back the records of a message, across several objects, in order', async () => {
    const store = new FlakyMemoryStore();
    const records = [makeRecord(), makeRecord(), makeRecord()];
    const a = await stored(store, records.slice(0, 2).map((r) => JSON.stringify(r)));
    const b = await stored(store, [JSON.stringify(records[2])]);
    const both = new Uint8Array([...store.objects.get(a.objects[0]!)!, ...store.objects.get(b.objects[0]!)!]);
    const message: QueueMessage = { schema_version: 1, objects: [...a.objects, ...b.objects], count: 3, checksum: await sha256Hex(both) };
    expect(await readTrajectories(store, message)).toEqual(records);
  });

  it('names the object and line of a malformed line or a foreign schema_version', async () => {
    const store = new FlakyMemoryStore();
    const message = await stored(store, [JSON.stringify(makeRecord()), '{"truncated', JSON.stringify({ ...makeRecord(), schema_version: 9 })]);
    const key = message.objects[0]!;

    const first = await readError(readTrajectories(store, message));
    expect(first).toMatchObject({ kind: 'malformed_line', object: key, line: 2 });
    expect(first.message).toMatch(new RegExp(`^${key}:2: malformed line: `));

    const skipped: TrajectoryReadError[] = [];
    const records = await readTrajectories(store, message, { onInvalidLine: (e) => skipped.push(e) });
    expect(records).toHaveLength(1);
    expect(skipped.map((e) => [e.kind, e.line])).toEqual([['malformed_line', 2], ['schema_version', 3]]);
    expect(skipped[1]!.message).toContain('unsupported trajectory schema_version 9 (this build reads 1 and 2)');
  });

  it('reports a record that breaks an invariant as invalid_record', async () => {
    const store = new FlakyMemoryStore();
    const message = await stored(store, [JSON.stringify(makeRecord({ loss_mask: [] }))]);
    expect(await readError(readTrajectories(store, message))).toMatchObject({ kind: 'invalid_record', line: 1 });
  });

  it('refuses a whole message whose object is missing, damaged or not gzip, or whose count is off', async () => {
    const store = new FlakyMemoryStore();
    const message = await stored(store, [JSON.stringify(makeRecord())]);
    const key = message.objects[0]!;

    expect(await readError(readTrajectories(store, { ...message, count: 2 }))).toMatchObject({ kind: 'count_mismatch' });
    expect(await readError(readTrajectories(store, { ...message, objects: ['trajectories/gone.jsonl.gz'] }))).toMatchObject({
      kind: 'missing_object',
      object: 'trajectories/gone.jsonl.gz',
    });

    const bytes = store.objects.get(key)!;
    bytes[bytes.length - 5]! ^= 0xff;
    expect(await readError(readTrajectories(store, message))).toMatchObject({ kind: 'checksum_mismatch', line: null });

    const notGzip = new TextEncoder().encode('plain text');
    store.objects.set(key, notGzip);
    expect(await readError(readTrajectories(store, { ...message, checksum: await sha256Hex(notGzip) }))).toMatchObject({ kind: 'corrupt_gzip' });
  });

  it('reads an empty batch as no records', async () => {
    const store = new FlakyMemoryStore();
    const bytes = await gzip(new Uint8Array());
    await store.put('trajectories/empty.jsonl.gz', bytes);
    const message: QueueMessage = { schema_version: 1, objects: ['trajectories/empty.jsonl.gz'], count: 0, checksum: await sha256Hex(bytes) };
    expect(await readTrajectories(store, message)).toEqual([]);
  });
});
