/**
 * A Hugging Face `config.json` ↔ DecoderConfig, for the architectures the ONNX writer, the runtime and
 * the trainer support: LlamaForCausalLM, Qwen2ForCausalLM and Qwen3ForCausalLM. Reads both the
 * transformers 4 form (`rope_theta` + `rope_scaling`) and the transformers 5 form (`rope_parameters`),
 * and refuses what it cannot reproduce exactly (another architecture, sliding-window layers, a rope
 * type whose frequencies depend on the sequence length) with a message naming the field.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { DecoderConfig, RopeScaling } from '../onnx/decoder.ts';

/** Architecture (config.json `architectures[0]`) → model_type, for everything supported. */
export const SUPPORTED_ARCHITECTURES = { LlamaForCausalLM: 'llama', Qwen2ForCausalLM: 'qwen2', Qwen3ForCausalLM: 'qwen3' } as const;

const tokenIds = z.union([z.number().int(), z.array(z.number().int())]);
const positiveInt = z.number().int().positive();

const RopeParameters = z.looseObject({
  rope_type: z.string().optional(),
  /** transformers 4 spelling of rope_type. */
  type: z.string().optional(),
  rope_theta: z.number().positive().optional(),
  factor: z.number().positive().optional(),
  low_freq_factor: z.number().positive().optional(),
  high_freq_factor: z.number().positive().optional(),
  original_max_position_embeddings: positiveInt.optional(),
  partial_rotary_factor: z.number().optional(),
});

const HfConfig = z.looseObject({
  architectures: z.array(z.string()).optional(),
  model_type: z.string(),
  vocab_size: positiveInt,
  hidden_size: positiveInt,
  intermediate_size: positiveInt,
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  num_key_value_heads: positiveInt.nullish(),
  head_dim: positiveInt.nullish(),
  max_position_embeddings: positiveInt,
  rope_theta: z.number().positive().optional(),
  rope_scaling: RopeParameters.nullish(),
  rope_parameters: RopeParameters.nullish(),
  partial_rotary_factor: z.number().optional(),
  rms_norm_eps: z.number().positive(),
  tie_word_embeddings: z.boolean().default(false),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().optional(),
  hidden_act: z.string().default('silu'),
  use_sliding_window: z.boolean().optional(),
  layer_types: z.array(z.string()).optional(),
  bos_token_id: z.number().int().nullish(),
  eos_token_id: tokenIds.nullish(),
  pad_token_id: z.number().int().nullish(),
  torch_dtype: z.string().nullish(),
  dtype: z.string().nullish(),
});
type HfConfig = z.infer<typeof HfConfig>;

/** Why a config.json cannot be served or trained here; the message names the field and what is supported. */
export class UnsupportedModelError extends Error {
  constructor(where: string, reason: string) {
    super(`${where}: ${reason}`);
    this.name = 'UnsupportedModelError';
  }
}

function modelType(c: HfConfig, where: string): DecoderConfig['modelType'] {
  const supported = Object.keys(SUPPORTED_ARCHITECTURES).join(', ');
  const arch = c.architectures?.[0];
  if (arch !== undefined && !(arch in SUPPORTED_ARCHITECTURES)) {
    throw new UnsupportedModelError(where, `architecture ${arch} is not supported (supported: ${supported})`);
  }
  const byType = Object.values(SUPPORTED_ARCHITECTURES) as string[];
  if (!byType.includes(c.model_type)) throw new UnsupportedModelError(where, `model_type "${c.model_type}" is not supported (supported: ${supported})`);
  const type = c.model_type as DecoderConfig['modelType'];
  if (arch !== undefined && SUPPORTED_ARCHITECTURES[arch as keyof typeof SUPPORTED_ARCHITECTURES] !== type) {
    throw new UnsupportedModelError(where, `architecture ${arch} does not go with model_type "${type}"`);
  }
  return type;
}

