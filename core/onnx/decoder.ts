import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { float32ToHalf } from '../hf/float16.ts';
import { DataType, encodeModel, floatTensor, int64Tensor } from './proto.ts';
import type { AttributeValue, ModelProto, NodeProto, TensorProto, ValueInfo } from './proto.ts';

/**
 * Export of a Llama/Qwen2-style decoder to the layout HF optimum produces for
 * `text-generation-with-past`: inputs `input_ids`, `attention_mask`, `position_ids`,
 * `past_key_values.N.key/value`; outputs `logits`, `present.N.key/value`; `config.json` beside it.
 *
 * The graph uses only default-domain ONNX ops (opset 17) so that any runtime, ours and
 * transformers.js alike, runs it unchanged. Weights keep their HF names and HF layouts
 * (`[out_features, in_features]` for projections), so a trainer holding HF-named tensors can
 * export them as they are; the transposes in front of the MatMuls are constant-folded by
 * onnxruntime at load time.
 */

export interface DecoderConfig {
  modelType: 'llama' | 'qwen2' | 'qwen3';
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  /** Fewer than numAttentionHeads gives grouped-query attention. */
  numKeyValueHeads: number;
  /** Defaults to hiddenSize / numAttentionHeads. */
  headDim?: number;
  maxPositionEmbeddings: number;
  ropeTheta: number;
  /** RoPE frequency scaling (HF rope_type linear or llama3); null or absent: none. */
  ropeScaling?: RopeScaling | null;
  rmsNormEps: number;
  /** lm_head reuses model.embed_tokens.weight (no lm_head.weight tensor). */
  tieWordEmbeddings: boolean;
  /** Biases on q/k/v projections (Qwen2 has them, Llama does not). */
  attentionBias: boolean;
  /** Bias on o_proj (Llama and Qwen3 with attention_bias; never Qwen2). */
  outputBias?: boolean;
  /** Qwen3: an RMSNorm over each head's query and key (q_norm, k_norm: [headDim]) before RoPE. */
  qkNorm?: boolean;
  bosTokenId: number | null;
  eosTokenId: number | readonly number[];
  padTokenId?: number | null;
}

export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };

export const OPSET = 17;
/** ONNX IR version 8 is the one that goes with opset 17. */
const IR_VERSION = 8;
/** Additive mask value for forbidden positions: finite, so a fully masked (padding) row stays NaN-free. */
const MASK_MIN = -3.4028234663852886e38;

export function headDim(config: DecoderConfig): number {
  return config.headDim ?? config.hiddenSize / config.numAttentionHeads;
}

/**
 * RoPE inverse frequencies, as transformers computes them (`_compute_default_rope_parameters`, and the
 * linear / llama3 variants): float32 values, the exponent 2i/d rounded to float32 first as torch does.
 */
export function ropeInvFreq(config: DecoderConfig): Float32Array {
  const d = headDim(config);
  const inv = new Float32Array(d / 2);
  for (let i = 0; i < d / 2; i++) inv[i] = 1 / Math.fround(config.ropeTheta ** Math.fround((2 * i) / d));
  const scaling = config.ropeScaling;
  if (!scaling) return inv;
  if (scaling.type === 'linear') return inv.map((f) => f / scaling.factor);
  // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, the band between interpolated.
  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: context } = scaling;
  const lowFreqWavelen = context / lowFreqFactor;
  const highFreqWavelen = context / highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highFreqWavelen) return f;
    if (wavelen > lowFreqWavelen) return f / factor;
    const smooth = (context / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
    return (1 - smooth) * (f / factor) + smooth * f;
  });
}

