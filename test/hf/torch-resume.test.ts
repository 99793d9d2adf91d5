/**
 * Checkpoints in bf16 (as Qwen2.5 ships): the engine trains fp32 master weights and exports bf16 (what
 * vLLM and transformers load, config.json saying so), and a run resumed from that export plus the saved
 * state continues exactly as if it had never stopped: saveState keeps the fp32 master weights that the
 * bf16 export rounds away.
 */
import { readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TorchEngine } from '../../trainer/engines/torch/engine.ts';
import { decodeSafetensors } from '../../trainer/engines/safetensors.ts';
import { DEFAULT_OPTIMIZER } from '../../trainer/engines/types.ts';
import { hfFixture, type HfFixture } from './env.ts';
import { maxDiff, readCheckpoint, syntheticBatch, TORCH_HOOK_TIMEOUT, TORCH_TEST_TIMEOUT } from './torch-fixtures.ts';

const OPTIONS = { optimizer: { ...DEFAULT_OPTIMIZER, lr: 1e-3 }, threads: 1 };

let fixture: HfFixture;
let work: string;
beforeAll(async () => {
  fixture = await hfFixture('qwen2');
  work = await mkdtemp(join(tmpdir(), 'cir-torch-resume-'));
}, TORCH_HOOK_TIMEOUT);
afterAll(() => rm(work, { recursive: true, force: true }));

describe('torch engine with bf16 checkpoints', () => {
  it('exports bf16, and resumes from a bf16 export and the saved state to the same next step as an uninterrupted run', async () => {
    const step1 = join(work, 'step-1');
    const state1 = join(work, 'state-1');
    // The fp32 fixture, exported in bf16: step-1 is then a bf16 checkpoint like Qwen2.5's.
    const engine = await TorchEngine.create({ kind: 'model-dir', dir: fixture.hf }, { ...OPTIONS, exportDtype: 'bf16' });
    let first, second, uninterrupted;
    try {
      expect(engine.workerInfo.export_dtype).toBe('bfloat16');
      first = await syntheticBatch(engine, 1);
      second = await syntheticBatch(engine, 2);
      await engine.step(first);
      const files = await engine.exportOnnx(step1);
      expect(files).toEqual(expect.arrayContaining(['model.safetensors', 'config.json', 'model.onnx']));
      await engine.saveState(state1);
      uninterrupted = await engine.step(second);
      await engine.exportOnnx(join(work, 'uninterrupted'));
    } finally {
      await engine.dispose();
    }

    expect(JSON.parse(await readFile(join(step1, 'config.json'), 'utf8')).dtype).toBe('bfloat16');
    const exported = await readCheckpoint(step1);
    expect(exported.dtypes).toEqual(new Set(['BF16']));
    // The export really rounds: the master weights saved with the state are not what model.safetensors holds.
    const master = decodeSafetensors(await readFile(join(state1, 'master.safetensors'))).tensors;
    expect(maxDiff(master['model.norm.weight']!.data as Float32Array, exported.tensors.get('model.norm.weight')!)).toBeGreaterThan(0);

    // Loaded from the bf16 checkpoint, the engine exports in its dtype without being told.
    const resumed = await TorchEngine.create({ kind: 'model-dir', dir: step1 }, OPTIONS);
    try {
      expect(resumed.workerInfo.export_dtype).toBe('bfloat16');
      await resumed.loadState(state1);
      expect(resumed.optimizerSteps).toBe(1);
      const next = await resumed.step(second);
      expect({ loss: next.loss, grad_norm: next.grad_norm, entropy: next.entropy }).toEqual({ loss: uninterrupted.loss, grad_norm: uninterrupted.grad_norm, entropy: uninterrupted.entropy });
      await resumed.exportOnnx(join(work, 'resumed'));
    } finally {
      await resumed.dispose();
    }
    const [a, b] = await Promise.all([readCheckpoint(join(work, 'uninterrupted')), readCheckpoint(join(work, 'resumed'))]);
    expect(b.dtypes).toEqual(new Set(['BF16']));
    for (const [name, values] of a.tensors) expect(maxDiff(values, b.tensors.get(name)!), name).toBe(0);
  }, TORCH_TEST_TIMEOUT);
});
