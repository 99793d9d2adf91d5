import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decoderWeightShapes, type DecoderConfig } from '../onnx/decoder.ts';
import { CheckpointWeights, readCheckpointWeights } from './checkpoint-weights.ts';

/** A safetensors file with tensors in any dtype, given as raw little-endian bytes. */
function safetensors(tensors: Record<string, { dtype: string; shape: number[]; bytes: Uint8Array }>): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of Object.values(tensors)) {
    out.set(t.bytes, at);
    at += t.bytes.length;
  }
  return out;
}

const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const f32 = (shape: number[], values: number[]) => ({ dtype: 'F32', shape, bytes: bytes(Float32Array.from(values)) });

const config: DecoderConfig = {
  modelType: 'llama', vocabSize: 3, hiddenSize: 2, intermediateSize: 2, numHiddenLayers: 1, numAttentionHeads: 1, numKeyValueHeads: 1,
  maxPositionEmbeddings: 8, ropeTheta: 10000, rmsNormEps: 1e-6, tieWordEmbeddings: true, attentionBias: false, bosTokenId: null, eosTokenId: 0,
};
const allWeights = () => Object.fromEntries(Object.entries(decoderWeightShapes(config)).map(([name, shape]) => [name, f32(shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i))]));

describe('checkpoint weights', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cir-ckpt-weights-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('reads shards through the index, widening BF16 and F16 to float32', async () => {
    await writeFile(join(dir, 'model-00001-of-00002.safetensors'), safetensors({ a: { dtype: 'BF16', shape: [2], bytes: bytes(Uint16Array.from([0x3f80, 0xc040])) } }));
    await writeFile(join(dir, 'model-00002-of-00002.safetensors'), safetensors({ b: { dtype: 'F16', shape: [1, 2], bytes: bytes(Uint16Array.from([0x3c00, 0x3800])) } }));
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }));
    const weights = await CheckpointWeights.open(dir);
    try {
      expect(Array.from(await weights.read('a'))).toEqual([1, -3]);
      expect(Array.from(await weights.read('b'))).toEqual([1, 0.5]);
      await expect(weights.read('c')).rejects.toThrow(/no tensor c/);
    } finally {
      await weights.close();
    }
  });

  it('explains what is missing: no weights, .bin only, a shard the index names, a truncated file', async () => {
    await expect(CheckpointWeights.open(dir)).rejects.toThrow(/no model.safetensors or model.safetensors.index.json/);
    await writeFile(join(dir, 'pytorch_model.bin'), '');
    await expect(CheckpointWeights.open(dir)).rejects.toThrow(/PyTorch .bin weights only: convert them to safetensors/);
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: 'gone.safetensors' } }));
    await expect(CheckpointWeights.open(dir)).rejects.toThrow(/names .*gone.safetensors, which is missing/);
    const file = safetensors({ a: f32([4], [1, 2, 3, 4]) });
    await writeFile(join(dir, 'model.safetensors'), file);
    await truncate(join(dir, 'model.safetensors'), file.length - 4);
    await expect(CheckpointWeights.open(dir)).rejects.toThrow(/outside the file \(truncated download\?\)/);
  });

  it('reads exactly the weights the config calls for, ignoring a tied lm_head copy and rotary buffers', async () => {
    await writeFile(join(dir, 'model.safetensors'), safetensors({ ...allWeights(), 'lm_head.weight': f32([3, 2], [0, 0, 0, 0, 0, 0]), 'model.layers.0.self_attn.rotary_emb.inv_freq': f32([1], [1]) }));
    const weights = await readCheckpointWeights(dir, config);
    expect(Object.keys(weights).sort()).toEqual(Object.keys(decoderWeightShapes(config)).sort());
    expect(Array.from(weights['model.norm.weight']!)).toEqual([0, 1]);
  });

  it('refuses a checkpoint with tensors the decoder would drop, or with a wrong shape', async () => {
    await writeFile(join(dir, 'model.safetensors'), safetensors({ ...allWeights(), 'model.layers.0.mlp.gate_proj.bias': f32([2], [0, 0]) }));
    await expect(readCheckpointWeights(dir, config)).rejects.toThrow(/1 tensor\(s\) a llama decoder does not use \(model.layers.0.mlp.gate_proj.bias\)/);
    await writeFile(join(dir, 'model.safetensors'), safetensors({ ...allWeights(), 'model.norm.weight': f32([3], [0, 0, 0]) }));
    await expect(readCheckpointWeights(dir, config)).rejects.toThrow(/model.norm.weight has shape \[3\]; config.json implies \[2\]/);
  });
});
