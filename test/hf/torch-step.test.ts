/**
 * The torch engine against references it does not share code with: one RL step on the Hugging Face
 * fixtures equals a plain PyTorch step (reference_step.py: per-sequence forward, its own objective and
 * AdamW grouping); its logprobs equal transformers'; and on a directory that only holds model.onnx it
 * agrees with the cpu engine.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureModel } from '../../scripts/make-model.ts';
import { DEFAULT_POLICY_LOSS, type PolicyLossConfig } from '../../trainer/algorithms/types.ts';
import { CpuEngine } from '../../trainer/engines/cpu/engine.ts';
import { encodeRlBatch, TorchEngine } from '../../trainer/engines/torch/engine.ts';
import { DEFAULT_OPTIMIZER, type OptimizerConfig } from '../../trainer/engines/types.ts';
import { hfFixture, runPython, type FixtureArch, type HfFixture } from './env.ts';
import { maxDiff, maxWeightDiff, readCheckpoint, syntheticBatch, TORCH_HOOK_TIMEOUT, TORCH_TEST_TIMEOUT } from './torch-fixtures.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * A learning rate and weight decay large enough that a wrong sign, parameter group or clip shows far
 * above float noise. eps 1e-6 rather than 1e-8: Adam's first step moves a weight by lr·g/(|g| + eps),
 * which turns the rounding error of a near-zero gradient into a move of up to lr·error/eps; the larger
 * eps keeps such moves below the comparison's tolerance.
 */
const OPTIMIZER: OptimizerConfig = { ...DEFAULT_OPTIMIZER, lr: 1e-2, weightDecay: 0.1, eps: 1e-6 };

interface ReferenceStep {
  loss: number;
  grad_norm: number;
  pg_clipfrac: number;
  pg_clipfrac_lower: number;
  entropy: number;
  /** Before the step, aligned with the batch's input_ids. */
  logprobs: number[];
}

const cases: { arch: FixtureArch; policyLoss: PolicyLossConfig }[] = [
  { arch: 'qwen2', policyLoss: DEFAULT_POLICY_LOSS },
  // Qwen3 also takes the KL term, the entropy bonus and per-sequence aggregation.
  { arch: 'qwen3', policyLoss: { ...DEFAULT_POLICY_LOSS, klCoef: 0.1, entropyCoef: 0.01, lossAggregation: 'seq-mean-token-mean' } },
];

describe.each(cases)('torch engine on the $arch fixture', ({ arch, policyLoss }) => {
  let fixture: HfFixture;
  beforeAll(async () => {
    fixture = await hfFixture(arch);
  }, TORCH_HOOK_TIMEOUT);

  it('one RL step equals a plain PyTorch step: loss, grad norm, clip fractions and the saved weights; logprobs equal transformers\'', async () => {
    const work = await mkdtemp(join(tmpdir(), `cir-torch-step-${arch}-`));
    // Micro-batches of at most 48 tokens: padding and gradient accumulation are on the path.
    const engine = await TorchEngine.create({ kind: 'model-dir', dir: fixture.hf }, { optimizer: OPTIMIZER, policyLoss, threads: 1, microBatchTokens: 48 });
    try {
      const batch = await syntheticBatch(engine, 7);
      const batchFile = join(work, 'batch.safetensors');
      await writeFile(batchFile, encodeRlBatch(batch, policyLoss));
      const config = JSON.stringify({ optimizer: OPTIMIZER, policyLoss });
      const referenceRun = runPython(join(HERE, 'reference_step.py'), ['--model', fixture.hf, '--batch', batchFile, '--config', config, '--out', join(work, 'reference')]);
      const before = await engine.logprobs(batch.samples.map((s) => ({ ids: s.inputIds, from: 1, temperature: s.temperature })));
      const metrics = await engine.step(batch);
      const reference = JSON.parse(await referenceRun) as ReferenceStep;

      let at = 0;
      for (const [i, s] of batch.samples.entries()) {
        expect(maxDiff(before[i]!, reference.logprobs.slice(at + 1, at + s.inputIds.length))).toBeLessThan(1e-5);
        at += s.inputIds.length;
      }
      expect(Math.abs(metrics.loss - reference.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(reference.loss)));
      expect(Math.abs(metrics.grad_norm - reference.grad_norm) / reference.grad_norm).toBeLessThan(1e-5);
      expect(metrics.pg_clipfrac).toBeCloseTo(reference.pg_clipfrac, 6);
      expect(metrics.pg_clipfrac_lower).toBeCloseTo(reference.pg_clipfrac_lower, 6);
      expect(metrics.entropy).toBeCloseTo(reference.entropy, 4);
      // The batch reaches every branch of the objective, and the gradient is clipped (grad norm > maxGradNorm).
      expect(metrics.pg_clipfrac).toBeGreaterThan(0);
      expect(metrics.pg_clipfrac_lower).toBeGreaterThan(0);
      expect(metrics.grad_norm).toBeGreaterThan(OPTIMIZER.maxGradNorm!);

      const files = await engine.exportOnnx(join(work, 'engine'));
      expect(files).toEqual(expect.arrayContaining(['model.safetensors', 'config.json', 'generation_config.json', 'tokenizer.json', 'model.onnx']));
      const exported = await readCheckpoint(join(work, 'engine'));
      const expected = await readCheckpoint(join(work, 'reference'));
      const initial = await readCheckpoint(fixture.hf);
      expect(exported.dtypes).toEqual(new Set(['F32']));
      const moved = maxWeightDiff(initial.tensors, expected.tensors);
      expect(moved).toBeGreaterThan(5e-3);
      expect(maxWeightDiff(exported.tensors, expected.tensors)).toBeLessThan(moved * 1e-3);
      const exportedConfig = JSON.parse(await readFile(join(work, 'engine', 'config.json'), 'utf8'));
      expect(exportedConfig).toMatchObject({ architectures: [JSON.parse(await readFile(join(fixture.hf, 'config.json'), 'utf8')).architectures[0]], dtype: 'float32' });
    } finally {
      await engine.dispose();
      await rm(work, { recursive: true, force: true });
    }
  }, TORCH_TEST_TIMEOUT);
});

