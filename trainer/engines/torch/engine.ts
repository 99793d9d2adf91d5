/**
 * The `torch` engine: the Engine interface over a PyTorch worker (train.py beside this file), for
 * machines with GPUs. The worker loads the Hugging Face checkpoint with transformers (fp32 master
 * weights), trains it with the cpu engine's objective on batch files this side writes (README.md), and
 * exports with save_pretrained; this side then adds the tokenizer files and the ONNX model, so a
 * torch-trained checkpoint is served by the ONNX runtime and loadable by vLLM or transformers alike.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeOnnxFromHf } from '../../../core/hf/convert.ts';
import { checkTokenizerDir, copyTokenizerFiles } from '../../../core/hf/files.ts';
import type { DecoderConfig } from '../../../core/onnx/decoder.ts';
import { DEFAULT_POLICY_LOSS, type PolicyLossConfig } from '../../algorithms/types.ts';
import type { SupervisedSequence, TrainBatch } from '../../batch/types.ts';
import { decodeSafetensors } from '../safetensors.ts';
import { DEFAULT_OPTIMIZER, type Engine, type EngineInit, type EngineOptions, type LogprobRequest, type RlStepMetrics, type SupervisedStepMetrics } from '../types.ts';
import { encodeRlBatch, encodeTokenBatch } from './batch-file.ts';
import { prepareInitModel } from './hf-init.ts';
import { probeOnce, resolveLaunch, type Launch, type TorchDevice, type TorchDtype, type TorchStrategy } from './launch.ts';
import { defaultTorchPython } from './python.ts';
import { WorkerProcess } from './worker.ts';

// The batch format is the worker's interface; tests and tools encode batches with it.
export { encodeRlBatch } from './batch-file.ts';

export interface TorchEngineOptions extends EngineOptions {
  /** Python interpreter with torch and transformers (default: defaultTorchPython(): $CIR_TORCH_PYTHON, the project's .venv, python3). */
  python?: string;
  /** 'auto' (default): CUDA when torch sees a GPU, else the CPU. */
  device?: TorchDevice;
  /** fp32 (default), or bf16 autocast over fp32 master weights (CUDA). */
  dtype?: TorchDtype;
  /** Processes (one per GPU; gloo processes on the CPU): more than 1 runs the worker under torchrun with DDP. Default 1. */
  nproc?: number;
  /** With nproc > 1: ddp (default: a replica per process) or fsdp (FSDP2: training state sharded, for models whose weights, gradients and AdamW state do not fit one GPU). */
  strategy?: TorchStrategy;
  /** dtype of the exported weights; 'auto' (default): the checkpoint's, as its config.json says (float32 when it says nothing). */
  exportDtype?: 'auto' | 'fp32' | 'bf16' | 'fp16';
  /**
   * The ONNX export beside the Hugging Face weights, for servers that run the model in-process: fp32
   * (default), fp16 (half the size), or none (a checkpoint for vLLM or transformers only: a 7B model's
   * fp32 ONNX is 28 GB per step).
   */
  onnx?: 'fp32' | 'fp16' | 'none';
  /** Seconds to wait for the worker to load the model (importing torch and transformers alone takes seconds). Default 600. */
  startTimeoutS?: number;
}

const EXPORT_DTYPES = { auto: 'auto', fp32: 'float32', bf16: 'bfloat16', fp16: 'float16' } as const;

/** What the worker said when it was ready. */
export interface TorchWorkerInfo {
  device: string;
  world_size: number;
  parameters: number;
  export_dtype: string;
}

export class TorchEngine implements Engine {
  private disposed = false;
  private steps = 0;
  private files = 0;

  private constructor(
    readonly config: DecoderConfig,
    readonly launch: Launch,
    /** What the worker reported at start-up. */
    readonly workerInfo: TorchWorkerInfo,
    private readonly workerProcess: WorkerProcess,
    private readonly work: string,
    private readonly tokenizerDir: string,
    private readonly aggregation: Pick<PolicyLossConfig, 'lossAggregation' | 'lossNormTokens'>,
    private readonly onnx: 'fp32' | 'fp16' | 'none',
  ) {}

