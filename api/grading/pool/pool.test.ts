import { afterEach, describe, expect, it } from 'vitest';
import { TIMEOUT_RESULT } from '../grader.ts';
import { grade } from '../index.ts';
import { GradingPool, GradingPoolClosedError } from './index.ts';

const pools: GradingPool[] = [];
const open = (options: ConstructorParameters<typeof GradingPool>[0] = {}) => {
  const pool = new GradingPool(options);
  pools.push(pool);
  return pool;
};
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.dispose()));
});

describe('GradingPool', () => {
  it('grades in worker threads exactly as grade() does, in both modes', async () => {
    const pool = open({ threads: 2 });
    const pairs: [string, { response?: string; answer?: string }, { mode?: 'cir-paper' }][] = [
      ['1024', { answer: '2^{10}' }, {}],
      ['\\frac{1}{2}', { response: 'So the answer is \\boxed{0.5}.' }, {}],
      ['12', { response: 'A first try gives \\boxed{4}.\nthere are 12 of them' }, { mode: 'cir-paper' }],
      ['7', { answer: '8' }, {}],
    ];
    const results = await Promise.all(pairs.map(([gold, pred, options]) => pool.grade(gold, pred, options)));
    expect(results).toEqual(pairs.map(([gold, pred, options]) => grade(gold, pred, options)));
    expect(results.map((r) => r.equal)).toEqual([true, true, true, false]);
    await expect(pool.grade('1', { answer: '1' }, { mode: 'loose' as never })).rejects.toThrow(/grading mode must be one of/);
  });

  it('answers timeout for a grading past its hard deadline, replaces the thread, and never blocks the caller', async () => {
    const pool = open({ threads: 1, graceMs: 200, entry: new URL('./hanging-worker.test-fixture.mjs', import.meta.url) });
    await pool.ready();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    try {
      const hung = pool.grade('hang', { answer: 'x' }, { timeoutMs: 50 });
      const queued = pool.grade('2', { answer: '2' }); // waits for the one thread, then for its replacement
      expect(await hung).toEqual(TIMEOUT_RESULT);
      expect(ticks).toBeGreaterThan(0); // the event loop ran while the thread was stuck
      expect((await queued).equal).toBe(true);
      expect(pool.stats()).toMatchObject({ threads: 1, stopped: 1 });
    } finally {
      clearInterval(ticker);
    }
  });

  it('refuses work after dispose, and rejects what was waiting', async () => {
    const pool = open({ threads: 1, entry: new URL('./hanging-worker.test-fixture.mjs', import.meta.url) });
    await pool.ready();
    void pool.grade('hang', { answer: 'x' }, { timeoutMs: 10_000 }).catch(() => undefined);
    const waiting = expect(pool.grade('1', { answer: '1' })).rejects.toBeInstanceOf(GradingPoolClosedError);
    await pool.dispose();
    await waiting;
    await expect(pool.grade('1', { answer: '1' })).rejects.toBeInstanceOf(GradingPoolClosedError);
  });
});