describe('torch engine on a model directory without Hugging Face weights', () => {
  let modelDir: string;
  beforeAll(async () => {
    modelDir = await ensureModel('tiny');
  }, TORCH_HOOK_TIMEOUT);

  it('starts from model.onnx and agrees with the cpu engine on logprobs, an RL step and a supervised step', async () => {
    const work = await mkdtemp(join(tmpdir(), 'cir-torch-onnx-'));
    const options = { optimizer: { lr: 2e-3 }, threads: 1 };
    const torch = await TorchEngine.create({ kind: 'model-dir', dir: modelDir }, options);
    const cpu = await CpuEngine.create({ kind: 'model-dir', dir: modelDir }, options);
    try {
      const batch = await syntheticBatch(cpu, 11);
      const requests = batch.samples.map((s) => ({ ids: s.inputIds, from: s.promptLength, temperature: s.temperature }));
      const [fromTorch, fromCpu] = [await torch.logprobs(requests), await cpu.logprobs(requests)];
      fromTorch.forEach((lp, i) => expect(maxDiff(lp, fromCpu[i]!)).toBeLessThan(1e-4));
      const mt = await torch.step(batch);
      const mc = await cpu.step(batch);
      expect(Math.abs(mt.loss - mc.loss)).toBeLessThan(1e-5);
      expect(Math.abs(mt.grad_norm - mc.grad_norm) / mc.grad_norm).toBeLessThan(1e-4);
      const [afterTorch, afterCpu] = [await torch.logprobs(requests), await cpu.logprobs(requests)];
      afterTorch.forEach((lp, i) => expect(maxDiff(lp, afterCpu[i]!)).toBeLessThan(1e-3));
      // A supervised step too (masked cross-entropy, token mean).
      const sequences = batch.samples.map((s) => ({ ids: s.inputIds, lossMask: Uint8Array.from(s.inputIds, (_, t) => (t >= s.promptLength ? 1 : 0)) }));
      const [st, sc] = [await torch.supervisedStep(sequences), await cpu.supervisedStep(sequences)];
      expect(Math.abs(st.loss - sc.loss)).toBeLessThan(1e-4);
      expect(Math.abs(st.grad_norm - sc.grad_norm) / sc.grad_norm).toBeLessThan(1e-3);
      expect({ accuracy: st.accuracy, lossTokens: st.loss_tokens }).toEqual({ accuracy: sc.accuracy, lossTokens: sc.loss_tokens });
      const files = await torch.exportOnnx(join(work, 'out'));
      expect(files).toEqual(expect.arrayContaining(['model.safetensors', 'config.json', 'model.onnx', 'tokenizer.json']));
      expect(JSON.parse(await readFile(join(work, 'out', 'config.json'), 'utf8')).dtype).toBe('float32');
    } finally {
      await torch.dispose();
      await cpu.dispose();
      await rm(work, { recursive: true, force: true });
    }
  }, TORCH_TEST_TIMEOUT);
});
