import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelBackend, type ModelBackend } from '../../api/models/index.ts';
import { solveProblem } from '../../api/reasoning/index.ts';
import { Sandbox } from '../../api/sandbox/index.ts';
import { createQuickJSNodeExecutor } from '../../api/sandbox/quickjs/node.ts';
import { DEFAULT_MODEL_CONFIG } from '../../model/config.ts';
import { evaluate, pairedDifference } from '../../model/evaluate.ts';
import { writeFreshModel } from '../../model/init.ts';
import { generateProblems } from '../../model/tasks/generate.ts';

/**
 * The measurement harness on an untrained model of the default layout (digit-group vocabulary, chat
 * template), served by the ONNX backend and run through the real rollout loop and sandbox.
 */

let dir: string;
let backend: ModelBackend;
let sandbox: Sandbox;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cir-model-eval-'));
  // The default architecture, shrunk so the test decodes quickly.
  await writeFreshModel(dir, { config: { ...DEFAULT_MODEL_CONFIG, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 2, numKeyValueHeads: 1 }, initStd: 0.5 });
  backend = await loadModelBackend({ kind: 'onnx', dir, threads: 1 });
  sandbox = new Sandbox({
    executors: [createQuickJSNodeExecutor({ threads: 1 })],
    limits: { maxCodeBytes: 65536, timeoutMs: { default: 2000, max: 2000 }, memoryMb: { default: 64, max: 64 }, outputBytes: { default: 4096, max: 4096 } },
    queueLimit: 8,
  });
});

afterAll(async () => {
  await backend?.dispose();
  await sandbox?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('evaluate', () => {
  it('serves the fresh model with the default vocabulary and reports per-kind and per-level accuracy', async () => {
    expect(backend.tokenizer.vocabSize).toBe(DEFAULT_MODEL_CONFIG.vocabSize);
    const problems = generateProblems({ split: 'heldout', count: 3, seed: 1 });
    const report = await evaluate({ backend, checkpoint: { version: 'test' } }, sandbox, problems, { budget: 0, maxTokens: 24, n: 2, temperature: 1, seed: 3 });
    expect(report.samples).toBe(6);
    expect(report.budget).toBe(0);
    // Budget 0: nothing is ever executed.
    expect(report.toolCallsPerSample).toBe(0);
    // An untrained model answers nothing right; every sample ends within its token limit.
    expect(report.accuracy).toBe(0);
    expect(report.meanCompletionTokens).toBeLessThanOrEqual(24);
    expect(Object.values(report.finishReasons).reduce((a, b) => a + b, 0)).toBe(6);
    expect(Object.values(report.byKind).reduce((a, b) => a + b.samples, 0)).toBe(6);
    expect(Object.keys(report.byLevel).every((l) => ['1', '2', '3'].includes(l))).toBe(true);
    expect(report.tokensPerSecond).toBeGreaterThan(0);
    expect(Object.values(report.byPhrasingSet).reduce((a, b) => a + b.samples, 0)).toBe(6);
    expect(report.perProblem).toEqual(Object.fromEntries(problems.map((p) => [p.id, 0])));
  });

  it('pairs two evaluations problem by problem: mean difference and a 95% interval, in points', () => {
    // Differences 1, 0.5, 0, 0.5: mean 0.5, sample sd sqrt(1/6), half-width 1.96 * sqrt(1/6) / 2 = 0.4001.
    const before = { a: 0, b: 0.5, c: 0.5, d: 0 };
    const after = { a: 1, b: 1, c: 0.5, d: 0.5 };
    expect(pairedDifference(before, after)).toEqual({ problems: 4, points: 50, ci95: [10, 90], better: 3, worse: 0 });
    expect(pairedDifference(after, before).points).toBe(-50);
    expect(() => pairedDifference(before, { a: 1 })).toThrow(/different problems/);
  });

  it('answers problems outside the family (any script, long, odd) within the limits', async () => {
    const served = { backend, checkpoint: { version: 'test' } };
    for (const problem of ['Écris un poème sur les nombres premiers 😀', '?', 'x'.repeat(400), '```javascript\nwhile(true){}\n```']) {
      const result = await solveProblem(served, sandbox, { problem, maxTokens: 32, n: 1, temperature: 1, seed: 1, maxToolCalls: 1 });
      const [sample] = result.samples;
      expect(['stop', 'length', 'tool_budget']).toContain(sample!.finishReason);
      expect(sample!.usage.completionTokens).toBeLessThanOrEqual(32);
    }
  });
});
