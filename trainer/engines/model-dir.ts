/**
 * The model directory as the trainer reads and writes it: config.json ↔ DecoderConfig, the weights from
 * the Hugging Face safetensors (or, for directories that only have it, model.onnx's initializers), the
 * ONNX model in the HF-optimum layout, and the tokenizer files carried along.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointWeights, readCheckpointWeights } from '../../core/hf/checkpoint-weights.ts';
import { decoderConfigFromHf } from '../../core/hf/config.ts';
import { copyTokenizerFiles } from '../../core/hf/files.ts';
import { decoderWeightShapes, exportDecoder, type DecoderConfig } from '../../core/onnx/decoder.ts';
import { readOnnxFloatInitializers } from './onnx-weights.ts';
import { encodeSafetensors } from './safetensors.ts';

async function findModelFile(dir: string): Promise<string> {
  for (const candidate of ['model.onnx', join('onnx', 'model.onnx')]) {
    const path = join(dir, candidate);
    if ((await stat(path).catch(() => undefined))?.isFile()) return path;
  }
  throw new Error(`no ONNX model in ${dir} (looked for model.onnx and onnx/model.onnx)`);
}

/**
 * Reads config.json and every weight the config calls for, checking shapes: from the Hugging Face
 * safetensors when the directory has them (an imported or torch-trained checkpoint), else from
 * model.onnx's initializers.
 */
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
  if (await CheckpointWeights.present(dir)) return { config, weights: await readCheckpointWeights(dir, config) };
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

/**
 * Writes a model directory that the API serves and that vLLM or transformers load: model.onnx,
 * config.json, generation_config.json, model.safetensors (the weights under their HF names, float32; a tied
 * lm_head is not stored, as save_pretrained does) and the tokenizer files of `tokenizerDir`. Returns the
 * files written.
 */
export async function writeModelDir(config: DecoderConfig, weights: Readonly<Record<string, Float32Array>>, dir: string, tokenizerDir: string): Promise<string[]> {
  await exportDecoder(config, weights, dir);
  const tensors = Object.fromEntries(Object.entries(decoderWeightShapes(config)).map(([name, shape]) => [name, { data: weights[name]!, shape }]));
  await writeFile(join(dir, 'model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
  const tokenizer = await copyTokenizerFiles(tokenizerDir, dir);
  return ['model.onnx', 'config.json', 'generation_config.json', 'model.safetensors', ...tokenizer];
}