  static async create(init: EngineInit, options: TorchEngineOptions = {}): Promise<TorchEngine> {
    const python = options.python ?? defaultTorchPython();
    const launch = resolveLaunch(options, await probeOnce(python));
    const exportDtype = EXPORT_DTYPES[options.exportDtype ?? 'auto'];
    if (!exportDtype) throw new RangeError(`exportDtype must be auto, fp32, bf16 or fp16, got "${options.exportDtype}"`);
    const onnx = options.onnx ?? 'fp32';
    if (!['fp32', 'fp16', 'none'].includes(onnx)) throw new RangeError(`onnx must be fp32, fp16 or none, got "${options.onnx}"`);
    for (const [name, value] of Object.entries({ microBatchTokens: options.microBatchTokens, threads: options.threads })) {
      if (value !== undefined && (!Number.isInteger(value) || value < 1)) throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
    const work = await mkdtemp(join(tmpdir(), 'cir-torch-engine-'));
    let worker: WorkerProcess | undefined;
    try {
      const model = await prepareInitModel(init, work);
      await checkTokenizerDir(model.tokenizerDir);
      const policyLoss = { ...DEFAULT_POLICY_LOSS, ...options.policyLoss };
      const workerOptions = { optimizer: { ...DEFAULT_OPTIMIZER, ...options.optimizer }, policyLoss, microBatchTokens: options.microBatchTokens ?? null };
      const args = [
        '--model', model.hfDir, '--options', JSON.stringify(workerOptions), '--device', launch.device, '--dtype', launch.dtype,
        '--export-dtype', exportDtype, '--strategy', launch.strategy, '--threads', String(options.threads ?? 0),
      ];
      // torchrun sets OMP_NUM_THREADS=1 per rank unless told; an explicit thread count wins.
      const env = options.threads ? { ...process.env, OMP_NUM_THREADS: String(options.threads) } : process.env;
      worker = WorkerProcess.start(python, launch.nproc, args, env);
      const ready = await worker.next('start-up', (options.startTimeoutS ?? 600) * 1000);
      if (!ready.ok) throw new Error(`torch worker failed to start: ${ready.error}`);
      const info = ready as unknown as TorchWorkerInfo;
      return new TorchEngine(model.config, launch, info, worker, work, model.tokenizerDir, policyLoss, onnx);
    } catch (error) {
      await worker?.stop();
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
    const reply = await this.workerProcess.call(request);
    if (typeof reply.steps === 'number') this.steps = reply.steps;
    return reply;
  }

  /** Writes a batch file, runs `cmd` on it, and removes it. */
  private async withBatch(name: string, bytes: Uint8Array, request: { cmd: string; [key: string]: unknown }): Promise<Record<string, unknown>> {
    const file = this.path(name);
    await writeFile(file, bytes);
    try {
      return await this.call({ ...request, batch: file });
    } finally {
      await rm(file, { force: true });
    }
  }

  async step(batch: TrainBatch, options: { lr?: number } = {}): Promise<RlStepMetrics> {
    const reply = await this.withBatch('rl.safetensors', encodeRlBatch(batch, this.aggregation), { cmd: 'step', lr: options.lr ?? null });
    return reply as unknown as RlStepMetrics;
  }

  async supervisedStep(sequences: readonly SupervisedSequence[], options: { lr?: number } = {}): Promise<SupervisedStepMetrics> {
    const lossMask = new Uint8Array(sequences.reduce((n, s) => n + s.ids.length, 0));
    let at = 0;
    sequences.forEach((s, i) => {
      if (s.lossMask.length !== s.ids.length) throw new RangeError(`sequence ${i}: lossMask has ${s.lossMask.length} entries, ids has ${s.ids.length}`);
      lossMask.set(s.lossMask, at);
      at += s.ids.length;
    });
    const bytes = encodeTokenBatch('sft', sequences.map((s) => s.ids), lossMask, new Float32Array(sequences.length).fill(1));
    return (await this.withBatch('sft.safetensors', bytes, { cmd: 'sft', lr: options.lr ?? null })) as unknown as SupervisedStepMetrics;
  }

  async logprobs(requests: readonly LogprobRequest[]): Promise<Float32Array[]> {
    requests.forEach((r, i) => {
      const from = r.from ?? 1;
      if (!Number.isInteger(from) || from < 1 || from > r.ids.length) throw new RangeError(`request ${i}: from must be an integer in [1, ${r.ids.length}], got ${from}`);
      if (!((r.temperature ?? 1) > 0)) throw new RangeError(`request ${i}: temperature must be > 0`);
    });
    const out = this.path('logprobs.out.safetensors');
    const total = requests.reduce((n, r) => n + r.ids.length, 0);
    const bytes = encodeTokenBatch('logprobs', requests.map((r) => r.ids), new Uint8Array(total), Float32Array.from(requests, (r) => r.temperature ?? 1));
    try {
      await this.withBatch('logprobs.safetensors', bytes, { cmd: 'logprobs', out });
      const all = decodeSafetensors(await readFile(out)).tensors.logprobs!.data as Float32Array;
      let at = 0;
      return requests.map((r) => {
        const result = all.slice(at + (r.from ?? 1), at + r.ids.length);
        at += r.ids.length;
        return result;
      });
    } finally {
      await rm(out, { force: true });
    }
  }

  /**
   * The Hugging Face checkpoint (save_pretrained: safetensors in the export dtype, config.json,
   * generation_config.json), the tokenizer files, and model.onnx (+ model.onnx_data) converted from it
   * unless the `onnx` option is none.
   */
  async exportOnnx(dir: string): Promise<string[]> {
    const { files } = (await this.call({ cmd: 'export', dir })) as { files: string[] };
    const tokenizer = await copyTokenizerFiles(this.tokenizerDir, dir);
    const onnx = this.onnx === 'none' ? [] : await writeOnnxFromHf(dir, dir, { dtype: this.onnx });
    return [...new Set([...files, ...tokenizer, ...onnx])];
  }

  /** Optimizer state and step count, and the fp32 master weights when the export dtype rounds them. */
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
      await this.workerProcess.stop();
    } finally {
      await rm(this.work, { recursive: true, force: true });
    }
  }
}
