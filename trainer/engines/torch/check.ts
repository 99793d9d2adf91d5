/**
 * The torch engine's acceptance check against the cpu engine and the ONNX runtime, kept out of
 * `npm test` (test/hf/ holds the torch engine's tests against transformers):
 * `npx tsx trainer/engines/torch/check.ts [--python PY] [--device auto|cpu|cuda]`
 *
 *  1. logprobs of a real multi-turn rollout (served by the ONNX runtime) match the runtime's, ≤ 1e-3;
 *  2. the same RL batch stepped by the torch and the cpu engine from the same weights gives the same
 *     loss, gradient norm and policy (≤ 1e-3 in logprobs): same objective, same optimizer; again with
 *     the KL term, the entropy bonus and per-sequence aggregation;
 *  3. a few RL steps raise advantage-weighted logprobs;
 *  4. the exported checkpoint (Hugging Face weights + model.onnx converted from them) loads in the ONNX
 *     runtime and its sampled logprobs match the engine's;
 *  5. optimizer state saves and restores.
 * Exits 1 on the first failure.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { OnnxBackend } from '../../../api/models/onnx/backend.ts';
import { ensureModel } from '../../../scripts/make-model.ts';
import type { TrainBatch, TrainSample } from '../../batch/types.ts';
import { CpuEngine } from '../cpu/engine.ts';
import { TorchEngine } from './engine.ts';
import type { TorchDevice } from './launch.ts';

const { values } = parseArgs({ options: { python: { type: 'string' }, device: { type: 'string', default: 'auto' } } });

function check(ok: boolean, what: string): void {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) process.exitCode = 1;
  if (!ok) throw new Error(what);
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number | null>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (b[i] !== null) m = Math.max(m, Math.abs(a[i]! - (b[i] as number)));
  return m;
};

async function rollout(backend: OnnxBackend, prompt: number[], seed: number, temperature: number) {
  const group = backend.startGroup({ prompt, n: 1, seed });
  try {
    const seq = group.sequences[0]!;
    const first = await seq.generate({ maxTokens: 16, temperature, ignoreEos: true });
    const tool = [40, 41, 42, 43];
    seq.append(tool);
    const second = await seq.generate({ maxTokens: 12, temperature, ignoreEos: true });
    return {
      ids: [...prompt, ...first.tokenIds, ...tool, ...second.tokenIds],
      promptLength: prompt.length,
      logprobs: [...first.logprobs, ...tool.map(() => null), ...second.logprobs],
      mask: [...first.tokenIds.map(() => 1), ...tool.map(() => 0), ...second.tokenIds.map(() => 1)],
    };
  } finally {
    group.dispose();
  }
}

async function main(): Promise<void> {
  const modelDir = await ensureModel('tiny');
  const work = await mkdtemp(join(tmpdir(), 'cir-torch-check-'));
  const options = { optimizer: { lr: 2e-3 }, threads: 1 };
  const torchOptions = { ...options, python: values.python, device: values.device as TorchDevice };
  const torch = await TorchEngine.create({ kind: 'model-dir', dir: modelDir }, torchOptions);
  const cpu = await CpuEngine.create({ kind: 'model-dir', dir: modelDir }, options);
  const backend = await OnnxBackend.load(modelDir);
  try {
    const prompt = backend.tokenizer.encode('Compute 12 * 34 with code.');
    const a = await rollout(backend, prompt, 1, 1);
    const b = await rollout(backend, prompt, 2, 0.7);
    const [ta, tb] = await torch.logprobs([{ ids: a.ids, from: a.promptLength }, { ids: b.ids, from: b.promptLength, temperature: 0.7 }]);
    check(maxDiff(ta!, a.logprobs) <= 1e-3 && maxDiff(tb!, b.logprobs) <= 1e-3, `torch logprobs match the ONNX runtime's (max diff ${Math.max(maxDiff(ta!, a.logprobs), maxDiff(tb!, b.logprobs)).toExponential(2)})`);

    const sample = (r: typeof a, advantage: number, temperature: number, id: string): TrainSample => ({
      id, groupId: 'g', inputIds: Int32Array.from(r.ids), promptLength: r.promptLength, lossMask: Uint8Array.from(r.mask),
      oldLogprobs: Float32Array.from(r.logprobs, (x) => x ?? 0), advantages: Float32Array.from(r.mask, (m) => m * advantage), reward: advantage, temperature,
    });
    const batch: TrainBatch = {
      samples: [sample(a, 1, 1, 'a'), sample(b, -1, 0.7, 'b')],
      stats: { records: 2, duplicates: 0, partial: 0, unscored: 0, groups: 1, keptGroups: 1, samples: 2, meanReward: 0, accuracy: 0.5, toolCallsPerSample: 1, toolCallRate: 1, meanResponseLength: 0, lossTokens: 0, voidTurnsFiltered: 0 },
    };
    const mt = await torch.step(batch);
    const mc = await cpu.step(batch);
    check(Math.abs(mt.loss - mc.loss) < 1e-4 && Math.abs(mt.grad_norm - mc.grad_norm) / mc.grad_norm < 1e-3, `one RL step: torch and cpu agree on loss (${mt.loss.toFixed(6)} vs ${mc.loss.toFixed(6)}) and grad norm (${mt.grad_norm.toFixed(5)} vs ${mc.grad_norm.toFixed(5)})`);
    const [t1] = await torch.logprobs([{ ids: a.ids, from: a.promptLength }]);
    const [c1] = await cpu.logprobs([{ ids: a.ids, from: a.promptLength }]);
    check(maxDiff(t1!, Array.from(c1!)) <= 1e-3, `after the step, torch and cpu policies agree (max diff ${maxDiff(t1!, Array.from(c1!)).toExponential(2)})`);

    // The KL, entropy and per-sequence aggregation paths, on fresh engines of both kinds.
    const policyLoss = { klCoef: 0.1, entropyCoef: 0.01, lossAggregation: 'seq-mean-token-mean' as const };
    const torchKl = await TorchEngine.create({ kind: 'model-dir', dir: modelDir }, { ...torchOptions, policyLoss });
    const cpuKl = await CpuEngine.create({ kind: 'model-dir', dir: modelDir }, { ...options, policyLoss });
    try {
      const withRef: TrainBatch = { ...batch, samples: batch.samples.map((s) => ({ ...s, refLogprobs: s.oldLogprobs.map((x, t) => (s.lossMask[t] ? x - 0.1 * ((t % 3) - 1) : 0)) })) };
      const kt = await torchKl.step(withRef);
      const kc = await cpuKl.step(withRef);
      check(Math.abs(kt.loss - kc.loss) < 1e-4 && Math.abs(kt.kl - kc.kl) < 1e-5 && Math.abs(kt.grad_norm - kc.grad_norm) / kc.grad_norm < 1e-3,
        `with KL, entropy bonus and seq-mean-token-mean: loss ${kt.loss.toFixed(6)} vs ${kc.loss.toFixed(6)}, kl ${kt.kl.toFixed(6)} vs ${kc.kl.toFixed(6)}, grad norm ${kt.grad_norm.toFixed(5)} vs ${kc.grad_norm.toFixed(5)}`);
    } finally {
      await torchKl.dispose();
      await cpuKl.dispose();
    }

    const weighted = (lp: Float32Array, r: typeof a, sign: number) => r.mask.reduce((s, m, t) => s + m * sign * lp[t]!, 0);
    for (let i = 0; i < 3; i++) await torch.step(batch);
    const [ta2, tb2] = await torch.logprobs([{ ids: a.ids, from: a.promptLength }, { ids: b.ids, from: b.promptLength, temperature: 0.7 }]);
    check(weighted(ta2!, a, 1) > weighted(ta!, a, 1) && weighted(tb2!, b, -1) > weighted(tb!, b, -1), 'RL steps raise positive-advantage logprobs and lower negative ones');

    const out = join(work, 'exported');
    await torch.exportOnnx(out);
    const served = await OnnxBackend.load(out);
    try {
      const c = await rollout(served, prompt, 3, 0.9);
      const [tc] = await torch.logprobs([{ ids: c.ids, from: c.promptLength, temperature: 0.9 }]);
      check(maxDiff(tc!, c.logprobs) <= 1e-3, `the exported checkpoint serves the trained policy (max diff ${maxDiff(tc!, c.logprobs).toExponential(2)})`);
    } finally {
      await served.dispose();
    }
    await torch.saveState(join(work, 'state'));
    const resumed = await TorchEngine.create({ kind: 'model-dir', dir: out }, torchOptions);
    try {
      await resumed.loadState(join(work, 'state'));
      check(resumed.optimizerSteps === torch.optimizerSteps, `optimizer state restores (${resumed.optimizerSteps} steps)`);
    } finally {
      await resumed.dispose();
    }
  } finally {
    await backend.dispose();
    await cpu.dispose();
    await torch.dispose();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
