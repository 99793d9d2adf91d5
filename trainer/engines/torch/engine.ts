/**
 * The `torch` engine: the Engine interface over a PyTorch worker process (train.py beside this file),
 * for machines with GPUs. The batch builder's TrainBatch is written as a safetensors file (format in
 * README.md), the worker trains a Hugging Face Llama/Qwen2 model with the same objective, and weights
 * come back as safetensors that this side exports with the cpu engine's ONNX writer, so a torch-trained
 * checkpoint is served exactly like a cpu-trained one.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { exportDecoder, hfConfigJson, type DecoderConfig } from '../../../core/onnx/decoder.ts';
import { aggregationWeights } from '../../algorithms/policy-loss.ts';
import { DEFAULT_POLICY_LOSS } from '../../algorithms/types.ts';
import type { SupervisedSequence, TrainBatch } from '../../batch/types.ts';
import { ParamLayout } from '../cpu/params.ts';
import { checkTokenizerDir, copyTokenizerFiles, readModelDir } from '../model-dir.ts';
import { decodeSafetensors, encodeSafetensors } from '../safetensors.ts';
import { DEFAULT_OPTIMIZER, type Engine, type EngineInit, type EngineOptions, type LogprobRequest, type RlStepMetrics, type SupervisedStepMetrics } from '../types.ts';

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'train.py');

export interface TorchEngineOptions extends EngineOptions {
  /** Python interpreter with torch (default $CIR_TORCH_PYTHON or python3). */
  python?: string;
  /** torch device ('auto': cuda when available). */
  device?: string;
  /** bf16 autocast on CUDA, or fp32. */
  dtype?: 'fp32' | 'bf16';
  /** Model implementation: Hugging Face transformers, the worker's built-in twin, or whichever is importable. */
  impl?: 'auto' | 'hf' | 'builtin';
  /** Seconds to wait for the worker to start (importing torch can be slow). */
  startTimeoutS?: number;
}

type Reply = { ok: true; [key: string]: unknown } | { ok: false; error: string };

