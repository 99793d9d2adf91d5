/**
 * What the torch engine's tests share: synthetic RL batches whose behaviour logprobs sit around the
 * policy's own (so every branch of the clipped objective is taken), and checkpoint weights to compare.
 */
import { Rng } from '../../api/models/generation/rng.ts';
import { CheckpointWeights } from '../../core/hf/checkpoint-weights.ts';
import type { BatchStats, TrainBatch, TrainSample } from '../../trainer/batch/types.ts';
import type { Engine } from '../../trainer/engines/types.ts';

/** Start-up of a worker (and, on a first run, the venv and the fixtures) can take minutes. */
export const TORCH_HOOK_TIMEOUT = 600_000;
export const TORCH_TEST_TIMEOUT = 300_000;

export interface SequenceSpec {
  prompt: number;
  response: number;
  temperature: number;
}

/** Four sequences of different lengths and temperatures, the kind a rollout yields. */
export const MIXED_SEQUENCES: SequenceSpec[] = [
  { prompt: 5, response: 19, temperature: 1 },
  { prompt: 3, response: 9, temperature: 0.7 },
  { prompt: 8, response: 26, temperature: 1 },
  { prompt: 4, response: 14, temperature: 0.9 },
];

const STATS: BatchStats = {
  records: 0, duplicates: 0, partial: 0, unscored: 0, groups: 1, keptGroups: 1, samples: 0, meanReward: 0,
  accuracy: 0, toolCallsPerSample: 1, toolCallRate: 1, meanResponseLength: 0, lossTokens: 0, voidTurnsFiltered: 0,
};

/**
 * An RL batch of random token ids: each response has a 3-token tool-output span (loss mask 0) in its
 * middle, a random non-zero advantage per sequence, and old logprobs = the engine's current logprobs
 * plus noise: mostly within ±0.3 (inside or at the clip range), one token in eight shifted by 1.5 so
 * ratios reach past clip_ratio_c (dual clip for negative advantages). Reference logprobs too, for the KL term.
 */
export async function syntheticBatch(engine: Engine, seed: number, specs: readonly SequenceSpec[] = MIXED_SEQUENCES): Promise<TrainBatch> {
  const rng = new Rng(seed);
  const vocab = Math.min(engine.config.vocabSize, 151_000);
  const sequences = specs.map((s) => Int32Array.from({ length: s.prompt + s.response }, () => rng.nextInt(vocab)));
  const current = await engine.logprobs(sequences.map((ids, i) => ({ ids, from: specs[i]!.prompt, temperature: specs[i]!.temperature })));
  const samples = specs.map((s, i): TrainSample => {
    const lossMask = new Uint8Array(s.response).fill(1);
    const tool = Math.floor(s.response / 2);
    lossMask.fill(0, tool, tool + 3);
    const advantage = (rng.nextFloat() < 0.5 ? -1 : 1) * (0.5 + rng.nextFloat());
    const oldLogprobs = new Float32Array(s.response);
    const refLogprobs = new Float32Array(s.response);
    for (let t = 0; t < s.response; t++) {
      if (!lossMask[t]) continue;
      const shift = rng.nextFloat() < 0.125 ? 1.5 : (rng.nextFloat() - 0.5) * 0.6;
      oldLogprobs[t] = current[i]![t]! - shift;
      refLogprobs[t] = current[i]![t]! + (rng.nextFloat() - 0.5) * 0.4;
    }
    return {
      id: `s${i}`, groupId: 'g', inputIds: sequences[i]!, promptLength: s.prompt, lossMask, oldLogprobs,
      advantages: Float32Array.from(lossMask, (m) => m * advantage), refLogprobs, reward: advantage, temperature: s.temperature,
    };
  });
  return { samples, stats: { ...STATS, samples: samples.length } };
}

/** Every tensor of a Hugging Face checkpoint directory, as float32. */
export async function readCheckpoint(dir: string): Promise<{ dtypes: Set<string>; tensors: Map<string, Float32Array> }> {
  const weights = await CheckpointWeights.open(dir);
  try {
    const tensors = new Map<string, Float32Array>();
    for (const name of weights.tensors.keys()) tensors.set(name, await weights.read(name));
    return { dtypes: new Set([...weights.tensors.values()].map((t) => t.dtype)), tensors };
  } finally {
    await weights.close();
  }
}

/**
 * Tensors whose gradient is zero in exact arithmetic: softmax ignores a shift shared by all keys, so the
 * k_proj bias only receives rounding noise, which Adam (g / (|g| + eps)) turns into a move of its own
 * that no two summation orders share. Weight comparisons leave them out.
 */
const NOISE_ONLY = /\.k_proj\.bias$/;

/** Largest |a - b| over the tensors of two checkpoints (less NOISE_ONLY); throws if their tensor names differ. */
export function maxWeightDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  const names = [...a.keys()].sort();
  if (names.join() !== [...b.keys()].sort().join()) throw new Error(`different tensors: ${names.join()} vs ${[...b.keys()].sort().join()}`);
  let max = 0;
  for (const name of names.filter((n) => !NOISE_ONLY.test(n))) max = Math.max(max, maxDiff(a.get(name)!, b.get(name)!));
  return max;
}

export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
