import { describe, expect, it } from 'vitest';
import type { TrainBatch } from '../batch/types.ts';
import { decodeSafetensors, encodeSafetensors } from './safetensors.ts';
import { encodeRlBatch } from './torch/engine.ts';

describe('safetensors', () => {
  it('round-trips tensors and metadata with 8-byte aligned data', () => {
    const bytes = encodeSafetensors({ w: { data: Float32Array.from([1.5, -2, 3, 4, 5, 6]), shape: [2, 3] }, ids: { data: Int32Array.from([7, 8]), shape: [2] }, m: { data: Uint8Array.from([1, 0, 1]), shape: [3] } }, { kind: 'x' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ kind: 'x' });
    expect(tensors.w).toEqual({ data: Float32Array.from([1.5, -2, 3, 4, 5, 6]), shape: [2, 3] });
    expect(tensors.ids!.data).toEqual(Int32Array.from([7, 8]));
    expect(tensors.m!.data).toEqual(Uint8Array.from([1, 0, 1]));
  });

  it('refuses a shape that does not fit and a file that is not safetensors', () => {
    expect(() => encodeSafetensors({ w: { data: new Float32Array(3), shape: [2, 2] } })).toThrow(/3 values for shape \[2, 2\]/);
    expect(() => decodeSafetensors(Uint8Array.from([255, 0, 0, 0, 0, 0, 0, 0, 1]))).toThrow(/not a safetensors file/);
  });
});

describe('torch engine batch file', () => {
  it('aligns per-token arrays with the packed input ids and carries the aggregation weights', () => {
    const batch: TrainBatch = {
      samples: [
        { id: 'a', groupId: 'g', inputIds: Int32Array.from([1, 2, 3, 4]), promptLength: 2, lossMask: Uint8Array.from([1, 0]), oldLogprobs: Float32Array.from([-1, 0]), advantages: Float32Array.from([0.5, 0]), reward: 1, temperature: 0.7 },
        { id: 'b', groupId: 'g', inputIds: Int32Array.from([5, 6, 7]), promptLength: 1, lossMask: Uint8Array.from([1, 1]), oldLogprobs: Float32Array.from([-2, -3]), advantages: Float32Array.from([-0.5, -0.5]), reward: -1, temperature: 1 },
      ],
      stats: { records: 2, duplicates: 0, partial: 0, unscored: 0, groups: 1, keptGroups: 1, samples: 2, meanReward: 0, accuracy: 0.5, toolCallsPerSample: 0, toolCallRate: 0, meanResponseLength: 2, lossTokens: 3, voidTurnsFiltered: 0 },
    };
    const { tensors, metadata } = decodeSafetensors(encodeRlBatch(batch));
    expect(metadata).toEqual({ format: 'cir-train-batch', version: '1', kind: 'rl', aggregation: 'token-mean' });
    const get = (name: string) => Array.from(tensors[name]!.data);
    expect(get('input_ids')).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(get('offsets')).toEqual([0, 4, 7]);
    expect(get('loss_mask')).toEqual([0, 0, 1, 0, 0, 1, 1]);
    expect(get('weights')).toEqual([0, 0, 1 / 3, 0, 0, 1 / 3, 1 / 3].map(Math.fround));
    expect(get('old_logprobs')).toEqual([0, 0, -1, 0, 0, -2, -3]);
    expect(get('advantages')).toEqual([0, 0, 0.5, 0, 0, -0.5, -0.5]);
    expect(get('temperature')).toEqual([0.7, 1].map(Math.fround));
  });
});
