import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxBackend } from '../../../api/models/onnx/backend.ts';
import { ensureModel } from '../../../scripts/make-model.ts';
import type { TrainBatch, TrainSample } from '../../batch/types.ts';
import { chunkByTokens, CpuEngine } from './engine.ts';

/** Rolls out one multi-turn sequence on the served model: generate, append "tool output", generate. */
async function rollout(backend: OnnxBackend, prompt: number[], seed: number, temperature: number) {
  const group = backend.startGroup({ prompt, n: 1, seed });
  try {
    const seq = group.sequences[0]!;
    const first = await seq.generate({ maxTokens: 12, temperature, ignoreEos: true });
    const tool = [40, 41, 42, 43];
    seq.append(tool);
    const second = await seq.generate({ maxTokens: 10, temperature, ignoreEos: true });
    const response = [...first.tokenIds, ...tool, ...second.tokenIds];
    const logprobs = [...first.logprobs, ...tool.map(() => null), ...second.logprobs];
    return { ids: [...prompt, ...response], promptLength: prompt.length, logprobs };
  } finally {
    group.dispose();
  }
}

function maxAbsDiff(engine: Float32Array, served: (number | null)[]): number {
  let max = 0;
  served.forEach((lp, t) => {
    if (lp !== null) max = Math.max(max, Math.abs(lp - engine[t]!));
  });
  return max;
}

function sample(ids: number[], promptLength: number, mask: number[], advantage: number, oldLogprobs: Float32Array, id: string): TrainSample {
  const R = ids.length - promptLength;
  return {
    id,
    groupId: 'g',
    inputIds: Int32Array.from(ids),
    promptLength,
    lossMask: Uint8Array.from(mask),
    oldLogprobs,
    advantages: Float32Array.from({ length: R }, (_, t) => (mask[t] ? advantage : 0)),
    reward: advantage,
    temperature: 1,
  };
}

const stats = { records: 2, duplicates: 0, partial: 0, unscored: 0, groups: 1, keptGroups: 1, samples: 2, meanReward: 0, accuracy: 0.5, toolCallsPerSample: 0, toolCallRate: 0, meanResponseLength: 0, lossTokens: 0, voidTurnsFiltered: 0 };

