import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors.ts';
import { Limiter } from './limiter.ts';

const tick = () => new Promise((r) => setTimeout(r, 0));

/** Promise.withResolvers arrived in Node 22; we run on 20. */
function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('Limiter', () => {
  it('runs at most `concurrency` tasks and queues the rest in order', async () => {
    const limiter = new Limiter(2, 10);
    const order: number[] = [];
    const gates = Array.from({ length: 4 }, deferred);
    const runs = gates.map((g, i) => limiter.run(async () => { order.push(i); await g.promise; }));
    await tick();
    expect(order).toEqual([0, 1]);
    expect(limiter.queued).toBe(2);
    gates[1]!.resolve();
    await tick();
    expect(order).toEqual([0, 1, 2]);
    gates.forEach((g) => g.resolve());
    await Promise.all(runs);
    expect(order).toEqual([0, 1, 2, 3]);
    expect(limiter.active).toBe(0);
  });

  it('refuses beyond the queue limit with a 503 carrying Retry-After', async () => {
    const limiter = new Limiter(1, 1);
    const gate = deferred();
    const a = limiter.run(() => gate.promise);
    const b = limiter.run(async () => {});
    const refused = await limiter.run(async () => {}).catch((e) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).status).toBe(503);
    expect((refused as ApiError).headers['Retry-After']).toBe('1');
    gate.resolve();
    await Promise.all([a, b]);
  });

  it('drops a queued task whose signal aborts, and frees its slot on failure', async () => {
    const limiter = new Limiter(1, 5);
    const gate = deferred();
    const a = limiter.run(() => gate.promise);
    const controller = new AbortController();
    const b = limiter.run(async () => 'ran', controller.signal);
    controller.abort(new Error('client went away'));
    await expect(b).rejects.toThrow('client went away');
    expect(limiter.queued).toBe(0);
    gate.resolve();
    await a;
    await expect(limiter.run(async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(limiter.active).toBe(0);
  });
});
