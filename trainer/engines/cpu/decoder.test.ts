import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecoderConfig } from '../../../core/onnx/decoder.ts';
import { Rng } from '../../../api/models/generation/rng.ts';
import { DecoderModel, type PackedBatch } from './decoder.ts';
import { AttentionKernel } from './attention.ts';
import { Gemm } from './gemm.ts';
import { SwigluKernel } from './swiglu.ts';
import { ParamLayout } from './params.ts';

const base = { vocabSize: 23, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2, maxPositionEmbeddings: 32, ropeTheta: 10000, rmsNormEps: 1e-6, bosTokenId: null, eosTokenId: 1 } as const;
const CONFIGS: Record<string, DecoderConfig> = {
  'qwen2: GQA, q/k/v bias, tied head': { ...base, modelType: 'qwen2', numAttentionHeads: 4, numKeyValueHeads: 2, tieWordEmbeddings: true, attentionBias: true },
  'llama: MHA, untied head': { ...base, modelType: 'llama', numAttentionHeads: 2, numKeyValueHeads: 2, tieWordEmbeddings: false, attentionBias: false },
};

/** Two packed sequences, every position after the first scored, at temperature 0.7. */
function batch(): PackedBatch {
  const ids = [3, 7, 1, 9, 22, 4, 0, 5, 5, 12, 8, 2, 19];
  const starts = [0, 7, ids.length];
  const rows: number[] = [];
  for (let s = 0; s < 2; s++) for (let t = starts[s]!; t < starts[s + 1]! - 1; t++) rows.push(t);
  return {
    ids: Int32Array.from(ids),
    starts: Int32Array.from(starts),
    rows: Int32Array.from(rows),
    targets: Int32Array.from(rows, (t) => ids[t + 1]!),
    invTemperature: new Float32Array(rows.length).fill(1 / 0.7),
  };
}

describe('DecoderModel backward', () => {
  let gemm: Gemm;
  let attention: AttentionKernel;
  beforeAll(async () => {
    gemm = await Gemm.create(1);
    attention = await AttentionKernel.create(1);
  });
  const swiglus: SwigluKernel[] = [];
  const swigluFor = async (ff: number) => {
    const kernel = await SwigluKernel.create(ff, 1);
    swiglus.push(kernel);
    return kernel;
  };
  afterAll(async () => {
    await gemm.release();
    await attention.release();
    await Promise.all(swiglus.map((k) => k.release()));
  });

  for (const [name, config] of Object.entries(CONFIGS)) {
    it(`matches finite differences tensor by tensor: ${name}`, async () => {
      const layout = new ParamLayout(config);
      const params = layout.random(5, 0.3);
      const model = new DecoderModel(layout, gemm, attention, await swigluFor(config.intermediateSize));
      const b = batch();
      const rng = new Rng(9);
      // Objective: Σ a_r logp_r + c_r entropy_r with random coefficients, so both paths are exercised.
      const a = Float32Array.from(b.rows, () => rng.nextNormal());
      const c = Float32Array.from(b.rows, () => rng.nextNormal() * 0.5);
      const objective = async (p: Float32Array) => {
        await gemm.weightsChanged();
        const out = await model.forward(p, b, false);
        let sum = 0;
        for (let r = 0; r < a.length; r++) sum += a[r]! * out.logprobs[r]! + c[r]! * out.entropies[r]!;
        return sum;
      };
      await gemm.weightsChanged();
      const out = await model.forward(params, b, true);
      const grads = new Float32Array(layout.size);
      await model.backward(params, grads, out.cache, a, c);

      // Directional derivative along a random direction restricted to each tensor.
      const h = 1e-3;
      for (const entry of layout.entries) {
        const direction = new Float32Array(layout.size);
        for (let i = entry.offset; i < entry.offset + entry.size; i++) direction[i] = rng.nextNormal();
        let analytic = 0;
        for (let i = entry.offset; i < entry.offset + entry.size; i++) analytic += grads[i]! * direction[i]!;
        const plus = Float32Array.from(params, (v, i) => v + h * direction[i]!);
        const minus = Float32Array.from(params, (v, i) => v - h * direction[i]!);
        const numeric = ((await objective(plus)) - (await objective(minus))) / (2 * h);
        expect(Math.abs(analytic - numeric), `${entry.name}: analytic ${analytic} vs numeric ${numeric}`).toBeLessThan(5e-3 + 2e-2 * Math.abs(numeric));
      }
    });
  }

  it('gives rows with zero gradient weight no influence on the gradient', async () => {
    // Untied head: with a tied one every embedding row gets gradient through the output softmax.
    const config = CONFIGS['llama: MHA, untied head']!;
    const layout = new ParamLayout(config);
    const params = layout.random(2, 0.3);
    const model = new DecoderModel(layout, gemm, attention, await swigluFor(config.intermediateSize));
    const full = batch();
    // Only the rows of the second sequence are in the loss.
    const inLoss = Float32Array.from(full.rows, (t) => (t >= 7 ? 1 : 0));
    const g1 = new Float32Array(layout.size);
    const out = await model.forward(params, full, true);
    await model.backward(params, g1, out.cache, inLoss, new Float32Array(inLoss.length));
    // The same gradient when the zero-weight rows are not scored at all.
    const keep = Array.from(full.rows.keys()).filter((r) => inLoss[r] === 1);
    const reduced: PackedBatch = { ...full, rows: Int32Array.from(keep, (r) => full.rows[r]!), targets: Int32Array.from(keep, (r) => full.targets[r]!), invTemperature: Float32Array.from(keep, () => 1 / 0.7) };
    const g2 = new Float32Array(layout.size);
    const out2 = await model.forward(params, reduced, true);
    await model.backward(params, g2, out2.cache, new Float32Array(keep.length).fill(1), new Float32Array(keep.length));
    let maxDiff = 0;
    for (let i = 0; i < g1.length; i++) maxDiff = Math.max(maxDiff, Math.abs(g1[i]! - g2[i]!));
    expect(maxDiff).toBeLessThan(1e-6);
    // And the first sequence's tokens, which nothing in the loss can see, get no embedding gradient.
    const embed = layout.view(g1, 'model.embed_tokens.weight');
    for (const id of [3, 7, 9, 22]) for (let i = 0; i < config.hiddenSize; i++) expect(embed[id * config.hiddenSize + i]).toBe(0);
  });
});
