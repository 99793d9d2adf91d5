import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalQueue } from './local.ts';
import { LeaseLostError } from './queue.ts';

describe('LocalQueue', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'cir-local-queue-'));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('sends, receives in send order, and deletes', async () => {
    const queue = new LocalQueue(root);
    for (const body of ['one', 'two', 'three']) await queue.send(body);
    const got = await queue.receive({ max: 2, visibilityTimeoutS: 30 });
    expect(got.map((m) => m.body)).toEqual(['one', 'two']);
    expect(got.every((m) => m.receiveCount === 1)).toBe(true);
    for (const m of got) await queue.delete(m.receipt);
    const rest = await queue.receive({ max: 10, visibilityTimeoutS: 30 });
    expect(rest.map((m) => m.body)).toEqual(['three']);
    await queue.delete(rest[0]!.receipt);
    expect(await queue.receive({ max: 10, visibilityTimeoutS: 30 })).toEqual([]);
  });

  it('survives a new instance (another process) on the same directory', async () => {
    await new LocalQueue(root).send('durable');
    const [m] = await new LocalQueue(root).receive({ max: 1, visibilityTimeoutS: 30 });
    expect(m?.body).toBe('durable');
  });

  it('redelivers a message whose lease expired, and the stale receipt can no longer delete it', async () => {
    const queue = new LocalQueue(root);
    await queue.send('job');
    const [first] = await queue.receive({ max: 1, visibilityTimeoutS: 0.2 });
    expect(await queue.receive({ max: 1, visibilityTimeoutS: 30 })).toEqual([]); // invisible while leased
    await sleep(250);
    const [second] = await queue.receive({ max: 1, visibilityTimeoutS: 30 });
    expect(second).toMatchObject({ id: first!.id, body: 'job', receiveCount: 2 });
    await queue.delete(first!.receipt); // the lease moved on: no effect
    await expect(queue.extendVisibility(first!.receipt, 30)).rejects.toBeInstanceOf(LeaseLostError);
    await queue.delete(second!.receipt);
    await sleep(50);
    expect(await queue.receive({ max: 1, visibilityTimeoutS: 30 })).toEqual([]);
  });

  it('extends a lease so that work outlasting it is not redelivered', async () => {
    const queue = new LocalQueue(root);
    await queue.send('slow job');
    const [m] = await queue.receive({ max: 1, visibilityTimeoutS: 0.2 });
    await queue.extendVisibility(m!.receipt, 30);
    await sleep(250);
    expect(await queue.receive({ max: 1, visibilityTimeoutS: 30 })).toEqual([]);
    await queue.delete(m!.receipt);
  });

  it('never hands one message to two consumers within its lease', async () => {
    const producer = new LocalQueue(root);
    const total = 60;
    for (let i = 0; i < total; i++) await producer.send(`m${i}`);
    const consumers = Array.from({ length: 4 }, () => new LocalQueue(root));
    const seen: string[] = [];
    await Promise.all(
      consumers.map(async (consumer) => {
        for (;;) {
          const batch = await consumer.receive({ max: 3, visibilityTimeoutS: 30 });
          if (batch.length === 0) return;
          seen.push(...batch.map((m) => m.body));
        }
      }),
    );
    expect(seen).toHaveLength(total);
    expect(new Set(seen).size).toBe(total);
  });

  it('long-polls: a receive waiting for up to waitS returns the message sent meanwhile', async () => {
    const queue = new LocalQueue(root);
    const receiving = queue.receive({ max: 1, visibilityTimeoutS: 30, waitS: 2 });
    await sleep(100);
    await queue.send('late');
    expect((await receiving).map((m) => m.body)).toEqual(['late']);
  });
});