function ropeOf(c: HfConfig, where: string): { theta: number; scaling: RopeScaling | null } {
  const params = c.rope_parameters ?? c.rope_scaling ?? null;
  const theta = c.rope_parameters?.rope_theta ?? c.rope_theta ?? 10000;
  const partial = params?.partial_rotary_factor ?? c.partial_rotary_factor ?? 1;
  if (partial !== 1) throw new UnsupportedModelError(where, `partial_rotary_factor ${partial} is not supported (only 1)`);
  const type = params?.rope_type ?? params?.type ?? 'default';
  switch (type) {
    case 'default':
      return { theta, scaling: null };
    case 'linear':
      if (!params?.factor) throw new UnsupportedModelError(where, 'rope type "linear" needs a factor');
      return { theta, scaling: { type: 'linear', factor: params.factor } };
    case 'llama3': {
      const { factor, low_freq_factor, high_freq_factor, original_max_position_embeddings } = params ?? {};
      if (!factor || !low_freq_factor || !high_freq_factor || !original_max_position_embeddings) {
        throw new UnsupportedModelError(where, 'rope type "llama3" needs factor, low_freq_factor, high_freq_factor and original_max_position_embeddings');
      }
      return {
        theta,
        scaling: { type: 'llama3', factor, lowFreqFactor: low_freq_factor, highFreqFactor: high_freq_factor, originalMaxPositionEmbeddings: original_max_position_embeddings },
      };
    }
    default:
      throw new UnsupportedModelError(where, `rope type "${type}" is not supported (supported: default, linear, llama3)`);
  }
}

/** config.json (parsed JSON) → DecoderConfig; throws UnsupportedModelError naming what is not supported. */
export function decoderConfigFromHf(json: unknown, where = 'config.json'): DecoderConfig {
  const parsed = HfConfig.safeParse(json);
  if (!parsed.success) {
    throw new UnsupportedModelError(where, `not a decoder config this project reads: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const c = parsed.data;
  const type = modelType(c, where);
  if (c.hidden_act !== 'silu') throw new UnsupportedModelError(where, `hidden_act "${c.hidden_act}" is not supported (only silu)`);
  if (c.mlp_bias) throw new UnsupportedModelError(where, 'mlp_bias is not supported');
  if (c.use_sliding_window) throw new UnsupportedModelError(where, 'use_sliding_window is true: sliding-window attention is not supported');
  const otherLayers = (c.layer_types ?? []).filter((t) => t !== 'full_attention');
  if (otherLayers.length > 0) throw new UnsupportedModelError(where, `layer_types has ${otherLayers.length} layer(s) of type "${otherLayers[0]}" (only full_attention is supported)`);
  const rope = ropeOf(c, where);
  // Qwen2 always has q/k/v biases and none on o_proj; Llama and Qwen3 put attention_bias on all four.
  const attentionBias = type === 'qwen2' ? true : (c.attention_bias ?? false);
  return {
    modelType: type,
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numHiddenLayers: c.num_hidden_layers,
    numAttentionHeads: c.num_attention_heads,
    numKeyValueHeads: c.num_key_value_heads ?? c.num_attention_heads,
    headDim: c.head_dim ?? undefined,
    maxPositionEmbeddings: c.max_position_embeddings,
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    rmsNormEps: c.rms_norm_eps,
    tieWordEmbeddings: c.tie_word_embeddings,
    attentionBias,
    outputBias: type !== 'qwen2' && attentionBias,
    qkNorm: type === 'qwen3',
    bosTokenId: c.bos_token_id ?? null,
    eosTokenId: c.eos_token_id ?? [],
    padTokenId: c.pad_token_id ?? null,
  };
}

/** Reads `dir`/config.json: the parsed JSON and its DecoderConfig; throws naming the file when it is missing, not JSON or not supported. */
export async function readHfConfigFile(dir: string): Promise<{ json: Record<string, unknown>; config: DecoderConfig }> {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new Error(`no config.json in ${dir}: not a Hugging Face model directory`);
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  return { json, config: decoderConfigFromHf(json, path) };
}
