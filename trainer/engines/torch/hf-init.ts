/**
 * The Hugging Face directory the worker loads with `from_pretrained`: the init directory itself when it
 * holds safetensors weights (an imported checkpoint, or one this engine exported), else one written into
 * the engine's temp directory: config.json (hfConfigJson), generation_config.json and model.safetensors
 * (float32) from an ONNX-only directory's initializers or from fresh random weights.
 */
import { join } from 'node:path';
import { CheckpointWeights } from '../../../core/hf/checkpoint-weights.ts';
import { readHfConfigFile } from '../../../core/hf/config.ts';
import type { DecoderConfig } from '../../../core/onnx/decoder.ts';
import { ParamLayout } from '../cpu/params.ts';
import { readModelDir, writeHfCheckpoint } from '../model-dir.ts';
import type { EngineInit } from '../types.ts';

export interface InitModel {
  /** What the worker loads. */
  hfDir: string;
  config: DecoderConfig;
  /** Where the tokenizer files that exports carry come from. */
  tokenizerDir: string;
}

/** The model the engine starts from; writes into `work` when the worker needs a directory made for it. */
export async function prepareInitModel(init: EngineInit, work: string): Promise<InitModel> {
  if (init.kind === 'model-dir' && (await CheckpointWeights.present(init.dir))) {
    return { hfDir: init.dir, config: (await readHfConfigFile(init.dir)).config, tokenizerDir: init.dir };
  }
  const hfDir = join(work, 'init');
  if (init.kind === 'model-dir') {
    const { config, weights } = await readModelDir(init.dir);
    await writeHfCheckpoint(config, weights, hfDir);
    return { hfDir, config, tokenizerDir: init.dir };
  }
  // The cpu engine's initialisation, so both engines start from the same weights for the same seed.
  if (init.config.qkNorm || init.config.outputBias) {
    throw new Error(`fresh random weights are drawn for Llama and Qwen2 decoders only; start this ${init.config.modelType} model from a checkpoint (a model directory)`);
  }
  const layout = new ParamLayout(init.config);
  await writeHfCheckpoint(init.config, layout.named(layout.random(init.seed, init.initStd)), hfDir);
  return { hfDir, config: init.config, tokenizerDir: init.tokenizerDir };
}