/** Every weight the graph reads, by HF name, with its shape. */
export function decoderWeightShapes(config: DecoderConfig): Record<string, number[]> {
  const { hiddenSize: h, intermediateSize: ff, vocabSize: v } = config;
  const d = headDim(config);
  const qOut = config.numAttentionHeads * d;
  const kvOut = config.numKeyValueHeads * d;
  const shapes: Record<string, number[]> = { 'model.embed_tokens.weight': [v, h] };
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    shapes[`${p}.input_layernorm.weight`] = [h];
    shapes[`${p}.self_attn.q_proj.weight`] = [qOut, h];
    shapes[`${p}.self_attn.k_proj.weight`] = [kvOut, h];
    shapes[`${p}.self_attn.v_proj.weight`] = [kvOut, h];
    if (config.attentionBias) {
      shapes[`${p}.self_attn.q_proj.bias`] = [qOut];
      shapes[`${p}.self_attn.k_proj.bias`] = [kvOut];
      shapes[`${p}.self_attn.v_proj.bias`] = [kvOut];
    }
    if (config.qkNorm) {
      shapes[`${p}.self_attn.q_norm.weight`] = [d];
      shapes[`${p}.self_attn.k_norm.weight`] = [d];
    }
    shapes[`${p}.self_attn.o_proj.weight`] = [h, qOut];
    if (config.outputBias) shapes[`${p}.self_attn.o_proj.bias`] = [h];
    shapes[`${p}.post_attention_layernorm.weight`] = [h];
    shapes[`${p}.mlp.gate_proj.weight`] = [ff, h];
    shapes[`${p}.mlp.up_proj.weight`] = [ff, h];
    shapes[`${p}.mlp.down_proj.weight`] = [h, ff];
  }
  shapes['model.norm.weight'] = [h];
  if (!config.tieWordEmbeddings) shapes['lm_head.weight'] = [v, h];
  return shapes;
}

export function countParameters(config: DecoderConfig): number {
  return Object.values(decoderWeightShapes(config)).reduce((sum, dims) => sum + dims.reduce((a, b) => a * b, 1), 0);
}

function validateConfig(config: DecoderConfig): void {
  const d = headDim(config);
  const problems: string[] = [];
  if (!Number.isInteger(d) || d <= 0 || d % 2 !== 0) problems.push(`head_dim ${d} must be a positive even integer`);
  if (config.numAttentionHeads % config.numKeyValueHeads !== 0) {
    problems.push(`num_attention_heads ${config.numAttentionHeads} is not a multiple of num_key_value_heads ${config.numKeyValueHeads}`);
  }
  for (const key of ['vocabSize', 'hiddenSize', 'intermediateSize', 'numHiddenLayers', 'numAttentionHeads', 'numKeyValueHeads', 'maxPositionEmbeddings'] as const) {
    if (!Number.isInteger(config[key]) || config[key] <= 0) problems.push(`${key} must be a positive integer`);
  }
  if (problems.length > 0) throw new Error(`invalid decoder config: ${problems.join('; ')}`);
}

/** Small graph-building helper: unique value names, initializers, constants. */
class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private counter = 0;
  private readonly constants = new Map<string, string>();

  op(opType: string, inputs: readonly string[], attributes?: Record<string, AttributeValue>, outputName?: string): string {
    const id = this.counter++;
    const output = outputName ?? `/${opType.toLowerCase()}_${id}`;
    this.nodes.push({ opType, name: `${opType}_${id}`, inputs, outputs: [output], attributes });
    return output;
  }

  initializer(tensor: TensorProto): string {
    this.initializers.push(tensor);
    return tensor.name;
  }

  /** A shared int64 constant vector (shapes, axes, indices). */
  ints(values: readonly number[], scalar = false): string {
    const key = `i64:${scalar ? 's' : 'v'}:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `/const/${key}`;
      this.initializer(int64Tensor(name, scalar ? [] : [values.length], values));
      this.constants.set(key, name);
    }
    return name;
  }

  /** A shared float32 scalar constant. */
  float(value: number): string {
    const key = `f32:${value}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `/const/${key}`;
      this.initializer(floatTensor(name, [], new Float32Array([value])));
      this.constants.set(key, name);
    }
    return name;
  }
}

const ints = (value: readonly number[]): AttributeValue => ({ kind: 'ints', value });
const int = (value: number): AttributeValue => ({ kind: 'int', value });

/** The initializer that stores one weight (its bytes inline, or a reference into external data). */
type StoredWeight = (name: string, dims: readonly number[]) => TensorProto;

