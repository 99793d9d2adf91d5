import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import type { KvBlock, KvGeometry } from './kv-cache.ts';

/**
 * One onnxruntime session over a decoder in the HF optimum layout, and the forward pass the
 * generation engine runs on it. `open` checks the layout up front (names, dtypes, layer count)
 * so a wrong file fails at load with the offending input named, not mid-generation.
 */

export interface DecoderLayout extends KvGeometry {
  vocabSize: number;
  /** Older exports compute positions from the mask and have no position_ids input. */
  hasPositionIds: boolean;
}

export interface ForwardInput {
  batch: number;
  seqLen: number;
  /** [batch, seqLen] */
  inputIds: BigInt64Array;
  /** [batch, seqLen]; ignored by models without a position_ids input. */
  positionIds: BigInt64Array;
  /** [batch, past.length + seqLen]: 1 for real tokens, 0 for padding. */
  attentionMask: BigInt64Array;
  /** [batch, ...] KV of the tokens before inputIds. */
  past: KvBlock;
}

export interface ForwardOutput {
  /** [batch, seqLen, vocab] */
  logits: Float32Array;
  /** past + inputIds, [batch, ..., past.length + seqLen, ...] */
  present: KvBlock;
}

/** Fallbacks for what the graph's metadata leaves symbolic, from config.json. */
export interface LayoutHints {
  numKvHeads?: number;
  headDim?: number;
  vocabSize?: number;
}

export interface SessionOptions {
  /** Intra-op threads; default: see threadPolicy. */
  threads?: number;
  /** Whether idle intra-op threads spin waiting for work; default: see threadPolicy. */
  spinning?: boolean;
}

/** Hosts with at most this many cores count as small: the model shares them with the sandboxes. */
export const SMALL_HOST_CORES = 4;

/**
 * The intra-op threads a session gets unless told otherwise. On a small host, one thread and
 * no spinning: on 2 shared cores a second onnxruntime thread bought at most 1.11x the decode
 * speed (and in other runs lost up to half of it) for 1.25-1.85x the CPU per token, CPU the
 * sandboxes need (`npm run bench models` measures 1 thread against 2, spinning and not). On
 * larger hosts, onnxruntime's own choice (one thread per physical core, spinning), which is not
 * measured here. `threads` and `spinning` override either part.
 */
export function threadPolicy(options: SessionOptions, cores = availableParallelism()): { threads: number | undefined; spinning: boolean | undefined } {
  const small = cores <= SMALL_HOST_CORES;
  return {
    threads: options.threads ?? (small ? 1 : undefined),
    spinning: options.spinning ?? (small ? false : undefined),
  };
}

let openSessions = 0;

/** Sessions currently open in this process (they hold the model's weights in native memory). */
export function openDecoderSessions(): number {
  return openSessions;
}

type ValueMetadata = ort.InferenceSession.ValueMetadata;

const INT64_INPUTS = new Set(['input_ids', 'attention_mask', 'position_ids']);

/** Checks names and dtypes; returns the layer count, or a sentence saying what is wrong. */
function checkLayout(inputs: readonly ValueMetadata[], outputs: readonly ValueMetadata[]): string | { numLayers: number } {
  const inputNames = inputs.map((m) => m.name);
  const outputNames = outputs.map((m) => m.name);
  const listing = `(inputs: ${inputNames.join(', ')}; outputs: ${outputNames.join(', ')})`;
  for (const required of ['input_ids', 'attention_mask']) {
    if (!inputNames.includes(required)) return `missing input '${required}' ${listing}`;
  }
  if (!outputNames.includes('logits')) return `missing output 'logits' ${listing}`;
  let numLayers = 0;
  while (inputNames.includes(`past_key_values.${numLayers}.key`)) numLayers++;
  if (numLayers === 0) return `no 'past_key_values.0.key' input: not a decoder exported with past key values ${listing}`;
  const pastNames = new Set<string>();
  for (let i = 0; i < numLayers; i++) {
    for (const kind of ['key', 'value']) {
      if (!inputNames.includes(`past_key_values.${i}.${kind}`)) return `missing input 'past_key_values.${i}.${kind}' ${listing}`;
      if (!outputNames.includes(`present.${i}.${kind}`)) return `missing output 'present.${i}.${kind}' ${listing}`;
      pastNames.add(`past_key_values.${i}.${kind}`);
    }
  }
  const extra = inputNames.filter((n) => !INT64_INPUTS.has(n) && !pastNames.has(n));
  if (extra.length > 0) return `unsupported input${extra.length > 1 ? 's' : ''} ${extra.map((n) => `'${n}'`).join(', ')} ${listing}`;
  const used = [...inputs, ...outputs].filter((m) => m.name === 'logits' || m.name.startsWith('present.') || INT64_INPUTS.has(m.name) || pastNames.has(m.name));
  for (const m of used) {
    const expected = INT64_INPUTS.has(m.name) ? 'int64' : 'float32';
    const type = m.isTensor ? m.type : 'not a tensor';
    if (type !== expected) return `'${m.name}' is ${type}, expected ${expected} (only float32 models are supported)`;
  }
  return { numLayers };
}