describe('cpu engine', () => {
  let modelDir: string;
  let work: string;
  beforeAll(async () => {
    modelDir = await ensureModel('tiny');
    work = await mkdtemp(join(tmpdir(), 'cir-cpu-engine-'));
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('computes the logprobs the ONNX runtime sampled with, before and after training and export', async () => {
    const engine = await CpuEngine.create({ kind: 'model-dir', dir: modelDir }, { threads: 1, optimizer: { lr: 3e-3 } });
    const backend = await OnnxBackend.load(modelDir);
    try {
      const prompt = backend.tokenizer.encode('Let us compute 12 * 34 with code.');
      const a = await rollout(backend, prompt, 1, 1);
      const b = await rollout(backend, prompt, 2, 0.7);
      const [la, lb] = await engine.logprobs([
        { ids: a.ids, from: a.promptLength },
        { ids: b.ids, from: b.promptLength, temperature: 0.7 },
      ]);
      expect(maxAbsDiff(la!, a.logprobs)).toBeLessThanOrEqual(1e-3);
      expect(maxAbsDiff(lb!, b.logprobs)).toBeLessThanOrEqual(1e-3);

      // Train a few supervised steps so the weights differ from the served ones, export, serve, compare again.
      const target = { ids: a.ids, lossMask: a.ids.map((_, i) => (i >= a.promptLength ? 1 : 0)) };
      const first = await engine.supervisedStep([target]);
      for (let i = 0; i < 3; i++) await engine.supervisedStep([target]);
      const last = await engine.supervisedStep([target]);
      expect(last.loss).toBeLessThan(first.loss);
      const out = join(work, 'exported');
      const written = await engine.exportOnnx(out);
      expect(written).toEqual(expect.arrayContaining(['model.onnx', 'config.json', 'tokenizer.json', 'tokenizer_config.json']));
      expect((await readdir(out)).sort()).toEqual([...written].sort());
      const served = await OnnxBackend.load(out);
      try {
        const c = await rollout(served, prompt, 3, 0.9);
        const [lc] = await engine.logprobs([{ ids: c.ids, from: c.promptLength, temperature: 0.9 }]);
        expect(maxAbsDiff(lc!, c.logprobs)).toBeLessThanOrEqual(1e-3);
      } finally {
        await served.dispose();
      }
      // Reloading the exported directory gives the same policy.
      const reloaded = await CpuEngine.create({ kind: 'model-dir', dir: out }, { threads: 1 });
      const [again] = await reloaded.logprobs([{ ids: a.ids, from: a.promptLength }]);
      const [now] = await engine.logprobs([{ ids: a.ids, from: a.promptLength }]);
      expect(maxAbsDiff(again!, Array.from(now!))).toBeLessThan(1e-5);
      await reloaded.dispose();
    } finally {
      await backend.dispose();
      await engine.dispose();
    }
  });

  it('raises the logprobs of positive-advantage tokens and lowers negative ones; masked tokens do not matter', async () => {
    const create = () => CpuEngine.create({ kind: 'model-dir', dir: modelDir }, { threads: 1, optimizer: { lr: 1e-3 }, microBatchTokens: 24 });
    const engine = await create();
    const twin = await create();
    try {
      const good = [5, 9, 17, 30, 31, 32, 60, 61, 62, 63, 64];
      const bad = [5, 9, 17, 70, 71, 72, 80, 81, 82, 83, 84];
      const P = 3;
      // Response tokens 3..5 (positions 6..8) are "tool output": masked out.
      const mask = [1, 1, 1, 0, 0, 0, 1, 1];
      const [goodOld, badOld] = await engine.logprobs([{ ids: good, from: P }, { ids: bad, from: P }]);
      const batchFor = (maskedAdvantage: number, maskedOld: number): TrainBatch => {
        const s = [sample(good, P, mask, 1, goodOld!.slice(), 'good'), sample(bad, P, mask, -1, badOld!.slice(), 'bad')];
        for (const x of s) for (let t = 0; t < mask.length; t++) if (!mask[t]) {
          x.advantages[t] = maskedAdvantage;
          x.oldLogprobs[t] = maskedOld;
        }
        return { samples: s, stats };
      };
      const weighted = (lp: Float32Array, sign: number) => mask.reduce((s, m, t) => s + (m ? sign * lp[t]! : 0), 0);
      const before = weighted(goodOld!, 1) + weighted(badOld!, -1);
      const metrics = await engine.step(batchFor(0, 0));
      await twin.step(batchFor(1000, -50)); // garbage on masked tokens
      for (let i = 0; i < 2; i++) {
        await engine.step(batchFor(0, 0));
        await twin.step(batchFor(1000, -50));
      }
      const [goodNew, badNew] = await engine.logprobs([{ ids: good, from: P }, { ids: bad, from: P }]);
      expect(weighted(goodNew!, 1)).toBeGreaterThan(weighted(goodOld!, 1));
      expect(weighted(badNew!, -1)).toBeGreaterThan(weighted(badOld!, -1));
      expect(weighted(goodNew!, 1) + weighted(badNew!, -1)).toBeGreaterThan(before);
      expect(metrics.loss_tokens).toBe(10);
      expect(metrics.tokens).toBe(22);
      // First step: on-policy, ratio 1 everywhere, nothing clipped yet.
      expect(metrics.grad_norm).toBeGreaterThan(0);
      expect(metrics.pg_clipfrac).toBe(0);
      expect(metrics.ppo_kl).toBeCloseTo(0, 5);
      // The twin saw different advantages and old logprobs on masked tokens only: identical policy.
      const [twinGood] = await twin.logprobs([{ ids: good, from: P }]);
      expect(Array.from(twinGood!)).toEqual(Array.from(goodNew!));
    } finally {
      await engine.dispose();
      await twin.dispose();
    }
  });

  it('splits micro-batches without changing the update, and saves / restores optimizer state', async () => {
    const ids = [5, 9, 17, 30, 31, 32, 60, 61, 62];
    const mask = [1, 1, 1, 1, 1, 1];
    const make = (microBatchTokens: number) => CpuEngine.create({ kind: 'model-dir', dir: modelDir }, { threads: 1, optimizer: { lr: 1e-3 }, microBatchTokens });
    const whole = await make(1000);
    const split = await make(1);
    try {
      const [old] = await whole.logprobs([{ ids, from: 3 }]);
      const batch: TrainBatch = { samples: [sample(ids, 3, mask, 1, old!, 'a'), sample([...ids].reverse(), 3, mask, -0.5, old!, 'b')], stats };
      const m1 = await whole.step(batch);
      const m2 = await split.step(batch);
      expect(m2.loss).toBeCloseTo(m1.loss, 5);
      expect(m2.grad_norm).toBeCloseTo(m1.grad_norm, 4);
      const [a] = await whole.logprobs([{ ids, from: 3 }]);
      const [b] = await split.logprobs([{ ids, from: 3 }]);
      expect(maxAbsDiff(a!, Array.from(b!))).toBeLessThan(1e-5);

      // Resume: export + state, reload, one more step each: same result as the uninterrupted engine.
      const dir = join(work, 'resume');
      await whole.exportOnnx(dir);
      await whole.saveState(dir);
      const resumed = await CpuEngine.create({ kind: 'model-dir', dir }, { threads: 1, optimizer: { lr: 1e-3 } });
      try {
        await resumed.loadState(dir);
        expect(resumed.optimizerSteps).toBe(1);
        await whole.step(batch);
        await resumed.step(batch);
        const [x] = await whole.logprobs([{ ids, from: 3 }]);
        const [y] = await resumed.logprobs([{ ids, from: 3 }]);
        expect(maxAbsDiff(x!, Array.from(y!))).toBeLessThan(1e-5);
      } finally {
        await resumed.dispose();
      }
    } finally {
      await whole.dispose();
      await split.dispose();
    }
  });

  it('refuses inconsistent samples, empty batches, foreign state and use after dispose', async () => {
    const engine = await CpuEngine.create({ kind: 'model-dir', dir: modelDir }, { threads: 1 });
    const ids = [5, 9, 17, 30];
    const ok = sample(ids, 2, [1, 1], 1, new Float32Array(2), 'x');
    await expect(engine.step({ samples: [{ ...ok, lossMask: Uint8Array.from([1]) }], stats })).rejects.toThrow(/inputIds has 4 tokens, promptLength \+ lossMask.length is 3/);
    await expect(engine.step({ samples: [{ ...ok, lossMask: Uint8Array.from([0, 0]) }], stats })).rejects.toThrow(/no loss tokens/);
    await expect(engine.step({ samples: [{ ...ok, inputIds: Int32Array.from([5, 9, 17, 99999]) }], stats })).rejects.toThrow(/outside the vocabulary/);
    await expect(engine.logprobs([{ ids: new Array(engine.config.maxPositionEmbeddings + 1).fill(5) }])).rejects.toThrow(/exceeds max_position_embeddings/);
    await expect(engine.logprobs([{ ids, from: 0 }])).rejects.toThrow(/from must be an integer in \[1, 4\]/);
    await expect(engine.loadState(join(work, 'nowhere'))).rejects.toThrow(/cannot read optimizer state/);
    await engine.dispose();
    await expect(engine.logprobs([{ ids }])).rejects.toThrow(/disposed/);
  });

  it('starts from fresh weights for a config, and exports a directory that reloads to the same policy', async () => {
    const config = {
      modelType: 'llama', vocabSize: 50, hiddenSize: 32, intermediateSize: 48, numHiddenLayers: 1, numAttentionHeads: 4, numKeyValueHeads: 2,
      maxPositionEmbeddings: 64, ropeTheta: 10000, rmsNormEps: 1e-5, tieWordEmbeddings: false, attentionBias: false, bosTokenId: null, eosTokenId: 1,
    } as const;
    await expect(CpuEngine.create({ kind: 'fresh', config, seed: 1, initStd: 0.1, tokenizerDir: work }, { threads: 1 })).rejects.toThrow(/no tokenizer.json/);
    const engine = await CpuEngine.create({ kind: 'fresh', config, seed: 1, initStd: 0.1, tokenizerDir: modelDir }, { threads: 1, optimizer: { lr: 1e-2 } });
    try {
      const ids = [3, 4, 5, 6, 7, 8, 9];
      const before = await engine.supervisedStep([{ ids, lossMask: [0, 0, 1, 1, 1, 1, 1] }]);
      expect(before.loss).toBeGreaterThan(Math.log(50) - 1); // near-uniform at init
      await expect(engine.supervisedStep([{ ids, lossMask: [1] }])).rejects.toThrow(/lossMask has 1 entries, ids has 7/);
      const dir = join(work, 'fresh');
      await engine.exportOnnx(dir);
      await engine.saveState(dir);
      const other = await CpuEngine.create({ kind: 'model-dir', dir: modelDir }, { threads: 1 });
      await expect(other.loadState(dir)).rejects.toThrow(/optimizer state is for architecture llama:h32/);
      await other.dispose();
      const reloaded = await CpuEngine.create({ kind: 'model-dir', dir }, { threads: 1 });
      try {
        expect(reloaded.config).toMatchObject(config);
        const [a] = await engine.logprobs([{ ids }]);
        const [b] = await reloaded.logprobs([{ ids }]);
        expect(maxAbsDiff(a!, Array.from(b!))).toBeLessThan(1e-6);
      } finally {
        await reloaded.dispose();
      }
    } finally {
      await engine.dispose();
    }
  });

  it('chunks sequences by token budget, longest first', () => {
    expect(chunkByTokens([3, 3, 3, 10, 1], 6)).toEqual([[3], [0, 1], [2, 4]]);
    expect(chunkByTokens([], 6)).toEqual([]);
  });
});
