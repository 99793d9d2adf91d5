import { Rng } from '../api/models/generation/rng.ts';
import { exportDecoder, type DecoderConfig } from '../core/onnx/decoder.ts';
import { randomWeights } from '../scripts/make-model.ts';
import { DEFAULT_INIT_STD, DEFAULT_MODEL_CONFIG } from './config.ts';
import { writeVocabFiles } from './vocab.ts';

/**
 * An untrained default model in the layout the API serves (model.onnx, config.json,
 * generation_config.json, tokenizer files): the starting point of the warm start, and the
 * "before training" row of the measurements.
 */
export async function writeFreshModel(dir: string, options: { config?: DecoderConfig; seed?: number; initStd?: number } = {}): Promise<DecoderConfig> {
  const config = options.config ?? DEFAULT_MODEL_CONFIG;
  await exportDecoder(config, randomWeights(config, new Rng(options.seed ?? 0), options.initStd ?? DEFAULT_INIT_STD), dir);
  await writeVocabFiles(dir, config.maxPositionEmbeddings);
  return config;
}
