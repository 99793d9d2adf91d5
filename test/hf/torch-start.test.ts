/**
 * The torch engine's start-up failures are sentences that say what to install or change, raised before
 * any training: no interpreter, an interpreter without torch, CUDA asked for where there is none,
 * weights that do not fit the model; and the worker reports its own import failure as a JSON line.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TorchEngine } from '../../trainer/engines/torch/engine.ts';
import { probeOnce } from '../../trainer/engines/torch/launch.ts';
import type { TorchPythonInfo } from '../../trainer/engines/torch/python.ts';
import { WORKER_SCRIPT } from '../../trainer/engines/torch/worker.ts';
import { encodeSafetensors } from '../../trainer/engines/safetensors.ts';
import { hfFixture, referencePython, type HfFixture } from './env.ts';
import { TORCH_HOOK_TIMEOUT, TORCH_TEST_TIMEOUT } from './torch-fixtures.ts';

let work: string;
/** The system Python without its site packages: an interpreter that certainly lacks torch. */
let bare: string;
let fixture: HfFixture;
let venv: TorchPythonInfo;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cir-torch-start-'));
  bare = join(work, 'python-without-torch');
  await writeFile(bare, '#!/bin/sh\nexec python3 -S "$@"\n', { mode: 0o755 });
  fixture = await hfFixture('qwen2');
  venv = await probeOnce(await referencePython());
}, TORCH_HOOK_TIMEOUT);
afterAll(() => rm(work, { recursive: true, force: true }));

describe('torch engine start-up errors', () => {
  const init = () => ({ kind: 'model-dir' as const, dir: fixture.hf });

  it('names a missing interpreter and how to get one', async () => {
    await expect(TorchEngine.create(init(), { python: join(work, 'no-such-python') })).rejects.toThrow(/no Python interpreter at ".*no-such-python".*npm run setup:python/);
  });

  it('says torch is missing and what to install', async () => {
    await expect(TorchEngine.create(init(), { python: bare })).rejects.toThrow(/torch is not importable.*npm run setup:python/);
  });

  it('refuses device cuda where torch has no GPU, saying why', async (ctx) => {
    if (venv.cudaDevices > 0) ctx.skip();
    // e.g. "device cuda was asked for, but torch 2.13.0+cpu was built without CUDA (.venv/bin/python)"
    await expect(TorchEngine.create(init(), { python: venv.python, device: 'cuda' })).rejects.toThrow(`device cuda was asked for, but ${venv.cudaReason}`);
    await expect(TorchEngine.create(init(), { python: venv.python, dtype: 'bf16' })).rejects.toThrow(/bf16 is autocast on CUDA/);
  });

  it('refuses weights that do not fit the model instead of training freshly initialised tensors', async () => {
    const broken = join(work, 'broken');
    await mkdir(broken);
    for (const file of ['config.json', 'tokenizer.json']) await copyFile(join(fixture.hf, file), join(broken, file));
    await writeFile(join(broken, 'model.safetensors'), encodeSafetensors({ 'model.norm.weight': { data: new Float32Array(64).fill(1), shape: [64] } }, { format: 'pt' }));
    await expect(TorchEngine.create({ kind: 'model-dir', dir: broken }, { python: venv.python })).rejects.toThrow(/torch worker failed to start: ValueError: the weights in .*broken do not fit Qwen2ForCausalLM/);
  }, TORCH_TEST_TIMEOUT);

  it('the worker itself answers an import failure with a JSON error line', async () => {
    const stdout = await new Promise<string>((resolve) => execFile(bare, [WORKER_SCRIPT, '--model', fixture.hf, '--options', '{}'], (_, out) => resolve(out)));
    expect(JSON.parse(stdout.trim().split('\n')[0]!)).toEqual({ ok: false, error: expect.stringMatching(/No module named 'torch'.*pip install torch transformers/) });
  });
});

