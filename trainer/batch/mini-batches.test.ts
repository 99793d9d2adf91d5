import { describe, expect, it } from 'vitest';
import { miniBatches } from './mini-batches.ts';
import type { TrainBatch, TrainSample } from './types.ts';

const sample = (id: string, groupId: string) => ({ id, groupId }) as TrainSample;
const batchOf = (samples: TrainSample[]) => ({ samples, stats: {} }) as TrainBatch;

describe('miniBatches', () => {
  it('cuts whole groups, in the order of their first sample', () => {
    const batch = batchOf([sample('a0', 'a'), sample('b0', 'b'), sample('a1', 'a'), sample('c0', 'c'), sample('b1', 'b')]);
    expect(miniBatches(batch, 2).map((p) => p.samples.map((s) => s.id))).toEqual([['a0', 'a1', 'b0', 'b1'], ['c0']]);
    expect(miniBatches(batch, 5).map((p) => p.samples.length)).toEqual([5]);
  });

  it('is the whole batch without a mini-batch size, and refuses a bad one', () => {
    const batch = batchOf([sample('a0', 'a')]);
    expect(miniBatches(batch)).toEqual([batch]);
    expect(() => miniBatches(batch, 0)).toThrow(/integer ≥ 1/);
  });
});
