/**
 * The `cpu` engine: trains a small decoder in-process. Weights live in one flat Float32Array
 * (params.ts); forward/backward are hand-derived for the exported architecture (decoder.ts), with
 * matrix products, attention and SwiGLU on onnxruntime's CPU kernels (gemm.ts, attention.ts,
 * swiglu.ts); AdamW updates in place (adamw.ts).
 */
import { availableParallelism } from 'node:os';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkTokenizerDir } from '../../../core/hf/files.ts';
import type { DecoderConfig } from '../../../core/onnx/decoder.ts';
import { aggregationWeights, policyLoss } from '../../algorithms/policy-loss.ts';
import { DEFAULT_POLICY_LOSS, type PolicyLossConfig } from '../../algorithms/types.ts';
import type { SupervisedSequence, TrainBatch, TrainSample } from '../../batch/types.ts';
import { readModelDir, writeModelDir } from '../model-dir.ts';
import { DEFAULT_OPTIMIZER, type Engine, type EngineInit, type EngineOptions, type LogprobRequest, type OptimizerConfig, type RlStepMetrics, type SupervisedStepMetrics } from '../types.ts';
import { AdamW } from './adamw.ts';
import { DecoderModel, type PackedBatch } from './decoder.ts';
import { AttentionKernel } from './attention.ts';
import { Gemm } from './gemm.ts';
import { SwigluKernel } from './swiglu.ts';
import { ParamLayout } from './params.ts';

/** Default tokens per forward/backward pass. */
const DEFAULT_MICRO_BATCH_TOKENS = 4096;
const STATE_FILE = 'optimizer.json';
const MOMENTS_FILE = 'optimizer.bin';
const STATE_VERSION = 1;

/**
 * Groups item indices into micro-batches of at most `budget` tokens (an item longer than the budget
 * gets one of its own). Items are taken longest first, so a micro-batch holds sequences of similar
 * length and attention's padding to the longest stays small; the result does not depend on order.
 */
export function chunkByTokens(lengths: readonly number[], budget: number): number[][] {
  const chunks: number[][] = [];
  let current: number[] = [];
  let tokens = 0;
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  order.forEach((i) => {
    const length = lengths[i]!;
    if (current.length > 0 && tokens + length > budget) {
      chunks.push(current);
      current = [];
      tokens = 0;
    }
    current.push(i);
    tokens += length;
  });
  if (current.length > 0) chunks.push(current);
  return chunks;
}

interface ScoredSequence {
  ids: Int32Array | readonly number[];
  /** Positions i (≥ 1) whose token ids[i] is scored. */
  positions: readonly number[];
  invTemperature: number;
}

function pack(sequences: readonly ScoredSequence[]): PackedBatch {
  const total = sequences.reduce((s, q) => s + q.ids.length, 0);
  const rowsCount = sequences.reduce((s, q) => s + q.positions.length, 0);
  const batch: PackedBatch = {
    ids: new Int32Array(total),
    starts: new Int32Array(sequences.length + 1),
    rows: new Int32Array(rowsCount),
    targets: new Int32Array(rowsCount),
    invTemperature: new Float32Array(rowsCount),
  };
  let offset = 0;
  let r = 0;
  sequences.forEach((q, s) => {
    batch.starts[s] = offset;
    batch.ids.set(q.ids, offset);
    for (const i of q.positions) {
      batch.rows[r] = offset + i - 1;
      batch.targets[r] = q.ids[i]!;
      batch.invTemperature[r] = q.invTemperature;
      r++;
    }
    offset += q.ids.length;
  });
  batch.starts[sequences.length] = offset;
  return batch;
}

function checkSample(sample: TrainSample, index: number): void {
  const R = sample.lossMask.length;
  const where = `batch sample ${index} (${sample.id})`;
  if (sample.promptLength < 1) throw new RangeError(`${where}: promptLength must be at least 1 (the first response token needs a context)`);
  if (sample.inputIds.length !== sample.promptLength + R) {
    throw new RangeError(`${where}: inputIds has ${sample.inputIds.length} tokens, promptLength + lossMask.length is ${sample.promptLength + R}`);
  }
  for (const key of ['oldLogprobs', 'advantages'] as const) {
    if (sample[key].length !== R) throw new RangeError(`${where}: ${key} has ${sample[key].length} entries, lossMask has ${R}`);
  }
  if (sample.refLogprobs && sample.refLogprobs.length !== R) throw new RangeError(`${where}: refLogprobs has ${sample.refLogprobs.length} entries, lossMask has ${R}`);
  if (!(sample.temperature > 0)) throw new RangeError(`${where}: temperature must be > 0, got ${sample.temperature}`);
}

