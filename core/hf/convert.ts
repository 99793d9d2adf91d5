/**
 * Hugging Face checkpoint → the model directory this project serves and trains, without Optimum:
 *
 *   config.json, generation_config.json      as the checkpoint has them (vLLM and transformers read them)
 *   model.safetensors (or shards + index)    the Hugging Face weights, unchanged (the torch engine starts from them)
 *   tokenizer.json, tokenizer_config.json, chat_template.jinja, ...
 *   model.onnx (+ model.onnx_data)           the decoder in the layout `optimum-cli export onnx
 *                                            --task text-generation-with-past` writes, for the ONNX runtime
 *
 * `writeOnnxFromHf` is the ONNX half on its own (the torch engine runs it on what it saved).
 */
import { copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { countParameters, decoderWeightShapes, hfGenerationConfigJson, writeDecoderOnnx, type DecoderConfig, type OnnxWriteOptions } from '../onnx/decoder.ts';
import { CheckpointWeights, checkCheckpointWeights } from './checkpoint-weights.ts';
import { readHfConfigFile } from './config.ts';
import { checkTokenizerDir, copyTokenizerFiles, isFile } from './files.ts';

export interface ConvertOptions extends OnnxWriteOptions {
  /** Called after each weight is converted. */
  onTensor?: (done: number, total: number) => void;
}

/** Reads the checkpoint in `hfDir` (config.json + safetensors) and writes model.onnx (+ model.onnx_data) into `outDir`. */
export async function writeOnnxFromHf(hfDir: string, outDir: string, options: ConvertOptions = {}): Promise<string[]> {
  const { config } = await readHfConfigFile(hfDir);
  const weights = await CheckpointWeights.open(hfDir);
  try {
    checkCheckpointWeights(weights, config);
    return await writeOnnx(config, weights, outDir, options);
  } finally {
    await weights.close();
  }
}

/** The ONNX model of checked checkpoint weights, one tensor read (and reported) at a time. */
function writeOnnx(config: DecoderConfig, weights: CheckpointWeights, outDir: string, options: ConvertOptions): Promise<string[]> {
  const total = Object.keys(decoderWeightShapes(config)).length;
  let done = 0;
  const read = async (name: string) => {
    const values = await weights.read(name);
    options.onTensor?.(++done, total);
    return values;
  };
  return writeDecoderOnnx(config, { read }, outDir, options);
}

export interface ImportOptions extends ConvertOptions {
  /** Replace `outDir` if it exists and is not empty. */
  force?: boolean;
}

export interface Imported {
  dir: string;
  config: DecoderConfig;
  architecture: string;
  parameters: number;
  /** Files of the model directory, relative to it. */
  files: string[];
}

/**
 * Makes `outDir` a model directory from the Hugging Face checkpoint in `hfDir` (layout above). Built in a
 * sibling directory and renamed into place at the end, so a failed or interrupted import leaves nothing
 * half-written at `outDir`.
 */
export async function importHfCheckpoint(hfDir: string, outDir: string, options: ImportOptions = {}): Promise<Imported> {
  const source = resolve(hfDir);
  const target = resolve(outDir);
  if (!(await stat(source).catch(() => undefined))?.isDirectory()) throw new Error(`${source} is not a directory`);
  if (source === target) throw new Error('--out must be another directory than the checkpoint');
  const { json, config } = await readHfConfigFile(source);
  try {
    await checkTokenizerDir(source);
  } catch {
    throw new Error(`no tokenizer.json in ${source}: save the fast tokenizer beside the weights (transformers: AutoTokenizer.from_pretrained(...).save_pretrained(dir))`);
  }
  // Missing, foreign or misshapen weights fail here, before anything is copied.
  const weights = await CheckpointWeights.open(source);
  const work = join(dirname(target), `.${basename(target)}.importing-${process.pid}`);
  try {
    checkCheckpointWeights(weights, config);
    const existing = await readdir(target).catch(() => null);
    if (existing && existing.length > 0 && !options.force) throw new Error(`${target} exists and is not empty; choose another --out or pass --force to replace it`);
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true });
    const files = ['config.json'];
    await copyFile(join(source, 'config.json'), join(work, 'config.json'));
    if (await isFile(join(source, 'generation_config.json'))) await copyFile(join(source, 'generation_config.json'), join(work, 'generation_config.json'));
    else await writeFile(join(work, 'generation_config.json'), `${JSON.stringify(hfGenerationConfigJson(config), null, 2)}\n`);
    files.push('generation_config.json');
    for (const file of weights.files) {
      await copyFile(join(source, file), join(work, file));
      files.push(file);
    }
    files.push(...(await copyTokenizerFiles(source, work)));
    files.push(...(await writeOnnx(config, weights, work, options)));
    await rm(target, { recursive: true, force: true });
    await rename(work, target);
    const architecture = (json.architectures as string[] | undefined)?.[0] ?? config.modelType;
    return { dir: target, config, architecture, parameters: countParameters(config), files };
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    throw error;
  } finally {
    await weights.close();
  }
}