/** Checks that `weights` holds every tensor of decoderWeightShapes with the right number of values. */
function checkWeights(config: DecoderConfig, weights: Readonly<Record<string, Float32Array>>): void {
  for (const [name, dims] of Object.entries(decoderWeightShapes(config))) {
    const w = weights[name];
    if (!w) throw new Error(`missing weight ${name}`);
    const expected = dims.reduce((a, b) => a * b, 1);
    if (w.length !== expected) throw new Error(`weight ${name} has ${w.length} values; shape [${dims.join(', ')}] needs ${expected}`);
  }
}

/**
 * Builds the ONNX graph of the decoder. `weights` holds every tensor of decoderWeightShapes
 * (Float32Array, row-major, HF layout); the arrays are referenced, not copied, until encoding.
 */
export function buildDecoderModel(config: DecoderConfig, weights: Readonly<Record<string, Float32Array>>): Uint8Array {
  validateConfig(config);
  checkWeights(config, weights);
  return encodeModel(decoderGraph(config, (name, dims) => floatTensor(name, dims, weights[name]!), DataType.FLOAT));
}

/**
 * The decoder's ModelProto. `stored` makes the initializer of each weight; `storedType` is its element
 * type: FLOAT, or FLOAT16 (half the file; a Cast to float32 follows each weight, which onnxruntime folds
 * at load, so arithmetic stays float32).
 */