export interface CpuEngineOptions extends EngineOptions {
  /** Where the linear layers' products run: onnxruntime's CPU kernels (default) or plain JavaScript (the benchmark's baseline). */
  matmul?: 'onnxruntime' | 'js';
}

export class CpuEngine implements Engine {
  private disposed = false;
  private readonly grads: Float32Array;

  private constructor(
    readonly config: DecoderConfig,
    private readonly layout: ParamLayout,
    private readonly params: Float32Array,
    private readonly model: DecoderModel,
    private readonly kernels: { gemm: Gemm; attention: AttentionKernel; swiglu: SwigluKernel },
    private readonly optimizer: AdamW,
    private readonly policy: PolicyLossConfig,
    private readonly microBatchTokens: number,
    private readonly tokenizerDir: string,
  ) {
    this.grads = new Float32Array(layout.size);
  }

  static async create(init: EngineInit, options: CpuEngineOptions = {}): Promise<CpuEngine> {
    let layout: ParamLayout;
    let params: Float32Array;
    let tokenizerDir: string;
    if (init.kind === 'model-dir') {
      const { config, weights } = await readModelDir(init.dir);
      layout = new ParamLayout(config);
      params = layout.pack(weights);
      tokenizerDir = init.dir;
    } else {
      layout = new ParamLayout(init.config);
      params = layout.random(init.seed, init.initStd);
      tokenizerDir = init.tokenizerDir;
    }
    await checkTokenizerDir(tokenizerDir);
    const config = layout.config;
    const optimizer: OptimizerConfig = { ...DEFAULT_OPTIMIZER, ...options.optimizer };
    const policy: PolicyLossConfig = { ...DEFAULT_POLICY_LOSS, ...options.policyLoss };
    const microBatchTokens = options.microBatchTokens ?? DEFAULT_MICRO_BATCH_TOKENS;
    const threads = options.threads ?? availableParallelism();
    for (const [name, value] of Object.entries({ microBatchTokens, threads })) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
    const [gemm, attention, swiglu] = await Promise.allSettled([
      Gemm.create(threads, options.matmul === 'js' ? { jsBelow: Infinity } : {}),
      AttentionKernel.create(threads),
      SwigluKernel.create(config.intermediateSize, threads),
    ]);
    if (gemm.status === 'rejected' || attention.status === 'rejected' || swiglu.status === 'rejected') {
      const failed = [gemm, attention, swiglu].find((r) => r.status === 'rejected') as PromiseRejectedResult;
      await Promise.all([gemm, attention, swiglu].map((r) => (r.status === 'fulfilled' ? r.value.release() : undefined)));
      throw failed.reason;
    }
    const kernels = { gemm: gemm.value, attention: attention.value, swiglu: swiglu.value };
    const model = new DecoderModel(layout, kernels.gemm, kernels.attention, kernels.swiglu);
    return new CpuEngine(config, layout, params, model, kernels, new AdamW(layout, optimizer), policy, microBatchTokens, tokenizerDir);
  }

  get optimizerSteps(): number {
    return this.optimizer.step;
  }

