import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../api/models/generation/rng.ts';
import { randomWeights } from '../../scripts/make-model.ts';
import { buildDecoderModel, countParameters, decoderWeightShapes, headDim, type DecoderConfig } from './decoder.ts';
import { DataType, encodeModel, floatTensor } from './proto.ts';

/** A plain-arithmetic Llama forward (float64), the spec the exported graph must match. */
function referenceLogits(config: DecoderConfig, w: Record<string, Float32Array>, ids: number[]): number[][] {
  const H = config.hiddenSize;
  const D = headDim(config);
  const nH = config.numAttentionHeads;
  const nKv = config.numKeyValueHeads;
  const matvec = (name: string, x: number[], bias?: string): number[] => {
    const m = w[name]!;
    const cols = x.length;
    const out = new Array<number>(m.length / cols).fill(0);
    for (let r = 0; r < out.length; r++) {
      let s = bias ? w[bias]![r]! : 0;
      for (let c = 0; c < cols; c++) s += m[r * cols + c]! * x[c]!;
      out[r] = s;
    }
    return out;
  };
  const rms = (x: number[], name: string) => {
    const scale = 1 / Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length + config.rmsNormEps);
    return x.map((v, i) => v * scale * w[name]![i]!);
  };
  const rope = (v: number[], pos: number) => {
    const out = [...v];
    for (let i = 0; i < D / 2; i++) {
      const f = pos / config.ropeTheta ** ((2 * i) / D);
      out[i] = v[i]! * Math.cos(f) - v[i + D / 2]! * Math.sin(f);
      out[i + D / 2] = v[i + D / 2]! * Math.cos(f) + v[i]! * Math.sin(f);
    }
    return out;
  };
  let xs = ids.map((id) => Array.from(w['model.embed_tokens.weight']!.subarray(id * H, (id + 1) * H)));
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `model.layers.${l}`;
    const b = (proj: string) => (config.attentionBias ? `${p}.self_attn.${proj}.bias` : undefined);
    const hs = xs.map((x) => rms(x, `${p}.input_layernorm.weight`));
    const qs = hs.map((h, t) => {
      const q = matvec(`${p}.self_attn.q_proj.weight`, h, b('q_proj'));
      return Array.from({ length: nH }, (_, hd) => rope(q.slice(hd * D, (hd + 1) * D), t));
    });
    const ks = hs.map((h, t) => {
      const k = matvec(`${p}.self_attn.k_proj.weight`, h, b('k_proj'));
      return Array.from({ length: nKv }, (_, hd) => rope(k.slice(hd * D, (hd + 1) * D), t));
    });
    const vs = hs.map((h) => {
      const v = matvec(`${p}.self_attn.v_proj.weight`, h, b('v_proj'));
      return Array.from({ length: nKv }, (_, hd) => v.slice(hd * D, (hd + 1) * D));
    });
    xs = xs.map((x, t) => {
      const merged: number[] = [];
      for (let hd = 0; hd < nH; hd++) {
        const kv = Math.floor(hd / (nH / nKv));
        const scores = Array.from({ length: t + 1 }, (_, s) => qs[t]![hd]!.reduce((acc, q, i) => acc + q * ks[s]![kv]![i]!, 0) / Math.sqrt(D));
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const z = e.reduce((a, c) => a + c, 0);
        for (let i = 0; i < D; i++) merged.push(e.reduce((acc, p, s) => acc + (p / z) * vs[s]![kv]![i]!, 0));
      }
      const attn = matvec(`${p}.self_attn.o_proj.weight`, merged);
      const y = x.map((v, i) => v + attn[i]!);
      const h2 = rms(y, `${p}.post_attention_layernorm.weight`);
      const gate = matvec(`${p}.mlp.gate_proj.weight`, h2);
      const up = matvec(`${p}.mlp.up_proj.weight`, h2);
      const down = matvec(`${p}.mlp.down_proj.weight`, gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!));
      return y.map((v, i) => v + down[i]!);
    });
  }
  const head = config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  return xs.map((x) => matvec(head, rms(x, 'model.norm.weight')));
}

const base = {
  vocabSize: 40,
  hiddenSize: 32,
  intermediateSize: 48,
  numHiddenLayers: 2,
  maxPositionEmbeddings: 64,
  ropeTheta: 10000,
  rmsNormEps: 1e-6,
  bosTokenId: null,
  eosTokenId: 1,
} as const;

const CONFIGS: Record<string, DecoderConfig> = {
  'qwen2 (GQA, q/k/v bias, tied embeddings)': { ...base, modelType: 'qwen2', numAttentionHeads: 4, numKeyValueHeads: 2, tieWordEmbeddings: true, attentionBias: true },
  'llama (MHA, untied lm_head)': { ...base, modelType: 'llama', numAttentionHeads: 4, numKeyValueHeads: 4, tieWordEmbeddings: false, attentionBias: false },
};

