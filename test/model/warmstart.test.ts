import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelBackend } from '../../api/models/index.ts';
import { loadTokenizer } from '../../api/models/tokenizer.ts';
import { createQuickJSNodeExecutor } from '../../api/sandbox/quickjs/node.ts';
import { createCpuEngine } from '../../trainer/engines/cpu/engine.ts';
import type { Engine } from '../../trainer/engines/types.ts';
import { DEFAULT_MODEL_CONFIG } from '../../model/config.ts';
import { buildDataset } from '../../model/data.ts';
import type { SftExample } from '../../model/sft.ts';
import { writeVocabFiles } from '../../model/vocab.ts';
import { batchIndices, evaluationLoss, learningRate, runWarmstart } from '../../model/warmstart.ts';

/**
 * The warm-start loop: schedule and batch order (pure), and a few real supervised steps of the
 * cpu engine on warm-start sequences of a shrunk default architecture, exported and served back.
 */

describe('schedule', () => {
  const s = { steps: 100, lr: 1e-3, warmupSteps: 10, minLrRatio: 0.1 };
  it('warms up linearly, then decays by cosine to lr * minLrRatio', () => {
    expect(learningRate(0, s)).toBeCloseTo(1e-4);
    expect(learningRate(9, s)).toBeCloseTo(1e-3);
    expect(learningRate(10, s)).toBeCloseTo(1e-3);
    expect(learningRate(55, s)).toBeCloseTo(1e-3 * (0.1 + 0.9 * 0.5));
    expect(learningRate(100, s)).toBeCloseTo(1e-4);
    for (let i = 11; i < 100; i++) expect(learningRate(i, s)).toBeLessThanOrEqual(learningRate(i - 1, s));
  });

  it('visits every example once per epoch, in an order fixed by (seed, step)', () => {
    const epoch = Array.from({ length: 5 }, (_, step) => batchIndices(step, 4, 20, 7)).flat();
    expect([...epoch].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(batchIndices(3, 4, 20, 7)).toEqual(epoch.slice(12, 16));
    // A batch straddling two epochs takes the end of one and the start of the next.
    const straddle = batchIndices(2, 8, 20, 7);
    expect(straddle.slice(0, 4)).toEqual(epoch.slice(16, 20));
    expect(batchIndices(0, 4, 20, 8)).not.toEqual(batchIndices(0, 4, 20, 7));
    expect(() => batchIndices(0, 4, 0, 1)).toThrow(/empty/);
  });
});

describe('warm start on the cpu engine', () => {
  let dir: string;
  let engine: Engine;
  let data: SftExample[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cir-warmstart-'));
    await writeVocabFiles(join(dir, 'tokenizer'), DEFAULT_MODEL_CONFIG.maxPositionEmbeddings);
    const tokenizer = await loadTokenizer(join(dir, 'tokenizer'));
    const executor = createQuickJSNodeExecutor({ threads: 1 });
    try {
      data = (await buildDataset(executor, tokenizer, { count: 4, seed: 1 })).map((i) => i.example);
    } finally {
      await executor.dispose();
    }
    const config = { ...DEFAULT_MODEL_CONFIG, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 2, numKeyValueHeads: 1 };
    engine = await createCpuEngine({ kind: 'fresh', config, seed: 0, initStd: 0.02, tokenizerDir: join(dir, 'tokenizer') }, { threads: 1 });
  });

  afterAll(async () => {
    await engine?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('lowers the loss on its data, reports throughput, and exports a model the API serves', async () => {
    const before = await evaluationLoss(engine, data);
    expect(before.loss).toBeCloseTo(Math.log(DEFAULT_MODEL_CONFIG.vocabSize), 0);
    const schedule = { steps: 6, batchSize: 2, lr: 2e-2, warmupSteps: 1, minLrRatio: 0.5, seed: 0 };
    const history = await runWarmstart(engine, data, { schedule, evalEvery: 4, evalExamples: data.slice(0, 1) });
    expect(history.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    // Every evalEvery steps, and at the last step.
    expect(history.filter((m) => m.evalLoss !== undefined).map((m) => m.step)).toEqual([4, 6]);
    expect(history.every((m) => m.tokensPerSecond > 0 && m.loss_tokens > 0)).toBe(true);
    const after = await evaluationLoss(engine, data);
    expect(after.tokens).toBe(before.tokens);
    expect(after.loss).toBeLessThan(before.loss - 1);
    // A run that already reached the end of its schedule trains no further.
    expect(await runWarmstart(engine, data, { schedule })).toEqual([]);

    const modelDir = join(dir, 'model');
    await engine.exportOnnx(modelDir);
    const backend = await loadModelBackend({ kind: 'onnx', dir: modelDir, threads: 1 });
    try {
      expect(backend.tokenizer.renderChat([{ role: 'user', content: 'x' }])).toBe('<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n');
      const out = await backend.generate({ prompt: data[0]!.ids.slice(0, data[0]!.promptLength), maxTokens: 4, temperature: 0 });
      expect(out.sequences[0]!.tokenIds.length).toBeGreaterThan(0);
    } finally {
      await backend.dispose();
    }
  });
});