function decoderGraph(config: DecoderConfig, stored: StoredWeight, storedType: DataType): ModelProto {
  const shapes = decoderWeightShapes(config);
  const g = new GraphBuilder();
  const d = headDim(config);
  const nHeads = config.numAttentionHeads;
  const nKv = config.numKeyValueHeads;
  const nRep = nHeads / nKv;
  // Each weight is stored once (a tied embedding is read twice) and, when stored as half, cast once.
  const weightValues = new Map<string, string>();
  const weight = (name: string): string => {
    let value = weightValues.get(name);
    if (!value) {
      value = g.initializer(stored(name, shapes[name]!));
      if (storedType !== DataType.FLOAT) value = g.op('Cast', [value], { to: int(DataType.FLOAT) }, `${name}/float`);
      weightValues.set(name, value);
    }
    return value;
  };
  /** x @ W^T (+ b) for an HF `[out, in]` weight. */
  const linear = (x: string, name: string, bias?: string): string => {
    const y = g.op('MatMul', [x, g.op('Transpose', [weight(`${name}.weight`)], { perm: ints([1, 0]) })]);
    return bias ? g.op('Add', [y, weight(bias)]) : y;
  };
  /** RMSNorm in the Pow/ReduceMean/Add/Sqrt/Div/Mul form onnxruntime fuses into SimplifiedLayerNormalization. */
  const rmsNorm = (x: string, name: string): string => {
    const variance = g.op('ReduceMean', [g.op('Pow', [x, g.float(2)])], { axes: ints([-1]), keepdims: int(1) });
    const normed = g.op('Div', [x, g.op('Sqrt', [g.op('Add', [variance, g.float(config.rmsNormEps)])])]);
    return g.op('Mul', [normed, weight(name)]);
  };

  // Shared per-forward values: sequence lengths, RoPE tables and the additive attention bias.
  const seqLen = g.op('Gather', [g.op('Shape', ['input_ids']), g.ints([1], true)], { axis: int(0) });
  const totalLen = g.op('Gather', [g.op('Shape', ['attention_mask']), g.ints([1], true)], { axis: int(0) });
  const pastLen = g.op('Sub', [totalLen, seqLen]);

  const invFreqName = g.initializer(floatTensor('/rope/inv_freq', [d / 2], ropeInvFreq(config)));
  // freqs[b, s, i] = position_ids[b, s] * inv_freq[i]; unsqueezed to [B, 1, S, D/2] to broadcast over heads.
  const positions = g.op('Unsqueeze', [g.op('Cast', ['position_ids'], { to: int(DataType.FLOAT) }), g.ints([-1])]);
  const freqs = g.op('Unsqueeze', [g.op('Mul', [positions, invFreqName]), g.ints([1])]);
  const cos = g.op('Cos', [freqs]);
  const sin = g.op('Sin', [freqs]);
  /** HF rotate_half RoPE on [B, H, S, D]: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin). */
  const rope = (x: string): string => {
    const x1 = g.op('Slice', [x, g.ints([0]), g.ints([d / 2]), g.ints([-1])]);
    const x2 = g.op('Slice', [x, g.ints([d / 2]), g.ints([d]), g.ints([-1])]);
    const out1 = g.op('Sub', [g.op('Mul', [x1, cos]), g.op('Mul', [x2, sin])]);
    const out2 = g.op('Add', [g.op('Mul', [x2, cos]), g.op('Mul', [x1, sin])]);
    return g.op('Concat', [out1, out2], { axis: int(-1) });
  };

  // Query i sits at absolute index past + i; it may see key j when j <= past + i and
  // attention_mask[b, j] is 1. Left padding is just zeros at the start of the mask.
  const keyIdx = g.op('Range', [g.ints([0], true), totalLen, g.ints([1], true)]);
  const queryIdx = g.op('Range', [pastLen, totalLen, g.ints([1], true)]);
  const causal = g.op('LessOrEqual', [g.op('Unsqueeze', [keyIdx, g.ints([0])]), g.op('Unsqueeze', [queryIdx, g.ints([1])])]);
  const padding = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], { to: int(DataType.BOOL) }), g.ints([1, 2])]);
  const allowed = g.op('And', [causal, padding]);
  const attnBias = g.op('Where', [allowed, g.float(0), g.float(MASK_MIN)]);
  const scale = g.float(1 / Math.sqrt(d));

  let hidden = g.op('Gather', [weight('model.embed_tokens.weight'), 'input_ids'], { axis: int(0) });
  const pastInputs: ValueInfo[] = [];
  const presentOutputs: ValueInfo[] = [];
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    const bias = (proj: string) => (config.attentionBias ? `${p}.self_attn.${proj}.bias` : undefined);
    const x = rmsNorm(hidden, `${p}.input_layernorm.weight`);
    /** [B, S, heads*D] -> [B, heads, S, D] */
    const heads = (t: string, n: number) => g.op('Transpose', [g.op('Reshape', [t, g.ints([0, 0, n, d])])], { perm: ints([0, 2, 1, 3]) });
    // Qwen3 normalises each head's query and key over head_dim before RoPE.
    const qkNorm = (t: string, which: 'q_norm' | 'k_norm') => (config.qkNorm ? rmsNorm(t, `${p}.self_attn.${which}.weight`) : t);
    const q = g.op('Mul', [rope(qkNorm(heads(linear(x, `${p}.self_attn.q_proj`, bias('q_proj')), nHeads), 'q_norm')), scale]);
    const k = rope(qkNorm(heads(linear(x, `${p}.self_attn.k_proj`, bias('k_proj')), nKv), 'k_norm'));
    const v = heads(linear(x, `${p}.self_attn.v_proj`, bias('v_proj')), nKv);

    const pastKey = `past_key_values.${i}.key`;
    const pastValue = `past_key_values.${i}.value`;
    const presentKey = g.op('Concat', [pastKey, k], { axis: int(2) }, `present.${i}.key`);
    const presentValue = g.op('Concat', [pastValue, v], { axis: int(2) }, `present.${i}.value`);
    for (const name of [pastKey, pastValue]) pastInputs.push({ name, elemType: DataType.FLOAT, shape: ['batch_size', nKv, 'past_sequence_length', d] });
    for (const name of [presentKey, presentValue]) presentOutputs.push({ name, elemType: DataType.FLOAT, shape: ['batch_size', nKv, 'total_sequence_length', d] });

    // Grouped-query attention without repeating K/V: the nRep query heads that share a KV
    // head are stacked along the sequence axis ([B, nKv, nRep*S, D]), one MatMul per KV head.
    const grouped = (t: string) => (nRep === 1 ? t : g.op('Reshape', [t, g.ints([0, nKv, -1, 0])]));
    const perHead = (t: string) => (nRep === 1 ? t : g.op('Reshape', [t, g.ints([0, nHeads, -1, 0])]));
    const keyT = g.op('Transpose', [presentKey], { perm: ints([0, 1, 3, 2]) });
    const scores = g.op('Add', [perHead(g.op('MatMul', [grouped(q), keyT])), attnBias]);
    const probs = g.op('Softmax', [scores], { axis: int(-1) });
    const context = perHead(g.op('MatMul', [grouped(probs), presentValue]));
    const merged = g.op('Reshape', [g.op('Transpose', [context], { perm: ints([0, 2, 1, 3]) }), g.ints([0, 0, nHeads * d])]);
    hidden = g.op('Add', [hidden, linear(merged, `${p}.self_attn.o_proj`, config.outputBias ? `${p}.self_attn.o_proj.bias` : undefined)]);

    const y = rmsNorm(hidden, `${p}.post_attention_layernorm.weight`);
    const gate = linear(y, `${p}.mlp.gate_proj`);
    const silu = g.op('Mul', [gate, g.op('Sigmoid', [gate])]);
    hidden = g.op('Add', [hidden, linear(g.op('Mul', [silu, linear(y, `${p}.mlp.up_proj`)]), `${p}.mlp.down_proj`)]);
  }
  const final = rmsNorm(hidden, 'model.norm.weight');
  g.op('MatMul', [final, g.op('Transpose', [weight(config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight')], { perm: ints([1, 0]) })], undefined, 'logits');

  return {
    irVersion: IR_VERSION,
    opsetImports: [{ domain: '', version: OPSET }],
    producerName: 'cir',
    producerVersion: '0.1.0',
    graph: {
      name: `${config.modelType}_decoder`,
      nodes: g.nodes,
      initializers: g.initializers,
      inputs: [
        { name: 'input_ids', elemType: DataType.INT64, shape: ['batch_size', 'sequence_length'] },
        { name: 'attention_mask', elemType: DataType.INT64, shape: ['batch_size', 'total_sequence_length'] },
        { name: 'position_ids', elemType: DataType.INT64, shape: ['batch_size', 'sequence_length'] },
        ...pastInputs,
      ],
      outputs: [{ name: 'logits', elemType: DataType.FLOAT, shape: ['batch_size', 'sequence_length', config.vocabSize] }, ...presentOutputs],
    },
  };
}

const ARCHITECTURE = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' } as const;

/** config.json's `rope_scaling` (the transformers 4 spelling, which transformers 5 reads too). */
function ropeScalingJson(scaling: RopeScaling | null | undefined): Record<string, unknown> | null {
  if (!scaling) return null;
  if (scaling.type === 'linear') return { rope_type: 'linear', factor: scaling.factor };
  return {
    rope_type: 'llama3',
    factor: scaling.factor,
    low_freq_factor: scaling.lowFreqFactor,
    high_freq_factor: scaling.highFreqFactor,
    original_max_position_embeddings: scaling.originalMaxPositionEmbeddings,
  };
}

/** HF `config.json` for the decoder. */
export function hfConfigJson(config: DecoderConfig): Record<string, unknown> {
  return {
    architectures: [ARCHITECTURE[config.modelType]],
    model_type: config.modelType,
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numHiddenLayers,
    num_attention_heads: config.numAttentionHeads,
    num_key_value_heads: config.numKeyValueHeads,
    head_dim: headDim(config),
    max_position_embeddings: config.maxPositionEmbeddings,
    rope_theta: config.ropeTheta,
    rope_scaling: ropeScalingJson(config.ropeScaling),
    rms_norm_eps: config.rmsNormEps,
    tie_word_embeddings: config.tieWordEmbeddings,
    attention_bias: config.attentionBias,
    hidden_act: 'silu',
    bos_token_id: config.bosTokenId,
    eos_token_id: config.eosTokenId,
    pad_token_id: config.padTokenId ?? null,
    torch_dtype: 'float32',
    use_cache: true,
  };
}

/** Where the weights come from: in memory, or read one tensor at a time (a checkpoint larger than memory). */
export type DecoderWeights = Readonly<Record<string, Float32Array>> | { read(name: string): Promise<Float32Array> };

const isWeightReader = (w: DecoderWeights): w is { read(name: string): Promise<Float32Array> } => typeof (w as { read?: unknown }).read === 'function';

export interface OnnxWriteOptions {
  /** Element type the weights are stored in: fp32 (default) or fp16 (half the size; computed in float32). */
  dtype?: 'fp32' | 'fp16';
  /**
   * Store the weights in `model.onnx_data` beside `model.onnx` (ONNX external data) instead of inside it.
   * Default: when they pass EXTERNAL_DATA_THRESHOLD, since protobuf cannot hold a file over 2 GiB.
   */
  externalData?: boolean;
}

/** Weights past this many bytes go to external data by default. */
export const EXTERNAL_DATA_THRESHOLD = 1024 ** 3;
export const EXTERNAL_DATA_FILE = 'model.onnx_data';
/** Tensors in external data start at multiples of this, so the runtime can map them straight from the file. */
const EXTERNAL_ALIGNMENT = 4096;

/**
 * Writes the decoder graph as `model.onnx` in `outDir` (created if needed), with the weights inside it or
 * in `model.onnx_data`, reading (and converting) one weight at a time. Returns the files written.
 */
export async function writeDecoderOnnx(config: DecoderConfig, weights: DecoderWeights, outDir: string, options: OnnxWriteOptions = {}): Promise<string[]> {
  validateConfig(config);
  const shapes = decoderWeightShapes(config);
  const half = options.dtype === 'fp16';
  const read = async (name: string): Promise<Uint8Array> => {
    const values = isWeightReader(weights) ? await weights.read(name) : weights[name];
    if (!values) throw new Error(`missing weight ${name}`);
    const expected = shapes[name]!.reduce((a, b) => a * b, 1);
    if (values.length !== expected) throw new Error(`weight ${name} has ${values.length} values; shape [${shapes[name]!.join(', ')}] needs ${expected}`);
    const stored = half ? float32ToHalf(values) : values;
    return new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
  };
  const bytes = Object.values(shapes).reduce((n, dims) => n + dims.reduce((a, b) => a * b, 1) * (half ? 2 : 4), 0);
  const external = options.externalData ?? bytes > EXTERNAL_DATA_THRESHOLD;
  const dataType = half ? DataType.FLOAT16 : DataType.FLOAT;
  await mkdir(outDir, { recursive: true });
  const placed = new Map<string, TensorProto['raw']>();
  if (external) {
    const file = await open(join(outDir, EXTERNAL_DATA_FILE), 'w');
    try {
      let offset = 0;
      for (const name of Object.keys(shapes)) {
        const data = await read(name);
        placed.set(name, { location: EXTERNAL_DATA_FILE, offset, length: data.length });
        const padded = Math.ceil(data.length / EXTERNAL_ALIGNMENT) * EXTERNAL_ALIGNMENT;
        await file.write(data, 0, data.length, offset);
        offset += padded;
      }
      await file.truncate(offset);
    } finally {
      await file.close();
    }
  } else {
    await rm(join(outDir, EXTERNAL_DATA_FILE), { force: true });
    for (const name of Object.keys(shapes)) placed.set(name, await read(name));
  }
  const model = decoderGraph(config, (name, dims) => ({ name, dataType, dims, raw: placed.get(name)! }), dataType);
  await writeFile(join(outDir, 'model.onnx'), encodeModel(model));
  return external ? ['model.onnx', EXTERNAL_DATA_FILE] : ['model.onnx'];
}

/** HF `generation_config.json` for the decoder (its special tokens). */
export function hfGenerationConfigJson(config: DecoderConfig): Record<string, unknown> {
  return { bos_token_id: config.bosTokenId, eos_token_id: config.eosTokenId, pad_token_id: config.padTokenId ?? null };
}

/**
 * Writes `model.onnx`, `config.json` and `generation_config.json` into `outDir` (created if
 * needed). Tokenizer files are written separately (see bpe.ts), since a trainer re-exporting
 * weights keeps the tokenizer it started with.
 */
export async function exportDecoder(config: DecoderConfig, weights: Readonly<Record<string, Float32Array>>, outDir: string): Promise<void> {
  await writeDecoderOnnx(config, weights, outDir);
  await writeFile(join(outDir, 'config.json'), `${JSON.stringify(hfConfigJson(config), null, 2)}\n`);
  await writeFile(join(outDir, 'generation_config.json'), `${JSON.stringify(hfGenerationConfigJson(config), null, 2)}\n`);
}
