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
    const limiter = new Limiter({ concurrency: 2, queueLimit: 10 });
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
    const limiter = new Limiter({ concurrency: 1, queueLimit: 1 });
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
    const limiter = new Limiter({ concurrency: 1, queueLimit: 5 });
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

  it("caps one caller's running tasks at its share, so another caller starts at once", async () => {
    const limiter = new Limiter({ concurrency: 2, queueLimit: 10, callerConcurrency: 1, callerQueueLimit: 10 });
    const started: string[] = [];
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const task = (name: string, caller: string) => {
      const gate = deferred();
      gates.set(name, gate);
      return limiter.run(async () => { started.push(name); await gate.promise; }, undefined, caller);
    };
    // A greedy caller queues three long tasks first; it gets one slot, not both.
    const greedy = ['a1', 'a2', 'a3'].map((name) => task(name, 'a'));
    await tick();
    expect(started).toEqual(['a1']);
    const other = task('b1', 'b');
    await tick();
    expect(started).toEqual(['a1', 'b1']);
    gates.get('a1')!.resolve();
    await tick();
    expect(started).toEqual(['a1', 'b1', 'a2']);
    for (const gate of gates.values()) gate.resolve();
    await Promise.all(greedy);
    for (const gate of gates.values()) gate.resolve();
    await Promise.all([...greedy, other]);
    expect(limiter.active).toBe(0);
    expect(limiter.queued).toBe(0);
  });

  it('hands freed slots to waiting callers in turn, not in arrival order', async () => {
    const limiter = new Limiter({ concurrency: 1, queueLimit: 20 });
    const order: string[] = [];
    const gate = deferred();
    const first = limiter.run(() => gate.promise, undefined, 'x');
    // Caller a queues four tasks, then b and c one each: they must not wait behind all of a's.
    const runs = ['a1', 'a2', 'a3', 'a4', 'b1', 'c1'].map((name) => limiter.run(async () => { order.push(name); }, undefined, name[0]));
    gate.resolve();
    await Promise.all([first, ...runs]);
    expect(order).toEqual(['a1', 'b1', 'c1', 'a2', 'a3', 'a4']);
  });

  it("refuses a caller past its queue share with 429 and Retry-After, while others still queue", async () => {
    const limiter = new Limiter({ concurrency: 1, queueLimit: 10, callerConcurrency: 1, callerQueueLimit: 2 });
    const gate = deferred();
    const runs = [limiter.run(() => gate.promise, undefined, 'a'), limiter.run(async () => {}, undefined, 'a'), limiter.run(async () => {}, undefined, 'a')];
    const refused = await limiter.run(async () => {}, undefined, 'a').catch((e) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ status: 429, type: 'rate_limited', headers: { 'Retry-After': '1' } });
    expect((refused as ApiError).message).toMatch(/1 running and 2 waiting/);
    runs.push(limiter.run(async () => {}, undefined, 'b'));
    expect(limiter.queued).toBe(3);
    gate.resolve();
    await Promise.all(runs);
  });
});
