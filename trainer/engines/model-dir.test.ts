import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hfConfigJson, type DecoderConfig } from '../../core/onnx/decoder.ts';
import { decoderConfigFromHf } from '../../core/hf/config.ts';
import { readModelDir } from './model-dir.ts';

const config: DecoderConfig = {
  modelType: 'qwen2', vocabSize: 40, hiddenSize: 32, intermediateSize: 48, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, headDim: 8,
  maxPositionEmbeddings: 64, ropeTheta: 10000, ropeScaling: null, rmsNormEps: 1e-6, tieWordEmbeddings: true, attentionBias: true, outputBias: false, qkNorm: false,
  bosTokenId: 0, eosTokenId: [1, 2], padTokenId: 0,
};

describe('model directory', () => {
  it('reads back the config that hfConfigJson writes', () => {
    expect(decoderConfigFromHf(hfConfigJson(config))).toEqual(config);
  });

  it('refuses architectures the trainer cannot reproduce, naming the field', () => {
    expect(() => decoderConfigFromHf({ ...hfConfigJson(config), hidden_act: 'gelu' })).toThrow(/hidden_act/);
    expect(() => decoderConfigFromHf({ ...hfConfigJson(config), rope_scaling: { type: 'dynamic', factor: 2 } })).toThrow(/rope type "dynamic"/);
    expect(() => decoderConfigFromHf({ ...hfConfigJson(config), model_type: 'gpt2' })).toThrow(/model_type/);
  });

  it('explains a directory without a model', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cir-model-dir-'));
    try {
      await expect(readModelDir(dir)).rejects.toThrow(/no config.json in .*: not a Hugging Face model directory/);
      await writeFile(join(dir, 'config.json'), JSON.stringify(hfConfigJson(config)));
      await expect(readModelDir(dir)).rejects.toThrow(/no ONNX model/);
      await writeFile(join(dir, 'model.onnx'), 'not a model');
      await expect(readModelDir(dir)).rejects.toThrow(/model.onnx is not a readable ONNX model/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
