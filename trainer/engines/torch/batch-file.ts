/**
 * The batch files the torch worker reads (`cir-train-batch`, version 1; README.md "Batch file format"):
 * sequences packed end to end, every per-token array aligned with `input_ids`.
 */
import { aggregationWeights } from '../../algorithms/policy-loss.ts';
import { DEFAULT_POLICY_LOSS, type PolicyLossConfig } from '../../algorithms/types.ts';
import type { TrainBatch } from '../../batch/types.ts';
import { encodeSafetensors } from '../safetensors.ts';

/** Per-token arrays aligned with the packed input_ids: index t refers to token t (predicted from t-1). */
function packTokens(sequences: readonly (Int32Array | readonly number[])[]): { inputIds: Int32Array; offsets: Int32Array } {
  const offsets = new Int32Array(sequences.length + 1);
  sequences.forEach((s, i) => (offsets[i + 1] = offsets[i]! + s.length));
  const inputIds = new Int32Array(offsets[sequences.length]!);
  sequences.forEach((s, i) => inputIds.set(s, offsets[i]!));
  return { inputIds, offsets };
}

const BATCH_META = { format: 'cir-train-batch', version: '1' };

/** The RL batch file: the aggregation is baked into `weights`, so the worker (or its ranks) just sums. */
export function encodeRlBatch(
  batch: TrainBatch,
  { lossAggregation, lossNormTokens }: Pick<PolicyLossConfig, 'lossAggregation' | 'lossNormTokens'> = DEFAULT_POLICY_LOSS,
): Uint8Array {
  const { inputIds, offsets } = packTokens(batch.samples.map((s) => s.inputIds));
  const total = inputIds.length;
  const lossMask = new Uint8Array(total);
  const weights = new Float32Array(total);
  const old = new Float32Array(total);
  const adv = new Float32Array(total);
  const ref = new Float32Array(total);
  const w = aggregationWeights(batch.samples.map((s) => s.lossMask), lossAggregation, lossNormTokens);
  batch.samples.forEach((s, i) => {
    if (s.inputIds.length !== s.promptLength + s.lossMask.length) throw new RangeError(`batch sample ${i} (${s.id}): inputIds has ${s.inputIds.length} tokens, promptLength + lossMask.length is ${s.promptLength + s.lossMask.length}`);
    if (s.promptLength < 1) throw new RangeError(`batch sample ${i} (${s.id}): promptLength must be at least 1`);
    const at = offsets[i]! + s.promptLength;
    lossMask.set(s.lossMask, at);
    weights.set(w[i]!, at);
    old.set(s.oldLogprobs, at);
    adv.set(s.advantages, at);
    if (s.refLogprobs) ref.set(s.refLogprobs, at);
  });
  const n = batch.samples.length;
  return encodeSafetensors(
    {
      input_ids: { data: inputIds, shape: [total] },
      offsets: { data: offsets, shape: [n + 1] },
      prompt_lengths: { data: Int32Array.from(batch.samples, (s) => s.promptLength), shape: [n] },
      temperature: { data: Float32Array.from(batch.samples, (s) => s.temperature), shape: [n] },
      loss_mask: { data: lossMask, shape: [total] },
      weights: { data: weights, shape: [total] },
      old_logprobs: { data: old, shape: [total] },
      advantages: { data: adv, shape: [total] },
      ref_logprobs: { data: ref, shape: [total] },
    },
    { ...BATCH_META, kind: 'rl', aggregation: lossAggregation },
  );
}

/** An `sft` or `logprobs` batch: tokens, per-sequence temperature and (for sft) the loss mask. */
export function encodeTokenBatch(kind: 'sft' | 'logprobs', sequences: readonly (Int32Array | readonly number[])[], lossMask: Uint8Array, temperature: Float32Array): Uint8Array {
  const { inputIds, offsets } = packTokens(sequences);
  return encodeSafetensors(
    {
      input_ids: { data: inputIds, shape: [inputIds.length] },
      offsets: { data: offsets, shape: [offsets.length] },
      temperature: { data: temperature, shape: [temperature.length] },
      loss_mask: { data: lossMask, shape: [lossMask.length] },
    },
    { ...BATCH_META, kind },
  );
}
