/**
 * The model directory in the HF-optimum ONNX layout, as the trainer reads and writes it: config.json
 * ↔ DecoderConfig, weights from model.onnx's initializers, tokenizer files to carry along.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointWeights, readCheckpointWeights } from '../../core/hf/checkpoint-weights.ts';
import { decoderConfigFromHf } from '../../core/hf/config.ts';
import { decoderWeightShapes, type DecoderConfig } from '../../core/onnx/decoder.ts';
import { readOnnxFloatInitializers } from './onnx-weights.ts';

// TODO(move): callers import these from core/hf/files.ts
export { checkTokenizerDir, copyTokenizerFiles, TOKENIZER_FILES } from '../../core/hf/files.ts';

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
