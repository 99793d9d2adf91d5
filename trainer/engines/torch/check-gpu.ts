/**
 * `npm run check:gpu [-- --nproc N --strategy ddp|fsdp --steps N --device cuda|cpu --python PY]`: the torch engine on a GPU.
 * Trains the Hugging Face fixture (test/hf: tiny Qwen2 with the real vocabulary) and a random
 * Qwen2-architecture model of 190M parameters for a few RL steps in bf16, and prints per model the
 * torch engine's tokens/s and peak GPU memory next to the cpu engine's tokens/s on the same weights.
 * Not part of `npm test`. Without CUDA it says so and exits 1; `--device cpu` is a smoke run of this
 * program itself (fp32, a 20M-parameter model instead of the 190M one).
 */
import { availableParallelism } from 'node:os';
import type { DecoderConfig } from '../../../core/onnx/decoder.ts';
import { parseScriptArgs } from '../../../scripts/args.ts';
import { hfFixture } from '../../../test/hf/env.ts';
import { syntheticBatch, type SequenceSpec } from '../../../test/hf/torch-fixtures.ts';
import { CpuEngine } from '../cpu/engine.ts';
import type { Engine, EngineInit, RlStepMetrics } from '../types.ts';
import { TorchEngine, type TorchEngineOptions } from './engine.ts';
import { defaultTorchPython, probeTorchPython } from './python.ts';

const USAGE = 'usage: npm run check:gpu -- [--nproc N] [--strategy ddp|fsdp] [--steps N] [--device cuda|cpu] [--python PY]';

/** A Qwen2 decoder with Qwen2.5's vocabulary, tied embeddings and two KV heads. */
function qwen2(hidden: number, intermediate: number, layers: number, heads: number): DecoderConfig {
  return {
    modelType: 'qwen2', vocabSize: 151_936, hiddenSize: hidden, intermediateSize: intermediate, numHiddenLayers: layers,
    numAttentionHeads: heads, numKeyValueHeads: 2, maxPositionEmbeddings: 4096, ropeTheta: 1_000_000, ropeScaling: null,
    rmsNormEps: 1e-6, tieWordEmbeddings: true, attentionBias: true, bosTokenId: 151_643, eosTokenId: [151_645, 151_643], padTokenId: 151_643,
  };
}

const batchOf = (sequences: number, tokens: number): SequenceSpec[] =>
  Array.from({ length: sequences }, (_, i) => ({ prompt: 16, response: tokens - 16 - 8 * i, temperature: 1 }));

interface Plan {
  dtype: 'bf16' | 'fp32';
  random: DecoderConfig;
  /** The torch engine's batch, and the (smaller) one the cpu engine is timed on. */
  torchBatch: SequenceSpec[];
  cpuBatch: SequenceSpec[];
}

const GPU_PLAN: Plan = { dtype: 'bf16', random: qwen2(768, 2048, 12, 12), torchBatch: batchOf(16, 512), cpuBatch: batchOf(2, 128) };
const SMOKE_PLAN: Plan = { dtype: 'fp32', random: qwen2(128, 256, 2, 4), torchBatch: batchOf(2, 64), cpuBatch: batchOf(2, 64) };

interface Timing {
  tokensPerS: number;
  peakGb: number | null;
}

/** Steps on one batch; the first is a warm-up (allocator, kernels) and is left out of the rate. */
async function time(engine: Engine, specs: SequenceSpec[], steps: number): Promise<Timing> {
  const batch = await syntheticBatch(engine, 1, specs);
  const metrics: (RlStepMetrics & { peak_memory_gb?: number })[] = [];
  for (let i = 0; i < steps; i++) metrics.push(await engine.step(batch));
  const timed = metrics.length > 1 ? metrics.slice(1) : metrics;
  for (const m of metrics) if (!Number.isFinite(m.loss) || !Number.isFinite(m.grad_norm)) throw new Error(`a step gave loss ${m.loss}, grad norm ${m.grad_norm}`);
  const tokens = timed.reduce((n, m) => n + m.tokens, 0);
  const seconds = timed.reduce((s, m) => s + m.seconds, 0);
  const peaks = metrics.map((m) => m.peak_memory_gb).filter((p): p is number => p !== undefined);
  return { tokensPerS: tokens / seconds, peakGb: peaks.length ? Math.max(...peaks) : null };
}

async function measure(name: string, init: EngineInit, plan: Plan, torchOptions: TorchEngineOptions, steps: number): Promise<void> {
  const torch = await TorchEngine.create(init, torchOptions);
  console.log(`\n${name}: ${(torch.workerInfo.parameters / 1e6).toFixed(1)}M parameters`);
  let t: Timing;
  try {
    t = await time(torch, plan.torchBatch, steps);
  } finally {
    await torch.dispose();
  }
  const tokens = plan.torchBatch.reduce((n, s) => n + s.prompt + s.response, 0);
  console.log(`  torch ${torch.launch.device} ${torch.launch.dtype} x${torch.launch.nproc}${torch.launch.nproc > 1 ? ` ${torch.launch.strategy}` : ''}: ${t.tokensPerS.toFixed(0)} tokens/s (${tokens} tokens a step), peak GPU memory ${t.peakGb === null ? 'n/a' : `${t.peakGb.toFixed(2)} GiB`}`);
  const cpu = await CpuEngine.create(init, { optimizer: torchOptions.optimizer, threads: availableParallelism() });
  try {
    const c = await time(cpu, plan.cpuBatch, 2);
    console.log(`  cpu engine, ${availableParallelism()} threads: ${c.tokensPerS.toFixed(0)} tokens/s → torch is ${(t.tokensPerS / c.tokensPerS).toFixed(1)}x`);
  } finally {
    await cpu.dispose();
  }
}

async function main(): Promise<number> {
  const args = parseScriptArgs(USAGE, {
    options: { nproc: { type: 'string', default: '1' }, strategy: { type: 'string', default: 'ddp' }, steps: { type: 'string', default: '4' }, device: { type: 'string', default: 'cuda' }, python: { type: 'string' } },
  });
  const device = args.oneOf('device', ['cuda', 'cpu'] as const);
  const nproc = args.int('nproc', 1);
  const strategy = args.oneOf('strategy', ['ddp', 'fsdp'] as const);
  const steps = args.int('steps', 2);
  let info;
  try {
    info = await probeTorchPython(args.values.python ?? defaultTorchPython());
  } catch (error) {
    console.error(`check:gpu: ${(error as Error).message}`);
    return 1;
  }
  console.log(`${info.python}: torch ${info.torch}, transformers ${info.transformers}, ${info.cudaDevices} CUDA device(s)`);
  if (device === 'cuda' && info.cudaDevices === 0) {
    console.error(`check:gpu needs a CUDA GPU, and there is none here: ${info.cudaReason}. (--device cpu runs this program as a smoke test on the CPU.)`);
    return 1;
  }
  const plan = device === 'cuda' ? GPU_PLAN : SMOKE_PLAN;
  const torchOptions: TorchEngineOptions = { python: info.python, device, dtype: plan.dtype, nproc, strategy, optimizer: { lr: 1e-5 } };
  const fixture = await hfFixture('qwen2');
  await measure('HF fixture (Qwen2ForCausalLM, test/hf)', { kind: 'model-dir', dir: fixture.hf }, plan, torchOptions, steps);
  await measure('random Qwen2', { kind: 'fresh', config: plan.random, seed: 1, initStd: 0.02, tokenizerDir: fixture.hf }, plan, torchOptions, steps);
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exitCode = 1;
  },
);