async function run(session: ort.InferenceSession, config: DecoderConfig, rows: number[][], maskRows: number[][], positions: number[][]) {
  const batch = rows.length;
  const seq = rows[0]!.length;
  const i64 = (m: number[][]) => BigInt64Array.from(m.flat(), (v) => BigInt(v));
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', i64(rows), [batch, seq]),
    attention_mask: new ort.Tensor('int64', i64(maskRows), [batch, seq]),
    position_ids: new ort.Tensor('int64', i64(positions), [batch, seq]),
  };
  for (let i = 0; i < config.numHiddenLayers; i++) {
    for (const kind of ['key', 'value']) {
      feeds[`past_key_values.${i}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [batch, config.numKeyValueHeads, 0, headDim(config)]);
    }
  }
  const out = await session.run(feeds);
  return out.logits!.data as Float32Array;
}

describe('exportDecoder graph', () => {
  for (const [name, config] of Object.entries(CONFIGS)) {
    it(`matches a plain Llama forward: ${name}`, async () => {
      const weights = randomWeights(config, new Rng(3), 0.2);
      const session = await ort.InferenceSession.create(buildDecoderModel(config, weights));
      try {
        const ids = [3, 17, 5, 5, 39, 0, 22];
        const logits = await run(session, config, [ids], [ids.map(() => 1)], [ids.map((_, i) => i)]);
        const expected = referenceLogits(config, weights, ids);
        let maxDiff = 0;
        expected.forEach((row, t) => row.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - logits[t * config.vocabSize + j]!)))));
        expect(maxDiff).toBeLessThan(1e-4);
      } finally {
        await session.release();
      }
    });
  }

  it('gives a left-padded row the logits of the same row unpadded', async () => {
    const config = CONFIGS['qwen2 (GQA, q/k/v bias, tied embeddings)']!;
    const session = await ort.InferenceSession.create(buildDecoderModel(config, randomWeights(config, new Rng(4), 0.2)));
    try {
      const short = [7, 8, 9];
      const long = [1, 2, 3, 4, 5];
      const padded = await run(session, config, [[0, 0, ...short], long], [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]]);
      const alone = await run(session, config, [short], [[1, 1, 1]], [[0, 1, 2]]);
      const V = config.vocabSize;
      for (let t = 0; t < 3; t++) {
        for (let j = 0; j < V; j++) expect(padded[(2 + t) * V + j]).toBeCloseTo(alone[t * V + j]!, 5);
      }
      expect(padded.every(Number.isFinite)).toBe(true); // fully masked padding rows stay finite
    } finally {
      await session.release();
    }
  });

  it('rejects weights of the wrong shape, naming the tensor', () => {
    const config = CONFIGS['llama (MHA, untied lm_head)']!;
    const weights = randomWeights(config, new Rng(1), 0.02);
    const good = weights['model.layers.1.mlp.up_proj.weight']!;
    weights['model.layers.1.mlp.up_proj.weight'] = new Float32Array(3);
    expect(() => buildDecoderModel(config, weights)).toThrow(/model\.layers\.1\.mlp\.up_proj\.weight/);
    weights['model.layers.1.mlp.up_proj.weight'] = good;
    delete weights['model.norm.weight'];
    expect(() => buildDecoderModel(config, weights)).toThrow(/missing weight model\.norm\.weight/);
  });

  it('counts parameters from the HF weight shapes', () => {
    const config = CONFIGS['llama (MHA, untied lm_head)']!;
    const byHand = Object.values(decoderWeightShapes(config)).reduce((s, d) => s + d[0]! * (d[1] ?? 1), 0);
    expect(countParameters(config)).toBe(byHand);
    expect(decoderWeightShapes(CONFIGS['qwen2 (GQA, q/k/v bias, tied embeddings)']!)['lm_head.weight']).toBeUndefined();
  });
});

describe('proto encoding', () => {
  it('writes a model onnxruntime loads and runs (Add of an input and an initializer)', async () => {
    const bytes = encodeModel({
      irVersion: 8,
      opsetImports: [{ domain: '', version: 17 }],
      producerName: 'test',
      producerVersion: '0',
      graph: {
        name: 'add',
        nodes: [{ opType: 'Add', name: 'add', inputs: ['x', 'b'], outputs: ['y'] }],
        initializers: [floatTensor('b', [3], new Float32Array([1, 2, 3]))],
        inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: ['n', 3] }],
        outputs: [{ name: 'y', elemType: DataType.FLOAT, shape: ['n', 3] }],
      },
    });
    const session = await ort.InferenceSession.create(bytes);
    try {
      const out = await session.run({ x: new ort.Tensor('float32', new Float32Array([10, 20, 30, -1, -2, -3]), [2, 3]) });
      expect(Array.from(out.y!.data as Float32Array)).toEqual([11, 22, 33, 0, 0, 0]);
    } finally {
      await session.release();
    }
  });
});
