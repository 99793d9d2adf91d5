/**
 * `nproc: 2` on the CPU: the worker runs under torchrun over gloo, each rank training the sequences
 * rank::2 of a batch, with DDP (replicas) or FSDP2 (sharded weights, gradients and optimizer state). Their
 * updates must be the ones a single process takes. On the Llama fixture (untied lm_head, llama3 rope
 * scaling), which torch-step.test.ts leaves to this file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RlStepMetrics } from '../../trainer/engines/types.ts';
import { TorchEngine } from '../../trainer/engines/torch/engine.ts';
import { DEFAULT_OPTIMIZER } from '../../trainer/engines/types.ts';
import { hfFixture, type HfFixture } from './env.ts';
import { maxDiff, maxWeightDiff, MIXED_SEQUENCES, readCheckpoint, syntheticBatch, TORCH_HOOK_TIMEOUT, TORCH_TEST_TIMEOUT } from './torch-fixtures.ts';

/** lr and eps as in torch-step.test.ts: updates far above float noise, none driven by noise alone. */
const OPTIONS = { optimizer: { ...DEFAULT_OPTIMIZER, lr: 1e-2, eps: 1e-6 }, threads: 1 };

/** Step metrics equal up to `tolerance` relative (the clip counts exactly). */
function expectSameStep(two: RlStepMetrics, one: RlStepMetrics, tolerance: number): void {
  expect(Math.abs(two.loss - one.loss)).toBeLessThan(tolerance * Math.max(1, Math.abs(one.loss)));
  expect(Math.abs(two.grad_norm - one.grad_norm) / one.grad_norm).toBeLessThan(tolerance);
  expect(Math.abs(two.entropy - one.entropy) / one.entropy).toBeLessThan(tolerance);
  expect({ clip: two.pg_clipfrac, lower: two.pg_clipfrac_lower, lossTokens: two.loss_tokens, tokens: two.tokens }).toEqual({
    clip: one.pg_clipfrac, lower: one.pg_clipfrac_lower, lossTokens: one.loss_tokens, tokens: one.tokens,
  });
}

describe('torch engine on two CPU processes (torchrun over gloo)', () => {
  let fixture: HfFixture;
  beforeAll(async () => {
    fixture = await hfFixture('llama');
  }, TORCH_HOOK_TIMEOUT);

  it('with DDP and with FSDP takes the same steps as one process, also when a rank has no sequence; logprobs are gathered from both ranks; FSDP state resumes in one process', async () => {
    const work = await mkdtemp(join(tmpdir(), 'cir-torch-ddp-'));
    const init = { kind: 'model-dir' as const, dir: fixture.hf };
    // Small micro-batches on the two ranks: each accumulates several before its gradient reduction, and
    // under FSDP the rank with fewer micro-batches runs zero-weight passes to match the other's gathers.
    const two = { ...OPTIONS, nproc: 2, device: 'cpu' as const, microBatchTokens: 40 };
    const [one, ddp, fsdp] = await Promise.all([
      TorchEngine.create(init, OPTIONS),
      TorchEngine.create(init, { ...two, strategy: 'ddp' }),
      TorchEngine.create(init, { ...two, strategy: 'fsdp' }),
    ]);
    let resumed: TorchEngine | undefined;
    try {
      expect([ddp.workerInfo.world_size, fsdp.workerInfo.world_size]).toEqual([2, 2]);
      // One sequence: rank 1 has none and only runs the zero-weight pass that keeps its reduction in step.
      const single = await syntheticBatch(one, 6, [{ prompt: 5, response: 21, temperature: 1 }]);
      const s1 = await one.step(single);
      expect(s1.grad_norm).toBeGreaterThan(0);
      expectSameStep(await ddp.step(single), s1, 1e-5);
      expectSameStep(await fsdp.step(single), s1, 1e-5);

      // Five sequences: rank 0 trains three, rank 1 two. The weights now differ by the rounding of the
      // first step (gradients summed in another order), which moves this step's figures by ~1e-4 at most.
      const batch = await syntheticBatch(one, 5, [...MIXED_SEQUENCES, { prompt: 6, response: 12, temperature: 0.8 }]);
      const requests = batch.samples.map((s) => ({ ids: s.inputIds, from: 1, temperature: s.temperature }));
      const lp1 = await one.logprobs(requests);
      for (const engine of [ddp, fsdp]) (await engine.logprobs(requests)).forEach((lp, i) => expect(maxDiff(lp, lp1[i]!)).toBeLessThan(1e-3));
      const s2 = await one.step(batch);
      expectSameStep(await ddp.step(batch), s2, 1e-3);
      expectSameStep(await fsdp.step(batch), s2, 1e-3);
      expect([one.optimizerSteps, ddp.optimizerSteps, fsdp.optimizerSteps]).toEqual([2, 2, 2]);

      await one.exportOnnx(join(work, 'one'));
      await ddp.exportOnnx(join(work, 'ddp'));
      await fsdp.exportOnnx(join(work, 'fsdp'));
      const [initial, a, b, c] = await Promise.all(['', 'one', 'ddp', 'fsdp'].map((d) => readCheckpoint(d ? join(work, d) : fixture.hf)));
      const moved = maxWeightDiff(initial!.tensors, a!.tensors);
      expect(moved).toBeGreaterThan(5e-3);
      expect(maxWeightDiff(a!.tensors, b!.tensors)).toBeLessThan(moved * 1e-3);
      // FSDP reduces and clips over shards, another summation order: measured 2e-3 of the move, all of it in
      // embedding rows whose gradients are near Adam's eps, where rounding becomes a move of its own (the
      // step figures above, grad norm included, agree to 1e-3).
      expect(maxWeightDiff(a!.tensors, c!.tensors)).toBeLessThan(moved * 1e-2);

      // The sharded run's state (optimizer moments gathered whole, by parameter name) resumes in one process.
      await fsdp.saveState(join(work, 'fsdp-state'));
      resumed = await TorchEngine.create({ kind: 'model-dir', dir: join(work, 'fsdp') }, OPTIONS);
      await resumed.loadState(join(work, 'fsdp-state'));
      expect(resumed.optimizerSteps).toBe(2);
      const third = await syntheticBatch(one, 7, MIXED_SEQUENCES);
      expectSameStep(await resumed.step(third), await one.step(third), 1e-3);
    } finally {
      await Promise.all([one.dispose(), ddp.dispose(), fsdp.dispose(), resumed?.dispose()]);
      await rm(work, { recursive: true, force: true });
    }
  }, TORCH_TEST_TIMEOUT);
});
