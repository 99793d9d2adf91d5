/**
 * The model directory in the HF-optimum ONNX layout, as the trainer reads and writes it: config.json
 * ↔ DecoderConfig, weights from model.onnx's initializers, tokenizer files to carry along.
 */
import { copyFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { decoderWeightShapes, type DecoderConfig } from '../../core/onnx/decoder.ts';
import { readOnnxFloatInitializers } from './onnx-weights.ts';

/** Tokenizer files an exported model carries over from its source (whichever exist). */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'chat_template.jinja'] as const;

const tokenIds = z.union([z.number().int(), z.array(z.number().int())]);
const HfDecoderConfig = z.looseObject({
  model_type: z.enum(['llama', 'qwen2']),
  vocab_size: z.number().int().positive(),
  hidden_size: z.number().int().positive(),
  intermediate_size: z.number().int().positive(),
  num_hidden_layers: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  num_key_value_heads: z.number().int().positive().optional(),
  head_dim: z.number().int().positive().optional(),
  max_position_embeddings: z.number().int().positive(),
  rope_theta: z.number().positive().default(10000),
  rms_norm_eps: z.number().positive(),
  tie_word_embeddings: z.boolean().default(false),
  attention_bias: z.boolean().optional(),
  hidden_act: z.literal('silu').default('silu'),
  bos_token_id: z.number().int().nullish(),
  eos_token_id: tokenIds,
  pad_token_id: z.number().int().nullish(),
  rope_scaling: z.null().optional(),
});

/** config.json → DecoderConfig (the inverse of core/onnx/decoder.ts hfConfigJson). */
export function decoderConfigFromHf(json: unknown, where = 'config.json'): DecoderConfig {
  const parsed = HfDecoderConfig.safeParse(json);
  if (!parsed.success) {
    throw new Error(`${where}: not a decoder this trainer supports: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const c = parsed.data;
  return {
    modelType: c.model_type,
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numHiddenLayers: c.num_hidden_layers,
    numAttentionHeads: c.num_attention_heads,
    numKeyValueHeads: c.num_key_value_heads ?? c.num_attention_heads,
    headDim: c.head_dim,
    maxPositionEmbeddings: c.max_position_embeddings,
    ropeTheta: c.rope_theta,
    rmsNormEps: c.rms_norm_eps,
    tieWordEmbeddings: c.tie_word_embeddings,
    // Qwen2 has q/k/v biases unless told otherwise; Llama has none.
    attentionBias: c.attention_bias ?? c.model_type === 'qwen2',
    bosTokenId: c.bos_token_id ?? null,
    eosTokenId: c.eos_token_id,
    padTokenId: c.pad_token_id ?? null,
  };
}

async function findModelFile(dir: string): Promise<string> {
  for (const candidate of ['model.onnx', join('onnx', 'model.onnx')]) {
    const path = join(dir, candidate);
    if ((await stat(path).catch(() => undefined))?.isFile()) return path;
  }
  throw new Error(`no ONNX model in ${dir} (looked for model.onnx and onnx/model.onnx)`);
}

/** Reads config.json and every weight the config calls for from model.onnx, checking shapes. */
export async function readModelDir(dir: string): Promise<{ config: DecoderConfig; weights: Record<string, Float32Array> }> {
  let configText: string;
  try {
    configText = await readFile(join(dir, 'config.json'), 'utf8');
  } catch {
    throw new Error(`config.json not found in ${dir}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(configText);
  } catch (error) {
    throw new Error(`${join(dir, 'config.json')} is not valid JSON: ${(error as Error).message}`);
  }
  const config = decoderConfigFromHf(json, join(dir, 'config.json'));
  const modelFile = await findModelFile(dir);
  let initializers: ReturnType<typeof readOnnxFloatInitializers>;
  try {
    initializers = readOnnxFloatInitializers(await readFile(modelFile));
  } catch (error) {
    throw new Error(`${modelFile} is not a readable ONNX model: ${(error as Error).message}`);
  }
  const weights: Record<string, Float32Array> = {};
  for (const [name, dims] of Object.entries(decoderWeightShapes(config))) {
    const found = initializers.get(name);
    if (!found) throw new Error(`model.onnx in ${dir} has no weight ${name} (is it a model this trainer exported?)`);
    if (found.dims.join(',') !== dims.join(',')) throw new Error(`weight ${name} has shape [${found.dims.join(', ')}], config.json implies [${dims.join(', ')}]`);
    weights[name] = found.data;
  }
  return { config, weights };
}

/** Throws unless `dir` has a tokenizer.json (checked when an engine starts, so a missing tokenizer fails before training). */
export async function checkTokenizerDir(dir: string): Promise<void> {
  if (!(await stat(join(dir, 'tokenizer.json')).catch(() => undefined))?.isFile()) throw new Error(`no tokenizer.json in ${dir}`);
}

/** Copies the tokenizer files found in `from` to `to`; returns their names. Throws if there is no tokenizer.json. */
export async function copyTokenizerFiles(from: string, to: string): Promise<string[]> {
  const copied: string[] = [];
  for (const name of TOKENIZER_FILES) {
    const source = join(from, name);
    if (!(await stat(source).catch(() => undefined))?.isFile()) continue;
    await copyFile(source, join(to, name));
    copied.push(name);
  }
  if (!copied.includes('tokenizer.json')) throw new Error(`no tokenizer.json in ${from}`);
  return copied;
}
