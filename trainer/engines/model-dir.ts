/**
 * The model directory as the trainer reads and writes it: config.json ↔ DecoderConfig, the weights from
 * the Hugging Face safetensors (or, for directories that only have it, model.onnx's initializers), the
 * ONNX model in the HF-optimum layout, and the tokenizer files carried along.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointWeights, readCheckpointWeights } from '../../core/hf/checkpoint-weights.ts';
import { readHfConfigFile } from '../../core/hf/config.ts';
import { copyTokenizerFiles } from '../../core/hf/files.ts';
import { decoderWeightShapes, hfConfigJson, hfGenerationConfigJson, writeDecoderOnnx, type DecoderConfig } from '../../core/onnx/decoder.ts';
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
  const { config } = await readHfConfigFile(dir);
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
 * What transformers and vLLM load: config.json, generation_config.json and model.safetensors (the weights
 * under their HF names, float32; a tied lm_head is not stored, as save_pretrained does). Returns the files.
 */
export async function writeHfCheckpoint(config: DecoderConfig, weights: Readonly<Record<string, Float32Array>>, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(hfConfigJson(config), null, 2)}\n`);
  await writeFile(join(dir, 'generation_config.json'), `${JSON.stringify(hfGenerationConfigJson(config), null, 2)}\n`);
  const tensors = Object.fromEntries(Object.entries(decoderWeightShapes(config)).map(([name, shape]) => [name, { data: weights[name]!, shape }]));
  // transformers refuses safetensors files whose metadata does not say they hold PyTorch tensors.
  await writeFile(join(dir, 'model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
  return ['config.json', 'generation_config.json', 'model.safetensors'];
}

/**
 * Writes a model directory that the API serves and that vLLM or transformers load: the Hugging Face
 * checkpoint (writeHfCheckpoint), model.onnx, and the tokenizer files of `tokenizerDir`. Returns the files.
 */
export async function writeModelDir(config: DecoderConfig, weights: Readonly<Record<string, Float32Array>>, dir: string, tokenizerDir: string): Promise<string[]> {
  const hf = await writeHfCheckpoint(config, weights, dir);
  const onnx = await writeDecoderOnnx(config, weights, dir);
  return [...onnx, ...hf, ...(await copyTokenizerFiles(tokenizerDir, dir))];
}