  async step(batch: TrainBatch, options: { lr?: number } = {}): Promise<RlStepMetrics> {
    this.checkUsable();
    const started = performance.now();
    const samples = batch.samples;
    samples.forEach(checkSample);
    const weights = aggregationWeights(samples.map((s) => s.lossMask), this.policy.lossAggregation, this.policy.lossNormTokens);
    const lossTokens = weights.reduce((n, w) => n + w.reduce((c, v) => c + (v > 0 ? 1 : 0), 0), 0);
    if (lossTokens === 0) throw new RangeError('the batch has no loss tokens (every lossMask is 0): nothing to train on');
    if (this.policy.klCoef > 0 && samples.some((s) => !s.refLogprobs)) throw new RangeError('klCoef > 0 needs refLogprobs on every sample');

    this.grads.fill(0);
    const sums = { loss: 0, pg: 0, kl: 0, tokens: 0, clipped: 0, clippedLower: 0, approxKl: 0, entropy: 0, klSum: 0 };
    let fed = 0;
    for (const chunk of chunkByTokens(samples.map((s) => s.inputIds.length), this.microBatchTokens)) {
      // Scored rows are the response tokens in the loss; gather their per-token inputs in the same order.
      const scored: ScoredSequence[] = [];
      const old: number[] = [];
      const adv: number[] = [];
      const w: number[] = [];
      const ref: number[] = [];
      for (const i of chunk) {
        const s = samples[i]!;
        const positions: number[] = [];
        for (let t = 0; t < s.lossMask.length; t++) {
          if (weights[i]![t] === 0) continue;
          positions.push(s.promptLength + t);
          old.push(s.oldLogprobs[t]!);
          adv.push(s.advantages[t]!);
          w.push(weights[i]![t]!);
          ref.push(s.refLogprobs?.[t] ?? 0);
        }
        scored.push({ ids: s.inputIds, positions, invTemperature: 1 / s.temperature });
      }
      const packed = pack(scored);
      fed += packed.ids.length;
      if (packed.rows.length === 0) continue;
      const out = await this.model.forward(this.params, packed, true);
      const terms = policyLoss(
        { logprobs: out.logprobs, oldLogprobs: old, advantages: adv, weights: w, entropies: out.entropies, refLogprobs: this.policy.klCoef > 0 ? ref : undefined },
        this.policy,
      );
      await this.model.backward(this.params, this.grads, out.cache, terms.gradLogprobs, terms.gradEntropies);
      sums.loss += terms.loss;
      sums.pg += terms.pgLoss;
      sums.kl += terms.klLoss;
      sums.tokens += terms.tokens;
      sums.clipped += terms.clipped;
      sums.clippedLower += terms.clippedLower;
      sums.approxKl += terms.approxKlSum;
      sums.entropy += terms.entropySum;
      sums.klSum += terms.klSum;
    }
    const lr = options.lr ?? this.optimizer.config.lr;
    const gradNorm = this.optimizer.clipGradients(this.grads);
    if (!Number.isFinite(gradNorm)) throw new Error('non-finite gradient: the step was not applied');
    this.optimizer.update(this.params, this.grads, lr);
    await this.kernels.gemm.weightsChanged();
    return {
      loss: sums.loss,
      pg_loss: sums.pg,
      pg_clipfrac: sums.clipped / sums.tokens,
      pg_clipfrac_lower: sums.clippedLower / sums.tokens,
      ppo_kl: sums.approxKl / sums.tokens,
      entropy: sums.entropy / sums.tokens,
      kl: sums.klSum / sums.tokens,
      grad_norm: gradNorm,
      lr,
      loss_tokens: sums.tokens,
      tokens: fed,
      seconds: (performance.now() - started) / 1000,
    };
  }

  async supervisedStep(sequences: readonly SupervisedSequence[], options: { lr?: number } = {}): Promise<SupervisedStepMetrics> {
    this.checkUsable();
    const started = performance.now();
    const scored: ScoredSequence[] = sequences.map((seq, index) => {
      if (seq.lossMask.length !== seq.ids.length) throw new RangeError(`sequence ${index}: lossMask has ${seq.lossMask.length} entries, ids has ${seq.ids.length}`);
      const positions: number[] = [];
      for (let i = 1; i < seq.ids.length; i++) if (seq.lossMask[i]) positions.push(i);
      return { ids: seq.ids, positions, invTemperature: 1 };
    });
    const total = scored.reduce((n, s) => n + s.positions.length, 0);
    if (total === 0) throw new RangeError('no loss tokens in the supervised batch (every lossMask is 0)');
    this.grads.fill(0);
    let nll = 0;
    let hits = 0;
    let fed = 0;
    for (const chunk of chunkByTokens(scored.map((s) => s.ids.length), this.microBatchTokens)) {
      const packed = pack(chunk.map((i) => scored[i]!));
      fed += packed.ids.length;
      if (packed.rows.length === 0) continue;
      const out = await this.model.forward(this.params, packed, true);
      for (let r = 0; r < out.logprobs.length; r++) {
        nll -= out.logprobs[r]!;
        hits += out.argmaxHits[r]!;
      }
      // Token-mean cross-entropy: d(-Σ logp / total) / d logp = -1 / total.
      await this.model.backward(this.params, this.grads, out.cache, new Float32Array(packed.rows.length).fill(-1 / total), new Float32Array(packed.rows.length));
    }
    const lr = options.lr ?? this.optimizer.config.lr;
    const gradNorm = this.optimizer.clipGradients(this.grads);
    if (!Number.isFinite(gradNorm)) throw new Error('non-finite gradient: the step was not applied');
    this.optimizer.update(this.params, this.grads, lr);
    await this.kernels.gemm.weightsChanged();
    return { loss: nll / total, accuracy: hits / total, grad_norm: gradNorm, lr, loss_tokens: total, tokens: fed, seconds: (performance.now() - started) / 1000 };
  }

