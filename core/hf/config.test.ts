import { describe, expect, it } from 'vitest';
import { countParameters, hfConfigJson, ropeInvFreq } from '../onnx/decoder.ts';
import { decoderConfigFromHf } from './config.ts';

/** config.json as transformers 5 writes it for a Qwen3 model (rope_parameters, layer_types). */
const qwen3V5 = {
  architectures: ['Qwen3ForCausalLM'],
  model_type: 'qwen3',
  attention_bias: false,
  head_dim: 32,
  hidden_act: 'silu',
  hidden_size: 64,
  intermediate_size: 128,
  layer_types: ['full_attention', 'full_attention'],
  max_position_embeddings: 4096,
  num_attention_heads: 4,
  num_hidden_layers: 2,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_parameters: { rope_theta: 1000000.0, rope_type: 'default' },
  sliding_window: null,
  tie_word_embeddings: true,
  use_sliding_window: false,
  vocab_size: 151936,
  bos_token_id: 151643,
  eos_token_id: 151645,
  dtype: 'bfloat16',
};

/** config.json as transformers 4 wrote it for Llama 3.2 (rope_theta + rope_scaling). */
const llama32V4 = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  attention_bias: false,
  mlp_bias: false,
  head_dim: 64,
  hidden_act: 'silu',
  hidden_size: 2048,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  num_attention_heads: 32,
  num_hidden_layers: 16,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  vocab_size: 128256,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  torch_dtype: 'bfloat16',
};

/** Qwen2.5-Math-1.5B's config.json as published (transformers 4.37): a sliding window configured but off. */
const qwen25Math = {
  architectures: ['Qwen2ForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151643,
  hidden_act: 'silu',
  hidden_size: 1536,
  initializer_range: 0.02,
  intermediate_size: 8960,
  max_position_embeddings: 4096,
  max_window_layers: 21,
  model_type: 'qwen2',
  num_attention_heads: 12,
  num_hidden_layers: 28,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  sliding_window: 4096,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.37.0',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

describe('Hugging Face config.json', () => {
  it('reads Qwen2.5-Math-1.5B as published: 1.5B parameters, tied embeddings, q/k/v biases', () => {
    const config = decoderConfigFromHf(qwen25Math);
    expect(config).toMatchObject({ modelType: 'qwen2', headDim: undefined, ropeTheta: 10000, ropeScaling: null, attentionBias: true, tieWordEmbeddings: true });
    expect(countParameters(config) / 1e9).toBeCloseTo(1.54, 2);
  });

  it('reads the transformers 5 form (rope_parameters): Qwen3 with q/k norms, head_dim of its own', () => {
    expect(decoderConfigFromHf(qwen3V5)).toMatchObject({
      modelType: 'qwen3', headDim: 32, ropeTheta: 1e6, ropeScaling: null, qkNorm: true, attentionBias: false, outputBias: false, tieWordEmbeddings: true, eosTokenId: 151645,
    });
  });

  it('reads the transformers 4 form (rope_theta + rope_scaling): Llama 3.2 with llama3 rope scaling', () => {
    const config = decoderConfigFromHf(llama32V4);
    expect(config).toMatchObject({ modelType: 'llama', numKeyValueHeads: 8, ropeTheta: 500000, qkNorm: false, eosTokenId: [128001, 128008, 128009] });
    expect(config.ropeScaling).toEqual({ type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
  });

  it('gives Qwen2 its q/k/v biases and no o_proj bias; Llama and Qwen3 put attention_bias on all four', () => {
    const qwen2 = decoderConfigFromHf({ ...qwen3V5, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2' });
    expect(qwen2).toMatchObject({ attentionBias: true, outputBias: false, qkNorm: false });
    expect(decoderConfigFromHf({ ...llama32V4, attention_bias: true })).toMatchObject({ attentionBias: true, outputBias: true });
  });

  it('llama3 rope scaling keeps short wavelengths, slows long ones by the factor, and blends the band between', () => {
    const config = decoderConfigFromHf(llama32V4);
    const scaled = ropeInvFreq(config);
    const plain = ropeInvFreq({ ...config, ropeScaling: null });
    expect(scaled[0]).toBe(plain[0]); // wavelength 2π < 8192 / 4
    expect(scaled.at(-1)).toBeCloseTo(plain.at(-1)! / 32, 12); // wavelength far above 8192
    const middle = Array.from(plain).findIndex((f) => {
      const wavelen = (2 * Math.PI) / f;
      return wavelen > 2048 && wavelen < 8192;
    });
    expect(scaled[middle]! < plain[middle]! && scaled[middle]! > plain[middle]! / 32).toBe(true);
  });

  it('round-trips what hfConfigJson writes, rope scaling included', () => {
    const config = decoderConfigFromHf(llama32V4);
    expect(decoderConfigFromHf(hfConfigJson(config))).toEqual(config);
  });

  it('refuses what it cannot reproduce, naming the field', () => {
    expect(() => decoderConfigFromHf({ ...qwen3V5, architectures: ['Qwen3MoeForCausalLM'], model_type: 'qwen3_moe' })).toThrow(/architecture Qwen3MoeForCausalLM is not supported \(supported: LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM\)/);
    expect(() => decoderConfigFromHf({ ...qwen3V5, architectures: ['LlamaForCausalLM'] })).toThrow(/does not go with model_type "qwen3"/);
    expect(() => decoderConfigFromHf({ ...qwen3V5, use_sliding_window: true })).toThrow(/use_sliding_window/);
    expect(() => decoderConfigFromHf({ ...qwen3V5, layer_types: ['full_attention', 'sliding_attention'] })).toThrow(/sliding_attention/);
    expect(() => decoderConfigFromHf({ ...qwen3V5, rope_parameters: { rope_type: 'yarn', factor: 4, rope_theta: 1e6 } })).toThrow(/rope type "yarn" is not supported/);
    expect(() => decoderConfigFromHf({ ...llama32V4, mlp_bias: true })).toThrow(/mlp_bias/);
    expect(() => decoderConfigFromHf({ ...llama32V4, hidden_act: 'gelu' })).toThrow(/hidden_act "gelu"/);
    expect(() => decoderConfigFromHf({ ...llama32V4, hidden_size: undefined })).toThrow(/hidden_size/);
  });
});