/** One request at a time over the worker's stdin/stdout, JSON lines; stderr is kept for error messages. */
class WorkerProcess {
  private readonly lines: AsyncIterator<string>;
  private stderr = '';
  private exited: string | null = null;

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-8000);
    });
    child.on('exit', (code, signal) => {
      this.exited = signal ? `signal ${signal}` : `exit code ${code}`;
    });
    child.on('error', (error) => {
      this.exited = error.message;
    });
  }

  async next(what: string): Promise<Reply> {
    const line = await this.lines.next();
    if (line.done) throw new Error(`torch worker ended (${this.exited ?? 'stdout closed'}) during ${what}: ${this.stderr.trim().split('\n').slice(-5).join(' | ')}`);
    try {
      return JSON.parse(line.value) as Reply;
    } catch {
      throw new Error(`torch worker wrote a line that is not JSON during ${what}: ${line.value.slice(0, 200)}`);
    }
  }

  async call(request: { cmd: string; [key: string]: unknown }): Promise<Record<string, unknown>> {
    if (this.exited) throw new Error(`torch worker is not running (${this.exited}): ${this.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    this.child.stdin.write(`${JSON.stringify(request)}\n`);
    const reply = await this.next(request.cmd);
    if (!reply.ok) throw new Error(`torch worker: ${reply.error}`);
    return reply;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end(`${JSON.stringify({ cmd: 'exit' })}\n`);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }
}

/** Per-token arrays aligned with the packed input_ids: index t refers to token t (predicted from t-1). */
function packTokens(sequences: readonly (Int32Array | readonly number[])[]): { inputIds: Int32Array; offsets: Int32Array } {
  const offsets = new Int32Array(sequences.length + 1);
  sequences.forEach((s, i) => (offsets[i + 1] = offsets[i]! + s.length));
  const inputIds = new Int32Array(offsets[sequences.length]!);
  sequences.forEach((s, i) => inputIds.set(s, offsets[i]!));
  return { inputIds, offsets };
}

const BATCH_META = { format: 'cir-train-batch', version: '1' };

/** The RL batch file (README.md "Batch file format"). */
export function encodeRlBatch(batch: TrainBatch, aggregation = DEFAULT_POLICY_LOSS.lossAggregation): Uint8Array {
  const { inputIds, offsets } = packTokens(batch.samples.map((s) => s.inputIds));
  const total = inputIds.length;
  const lossMask = new Uint8Array(total);
  const weights = new Float32Array(total);
  const old = new Float32Array(total);
  const adv = new Float32Array(total);
  const ref = new Float32Array(total);
  const w = aggregationWeights(batch.samples.map((s) => s.lossMask), aggregation);
  batch.samples.forEach((s, i) => {
    if (s.inputIds.length !== s.promptLength + s.lossMask.length) throw new RangeError(`batch sample ${i} (${s.id}): inputIds has ${s.inputIds.length} tokens, promptLength + lossMask.length is ${s.promptLength + s.lossMask.length}`);
    if (s.promptLength < 1) throw new RangeError(`batch sample ${i} (${s.id}): promptLength must be at least 1`);
    const at = offsets[i]! + s.promptLength;
    lossMask.set(s.lossMask, at);
    weights.set(w[i]!, at);
    old.set(s.oldLogprobs, at);
    adv.set(s.advantages, at);
    if (s.refLogprobs) ref.set(s.refLogprobs, at);
  });
  const n = batch.samples.length;
  return encodeSafetensors(
    {
      input_ids: { data: inputIds, shape: [total] },
      offsets: { data: offsets, shape: [n + 1] },
      prompt_lengths: { data: Int32Array.from(batch.samples, (s) => s.promptLength), shape: [n] },
      temperature: { data: Float32Array.from(batch.samples, (s) => s.temperature), shape: [n] },
      loss_mask: { data: lossMask, shape: [total] },
      weights: { data: weights, shape: [total] },
      old_logprobs: { data: old, shape: [total] },
      advantages: { data: adv, shape: [total] },
      ref_logprobs: { data: ref, shape: [total] },
    },
    { ...BATCH_META, kind: 'rl', aggregation },
  );
}

function encodeTokenBatch(kind: 'sft' | 'logprobs', sequences: readonly (Int32Array | readonly number[])[], lossMask: Uint8Array, temperature: Float32Array): Uint8Array {
  const { inputIds, offsets } = packTokens(sequences);
  return encodeSafetensors(
    {
      input_ids: { data: inputIds, shape: [inputIds.length] },
      offsets: { data: offsets, shape: [offsets.length] },
      temperature: { data: temperature, shape: [temperature.length] },
      loss_mask: { data: lossMask, shape: [lossMask.length] },
    },
    { ...BATCH_META, kind },
  );
}

export class TorchEngine implements Engine {
  private disposed = false;
  private steps = 0;
  private files = 0;

  private constructor(
    readonly config: DecoderConfig,
    private readonly worker: WorkerProcess,
    private readonly work: string,
    private readonly tokenizerDir: string,
    private readonly aggregation: typeof DEFAULT_POLICY_LOSS.lossAggregation,
  ) {}

  static async create(init: EngineInit, options: TorchEngineOptions = {}): Promise<TorchEngine> {
    let config: DecoderConfig;
    let weights: Record<string, Float32Array>;
    let tokenizerDir: string;
    if (init.kind === 'model-dir') {
      ({ config, weights } = await readModelDir(init.dir));
      tokenizerDir = init.dir;
    } else {
      config = init.config;
      const layout = new ParamLayout(config);
      weights = layout.named(layout.random(init.seed, init.initStd));
      tokenizerDir = init.tokenizerDir;
    }
    await checkTokenizerDir(tokenizerDir);
    const work = await mkdtemp(join(tmpdir(), 'cir-torch-engine-'));
    try {
      await writeFile(join(work, 'config.json'), JSON.stringify(hfConfigJson(config)));
      const layout = new ParamLayout(config);
      await writeFile(
        join(work, 'init.safetensors'),
        encodeSafetensors(Object.fromEntries(layout.entries.map((e) => [e.name, { data: weights[e.name]!, shape: e.shape }]))),
      );
      const policyLoss = { ...DEFAULT_POLICY_LOSS, ...options.policyLoss };
      const workerOptions = { optimizer: { ...DEFAULT_OPTIMIZER, ...options.optimizer }, policyLoss, microBatchTokens: options.microBatchTokens ?? null };
      const python = options.python ?? process.env.CIR_TORCH_PYTHON ?? 'python3';
      const args = [
        WORKER, '--config', join(work, 'config.json'), '--weights', join(work, 'init.safetensors'), '--options', JSON.stringify(workerOptions),
        '--device', options.device ?? 'auto', '--dtype', options.dtype ?? 'fp32', '--impl', options.impl ?? 'auto', '--threads', String(options.threads ?? 0),
      ];
      const worker = new WorkerProcess(spawn(python, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
      const timeout = (options.startTimeoutS ?? 300) * 1000;
      let timer: NodeJS.Timeout | undefined;
      const ready = await Promise.race([
        worker.next('start-up'),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`torch worker did not start within ${timeout / 1000} s`)), timeout))),
      ]).finally(() => clearTimeout(timer));
      if (!ready.ok) throw new Error(`torch worker failed to start: ${ready.error}`);
      return new TorchEngine(config, worker, work, tokenizerDir, policyLoss.lossAggregation);
    } catch (error) {
      await rm(work, { recursive: true, force: true });
      throw error;
    }
  }

  get optimizerSteps(): number {
    return this.steps;
  }

  private path(name: string): string {
    return join(this.work, `${this.files++}-${name}`);
  }

  private async call(request: { cmd: string; [key: string]: unknown }): Promise<Record<string, unknown>> {
    if (this.disposed) throw new Error('the engine has been disposed');
    const reply = await this.worker.call(request);
    if (typeof reply.steps === 'number') this.steps = reply.steps;
    return reply;
  }

  async step(batch: TrainBatch, options: { lr?: number } = {}): Promise<RlStepMetrics> {
    const file = this.path('rl.safetensors');
    await writeFile(file, encodeRlBatch(batch, this.aggregation));
    try {
      return (await this.call({ cmd: 'step', batch: file, lr: options.lr ?? null })) as unknown as RlStepMetrics;
    } finally {
      await rm(file, { force: true });
    }
  }

  async supervisedStep(sequences: readonly SupervisedSequence[], options: { lr?: number } = {}): Promise<SupervisedStepMetrics> {
    const lossMask = new Uint8Array(sequences.reduce((n, s) => n + s.ids.length, 0));
    let at = 0;
    sequences.forEach((s, i) => {
      if (s.lossMask.length !== s.ids.length) throw new RangeError(`sequence ${i}: lossMask has ${s.lossMask.length} entries, ids has ${s.ids.length}`);
      lossMask.set(s.lossMask, at);
      at += s.ids.length;
    });
    const file = this.path('sft.safetensors');
    await writeFile(file, encodeTokenBatch('sft', sequences.map((s) => s.ids), lossMask, new Float32Array(sequences.length).fill(1)));
    try {
      return (await this.call({ cmd: 'sft', batch: file, lr: options.lr ?? null })) as unknown as SupervisedStepMetrics;
    } finally {
      await rm(file, { force: true });
    }
  }

  async logprobs(requests: readonly LogprobRequest[]): Promise<Float32Array[]> {
    requests.forEach((r, i) => {
      const from = r.from ?? 1;
      if (!Number.isInteger(from) || from < 1 || from > r.ids.length) throw new RangeError(`request ${i}: from must be an integer in [1, ${r.ids.length}], got ${from}`);
      if (!((r.temperature ?? 1) > 0)) throw new RangeError(`request ${i}: temperature must be > 0`);
    });
    const file = this.path('logprobs.safetensors');
    const out = this.path('logprobs.out.safetensors');
    const total = requests.reduce((n, r) => n + r.ids.length, 0);
    await writeFile(file, encodeTokenBatch('logprobs', requests.map((r) => r.ids), new Uint8Array(total), Float32Array.from(requests, (r) => r.temperature ?? 1)));
    try {
      await this.call({ cmd: 'logprobs', batch: file, out });
      const all = decodeSafetensors(await readFile(out)).tensors.logprobs!.data as Float32Array;
      let at = 0;
      return requests.map((r) => {
        const result = all.slice(at + (r.from ?? 1), at + r.ids.length);
        at += r.ids.length;
        return result;
      });
    } finally {
      await rm(file, { force: true });
      await rm(out, { force: true });
    }
  }

  async exportOnnx(dir: string): Promise<string[]> {
    const file = this.path('weights.safetensors');
    try {
      await this.call({ cmd: 'weights', out: file });
      const { tensors } = decodeSafetensors(await readFile(file));
      const weights = Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, t.data as Float32Array]));
      await exportDecoder(this.config, weights, dir);
    } finally {
      await rm(file, { force: true });
    }
    return ['model.onnx', 'config.json', 'generation_config.json', ...(await copyTokenizerFiles(this.tokenizerDir, dir))];
  }

  async saveState(dir: string): Promise<void> {
    await this.call({ cmd: 'save', dir });
  }

  async loadState(dir: string): Promise<void> {
    await this.call({ cmd: 'load', dir });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    try {
      await this.worker.stop();
    } finally {
      await rm(this.work, { recursive: true, force: true });
    }
  }
}