  async logprobs(requests: readonly LogprobRequest[]): Promise<Float32Array[]> {
    this.checkUsable();
    const scored: ScoredSequence[] = requests.map((req, index) => {
      const from = req.from ?? 1;
      const temperature = req.temperature ?? 1;
      if (!Number.isInteger(from) || from < 1 || from > req.ids.length) throw new RangeError(`request ${index}: from must be an integer in [1, ${req.ids.length}], got ${from}`);
      if (!(temperature > 0)) throw new RangeError(`request ${index}: temperature must be > 0, got ${temperature}`);
      return { ids: req.ids, positions: Array.from({ length: req.ids.length - from }, (_, k) => from + k), invTemperature: 1 / temperature };
    });
    const results: Float32Array[] = new Array(requests.length);
    for (const chunk of chunkByTokens(scored.map((s) => s.ids.length), this.microBatchTokens)) {
      const sequences = chunk.map((i) => scored[i]!);
      const out = await this.model.forward(this.params, pack(sequences), false);
      let r = 0;
      chunk.forEach((i, k) => {
        const n = sequences[k]!.positions.length;
        results[i] = out.logprobs.slice(r, r + n);
        r += n;
      });
    }
    return results;
  }

  async exportOnnx(dir: string): Promise<string[]> {
    this.checkUsable();
    return writeModelDir(this.config, this.layout.named(this.params), dir, this.tokenizerDir);
  }

  async saveState(dir: string): Promise<void> {
    this.checkUsable();
    await mkdir(dir, { recursive: true });
    const { m, v } = this.optimizer;
    const moments = new Uint8Array(m.byteLength + v.byteLength);
    moments.set(new Uint8Array(m.buffer, m.byteOffset, m.byteLength), 0);
    moments.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), m.byteLength);
    await writeFile(join(dir, MOMENTS_FILE), moments);
    const state = { version: STATE_VERSION, engine: 'cpu', step: this.optimizer.step, signature: this.layout.signature() };
    await writeFile(join(dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
  }

  async loadState(dir: string): Promise<void> {
    this.checkUsable();
    let state: { version?: unknown; engine?: unknown; step?: unknown; signature?: unknown };
    try {
      state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8'));
    } catch (error) {
      throw new Error(`cannot read optimizer state ${join(dir, STATE_FILE)}: ${(error as Error).message}`);
    }
    if (state.version !== STATE_VERSION || state.engine !== 'cpu') throw new Error(`${join(dir, STATE_FILE)} is not cpu-engine optimizer state version ${STATE_VERSION}`);
    if (state.signature !== this.layout.signature()) {
      throw new Error(`optimizer state is for architecture ${String(state.signature)}, this engine trains ${this.layout.signature()}`);
    }
    if (!Number.isSafeInteger(state.step) || (state.step as number) < 0) throw new Error(`${join(dir, STATE_FILE)}: invalid step`);
    const bytes = await readFile(join(dir, MOMENTS_FILE));
    const { m, v } = this.optimizer;
    if (bytes.byteLength !== m.byteLength + v.byteLength) throw new Error(`${join(dir, MOMENTS_FILE)} has ${bytes.byteLength} bytes, expected ${m.byteLength + v.byteLength}`);
    const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    m.set(floats.subarray(0, m.length));
    v.set(floats.subarray(m.length));
    this.optimizer.step = state.step as number;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all(Object.values(this.kernels).map((k) => k.release()));
  }

  private checkUsable(): void {
    if (this.disposed) throw new Error('the engine has been disposed');
  }
}

export const createCpuEngine = (init: EngineInit, options?: CpuEngineOptions): Promise<CpuEngine> => CpuEngine.create(init, options);