/** A fixed dimension from graph metadata, if the export recorded one. */
function fixedDim(meta: ValueMetadata | undefined, axis: number): number | undefined {
  if (!meta?.isTensor) return undefined;
  const dim = meta.shape[axis];
  return typeof dim === 'number' && dim > 0 ? dim : undefined;
}

function inspectLayout(session: ort.InferenceSession, modelPath: string, hints: LayoutHints): DecoderLayout {
  const checked = checkLayout(session.inputMetadata, session.outputMetadata);
  if (typeof checked === 'string') throw new Error(`${modelPath} is not a decoder in the expected layout: ${checked}`);
  const byName = (list: readonly ValueMetadata[], name: string) => list.find((m) => m.name === name);
  const pastKey = byName(session.inputMetadata, 'past_key_values.0.key');
  const layout: DecoderLayout = {
    numLayers: checked.numLayers,
    numKvHeads: fixedDim(pastKey, 1) ?? hints.numKvHeads ?? 0,
    headDim: fixedDim(pastKey, 3) ?? hints.headDim ?? 0,
    vocabSize: fixedDim(byName(session.outputMetadata, 'logits'), 2) ?? hints.vocabSize ?? 0,
    hasPositionIds: session.inputNames.includes('position_ids'),
  };
  for (const key of ['numKvHeads', 'headDim', 'vocabSize'] as const) {
    if (!(layout[key] > 0)) throw new Error(`${modelPath}: cannot tell ${key} from the graph, and config.json does not give it`);
  }
  return layout;
}

export class DecoderSession {
  private released = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly layout: DecoderLayout,
  ) {}

  static async open(modelPath: string, hints: LayoutHints, options: SessionOptions = {}): Promise<DecoderSession> {
    const info = await stat(modelPath).catch(() => undefined);
    if (!info?.isFile()) throw new Error(`model file not found: ${modelPath}`);
    const { threads, spinning } = threadPolicy(options);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(modelPath, {
        graphOptimizationLevel: 'all',
        executionMode: 'sequential',
        // Memory patterns are planned per input shape, and decoding changes the shape (one more
        // past position) every step: the planning then costs more than a small model's whole
        // forward (0.9 ms vs 0.25 ms per step on the tiny fixture). Re-measured on model/default
        // (paired runs, 2 loaded cores): no consistent gain from turning it on (0.89x and 1.00x
        // the step time at batch 1), and onnxruntime keeps every shape's plan. The arena stays on.
        enableMemPattern: false,
        ...(threads ? { intraOpNumThreads: threads } : {}),
        ...(spinning !== undefined && { extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } } }),
      });
    } catch (error) {
      throw new Error(`cannot load ONNX model ${modelPath}: ${(error as Error).message}`);
    }
    openSessions++;
    try {
      return new DecoderSession(session, inspectLayout(session, modelPath, hints));
    } catch (error) {
      openSessions--;
      await session.release();
      throw error;
    }
  }

  async forward(input: ForwardInput): Promise<ForwardOutput> {
    if (this.released) throw new Error('the model session has been released');
    const { batch, seqLen, past } = input;
    const { numLayers, numKvHeads, headDim, vocabSize } = this.layout;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', input.inputIds, [batch, seqLen]),
      attention_mask: new ort.Tensor('int64', input.attentionMask, [batch, past.length + seqLen]),
    };
    if (this.layout.hasPositionIds) feeds.position_ids = new ort.Tensor('int64', input.positionIds, [batch, seqLen]);
    const pastDims = [batch, numKvHeads, past.length, headDim];
    for (let i = 0; i < numLayers; i++) {
      feeds[`past_key_values.${i}.key`] = new ort.Tensor('float32', past.data[2 * i]!, pastDims);
      feeds[`past_key_values.${i}.value`] = new ort.Tensor('float32', past.data[2 * i + 1]!, pastDims);
    }
    const out = await this.session.run(feeds);
    const logits = out.logits!;
    if (logits.dims[2] !== vocabSize) throw new Error(`model returned logits of shape [${logits.dims.join(', ')}], expected vocab ${vocabSize}`);
    const data: Float32Array[] = [];
    for (let i = 0; i < numLayers; i++) {
      data.push(out[`present.${i}.key`]!.data as Float32Array, out[`present.${i}.value`]!.data as Float32Array);
    }
    return { logits: logits.data as Float32Array, present: { batch, length: past.length + seqLen, data } };
  }

  /** Frees the native session. Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    openSessions--;
    await this.session.release();
  }
}
