/**
 * The weights of a Hugging Face checkpoint directory, read tensor by tensor from its safetensors files
 * (`model.safetensors`, or the shards that `model.safetensors.index.json` maps), so a checkpoint larger
 * than memory converts with one tensor in memory at a time. F32, F16 and BF16 tensors are widened to
 * float32.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { decoderWeightShapes, type DecoderConfig } from '../onnx/decoder.ts';
import { readExactly } from '../storage/files.ts';
import { isFile } from './files.ts';
import { bfloat16ToFloat32, halfToFloat32 } from './float16.ts';

export interface TensorInfo {
  dtype: string;
  shape: number[];
  file: string;
  /** Absolute byte range in `file`. */
  begin: number;
  end: number;
}

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

async function readHeader(path: string): Promise<Map<string, TensorInfo>> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    if (size < 8) throw new Error(`${path} is not a safetensors file (shorter than its header length)`);
    const headerLength = Number(new DataView((await readExactly(handle, 8, 0, path)).buffer).getBigUint64(0, true));
    if (8 + headerLength > size) throw new Error(`${path} is not a safetensors file (bad header length)`);
    let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    try {
      header = JSON.parse(new TextDecoder().decode(await readExactly(handle, headerLength, 8, path)));
    } catch {
      throw new Error(`${path} is not a safetensors file (header is not JSON)`);
    }
    const tensors = new Map<string, TensorInfo>();
    for (const [name, entry] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const [begin, end] = entry.data_offsets;
      const base = 8 + headerLength;
      if (base + end > size || begin > end) throw new Error(`${path}: tensor ${name} lies outside the file (truncated download?)`);
      tensors.set(name, { dtype: entry.dtype, shape: entry.shape, file: path, begin: base + begin, end: base + end });
    }
    return tensors;
  } finally {
    await handle.close();
  }
}

export class CheckpointWeights {
  private readonly handles = new Map<string, FileHandle>();

  private constructor(
    readonly dir: string,
    /** The weight files, relative to `dir`: model.safetensors, or the index and the shards it names. */
    readonly files: readonly string[],
    readonly tensors: ReadonlyMap<string, TensorInfo>,
  ) {}

  /** True when `dir` holds Hugging Face safetensors weights. */
  static async present(dir: string): Promise<boolean> {
    return (await isFile(join(dir, 'model.safetensors'))) || (await isFile(join(dir, 'model.safetensors.index.json')));
  }

  static async open(dir: string): Promise<CheckpointWeights> {
    const index = join(dir, 'model.safetensors.index.json');
    /** The files to copy with the checkpoint; the safetensors among them hold the tensors. */
    let files: string[];
    let shards: string[];
    if (await isFile(join(dir, 'model.safetensors'))) files = shards = ['model.safetensors'];
    else if (await isFile(index)) {
      let map: Record<string, string>;
      try {
        map = (JSON.parse(await readFile(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map;
      } catch (error) {
        throw new Error(`${index} is not a safetensors index: ${(error as Error).message}`);
      }
      shards = [...new Set(Object.values(map))];
      for (const f of shards) if (!(await isFile(join(dir, f)))) throw new Error(`${index} names ${join(dir, f)}, which is missing`);
      files = ['model.safetensors.index.json', ...shards];
    } else {
      const bin = (await isFile(join(dir, 'pytorch_model.bin'))) || (await isFile(join(dir, 'pytorch_model.bin.index.json')));
      throw new Error(
        bin
          ? `${dir} has PyTorch .bin weights only: convert them to safetensors first (transformers: AutoModelForCausalLM.from_pretrained(dir).save_pretrained(dir, safe_serialization=True))`
          : `no model.safetensors or model.safetensors.index.json in ${dir}`,
      );
    }
    const tensors = new Map<string, TensorInfo>();
    for (const f of shards) for (const [name, info] of await readHeader(join(dir, f))) tensors.set(name, info);
    return new CheckpointWeights(dir, files, tensors);
  }

  /** The tensor as float32 (widened from F16/BF16). */
  async read(name: string): Promise<Float32Array> {
    const info = this.tensors.get(name);
    if (!info) throw new Error(`the checkpoint in ${this.dir} has no tensor ${name}`);
    const width = BYTES[info.dtype];
    if (!width) throw new Error(`tensor ${name} is ${info.dtype}; only F32, F16 and BF16 weights are supported`);
    const count = info.shape.reduce((a, b) => a * b, 1);
    if (count * width !== info.end - info.begin) throw new Error(`tensor ${name}: ${info.end - info.begin} bytes for shape [${info.shape.join(', ')}] in ${info.dtype}`);
    let handle = this.handles.get(info.file);
    if (!handle) {
      handle = await open(info.file, 'r');
      this.handles.set(info.file, handle);
    }
    const bytes = await readExactly(handle, info.end - info.begin, info.begin, `${info.file} (tensor ${name})`);
    if (info.dtype === 'F32') return new Float32Array(bytes.buffer);
    const halves = new Uint16Array(bytes.buffer);
    return info.dtype === 'BF16' ? bfloat16ToFloat32(halves) : halfToFloat32(halves);
  }

  async close(): Promise<void> {
    for (const handle of this.handles.values()) await handle.close();
    this.handles.clear();
  }
}

/** Tensors a checkpoint may hold that the decoder does not use: buffers some exporters save. */
const IGNORED = /(^|\.)rotary_emb\.inv_freq$/;

/**
 * Checks that the checkpoint has exactly the weights `config` calls for, with their shapes (a tied
 * lm_head.weight saved beside the embedding is allowed and ignored): anything else means the checkpoint
 * has parts this project would silently drop, so it is refused.
 */
export function checkCheckpointWeights(weights: CheckpointWeights, config: DecoderConfig): void {
  const expected = decoderWeightShapes(config);
  for (const [name, dims] of Object.entries(expected)) {
    const info = weights.tensors.get(name);
    if (!info) throw new Error(`the checkpoint in ${weights.dir} has no tensor ${name}, which its config.json calls for`);
    if (info.shape.join(',') !== dims.join(',')) throw new Error(`tensor ${name} has shape [${info.shape.join(', ')}]; config.json implies [${dims.join(', ')}]`);
  }
  const unexpected = [...weights.tensors.keys()].filter((n) => !(n in expected) && !IGNORED.test(n) && !(n === 'lm_head.weight' && config.tieWordEmbeddings));
  if (unexpected.length > 0) {
    throw new Error(`the checkpoint in ${weights.dir} has ${unexpected.length} tensor(s) a ${config.modelType} decoder does not use (${unexpected.slice(0, 3).join(', ')}${unexpected.length > 3 ? ', ...' : ''}): not a model this project can convert faithfully`);
  }
}

/** Every weight `config` calls for, in memory as float32 (for small models: the cpu engine). */
export async function readCheckpointWeights(dir: string, config: DecoderConfig): Promise<Record<string, Float32Array>> {
  const weights = await CheckpointWeights.open(dir);
  try {
    checkCheckpointWeights(weights, config);
    const out: Record<string, Float32Array> = {};
    for (const name of Object.keys(decoderWeightShapes(config))) out[name] = await weights.read(name);
    return out;
  } finally {
    await weights.close();
  }
}
