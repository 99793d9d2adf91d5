/**
 * `cir train --engine torch` end to end, in-process: queued trajectories → a torch step on a Hugging Face
 * checkpoint → a published checkpoint holding both the Hugging Face weights (what vLLM and transformers
 * load) and the ONNX export (what the API serves) → a second job that resumes the run.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../cli/io.ts';
import { trainCommand } from '../../cli/commands/train.ts';
import { readLatestPointer, readPointedManifest } from '../../core/checkpoints/layout.ts';
import { LocalQueue } from '../../core/queue/local.ts';
import type { TrajectoryRecord } from '../../core/schemas/trajectory.ts';
import { FsObjectStore } from '../../core/storage/fs.ts';
import { runCommand } from '../cli-run.ts';
import { makeRecord, sendBatch, tempDir } from '../trainer/fixtures.ts';
import { hfFixture, type HfFixture } from './env.ts';
import { TORCH_HOOK_TIMEOUT, TORCH_TEST_TIMEOUT } from './torch-fixtures.ts';

/** Four samples of one problem, two right and two wrong, so the group carries a learning signal. */
function group(problem: string): TrajectoryRecord[] {
  return [0, 1, 2, 3].map((i) => makeRecord({ group_id: problem, group_size: 4, request_id: problem, sample_index: i, final_answer: i % 2 === 0 ? '1024' : '7' }));
}

let fixture: HfFixture;
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  fixture = await hfFixture('qwen2');
  ({ dir, cleanup } = await tempDir('torch-train-cli'));
}, TORCH_HOOK_TIMEOUT);
afterAll(() => cleanup?.());

describe('cir train --engine torch', () => {
  it('trains on the queue, publishes the Hugging Face weights with the ONNX export, and resumes in a second job', async () => {
    const store = new FsObjectStore(join(dir, 'objects'));
    const queue = new LocalQueue(join(dir, 'queue'));
    const env = { CIR_DATA_DIR: dir, CIR_STORAGE_DIR: join(dir, 'objects'), CIR_QUEUE_DIR: join(dir, 'queue'), CIR_CHECKPOINTS: 'ckpt' };
    const run = join(dir, 'run');
    const args = ['--run-dir', run, '--engine', 'torch', '--device', 'cpu', '--init', fixture.hf, '--batch-records', '4', '--wait-s', '0.05', '--threads', '1', '--lr', '1e-3'];

    await sendBatch(store, queue, group('p1'));
    const first = await runCommand(trainCommand, args, env);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ step: 1, latest: 'run-step-000001', consumed: { accepted: 4 } });
    const { manifest } = await readPointedManifest(store, 'ckpt', (await readLatestPointer(store, 'ckpt'))!);
    expect(Object.keys(manifest.files)).toEqual(expect.arrayContaining(['model.safetensors', 'config.json', 'generation_config.json', 'model.onnx', 'tokenizer.json']));
    expect(await readdir(join(run, 'engine', 'step-000001'))).toContain('torch-optimizer.pt');

    // The second job resumes, and publishes for vLLM only (--onnx none): Hugging Face weights, no ONNX.
    await sendBatch(store, queue, group('p2'));
    const second = await runCommand(trainCommand, [...args, '--onnx', 'none'], env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('resuming run');
    expect(JSON.parse(second.stdout)).toMatchObject({ step: 2, latest: 'run-step-000002', consumed: { accepted: 4 } });
    const latest = await readPointedManifest(store, 'ckpt', (await readLatestPointer(store, 'ckpt'))!);
    expect(latest.manifest).toMatchObject({ version: 'run-step-000002', parent: 'run-step-000001', step: 2 });
    expect(Object.keys(latest.manifest.files)).toContain('model.safetensors');
    expect(Object.keys(latest.manifest.files)).not.toContain('model.onnx');
  }, TORCH_TEST_TIMEOUT);

  it('trains with the paper\'s recipe: mini-batches of whole groups, a KL term to the initial weights held by a second torch process', async () => {
    const sub = join(dir, 'recipe');
    const store = new FsObjectStore(join(sub, 'objects'));
    const queue = new LocalQueue(join(sub, 'queue'));
    const env = { CIR_DATA_DIR: sub, CIR_STORAGE_DIR: join(sub, 'objects'), CIR_QUEUE_DIR: join(sub, 'queue'), CIR_CHECKPOINTS: 'ckpt' };
    await sendBatch(store, queue, [...group('p1'), ...group('p2')]);
    const args = [
      '--run-dir', join(sub, 'run'), '--engine', 'torch', '--device', 'cpu', '--init', fixture.hf, '--wait-s', '0.05', '--threads', '1', '--onnx', 'none',
      '--recipe', 'cir', '--batch-groups', '2', '--mini-batch-groups', '1', '--samples', '4', '--lr', '1e-3', '--kl-coef', '0.1', '--epochs', '2',
    ];
    const result = await runCommand(trainCommand, args, env);
    expect(result.code, result.stderr).toBe(0);
    const [step] = JSON.parse(result.stdout).steps;
    // 2 problems in mini-batches of 1, 2 epochs: 4 updates; the KL to the initial weights is 0 at the first and grows after.
    expect(step).toMatchObject({ groups: 2, samples: 8, updates: 4, lr: 1e-3 });
    expect(step.kl).toBeGreaterThan(0);
    expect(result.stderr).toMatch(/settings \(recipe cir\): rpp, lr 0.001, 2 problems per step in mini-batches of 1, clip 0.2\/0.28, dual clip 3, kl 0.1/);
  }, TORCH_TEST_TIMEOUT);
});

describe('cir train usage', () => {
  const run = (argv: string[]) => runCommand(trainCommand, ['--run-dir', '/nonexistent/run', ...argv]);

  it('names a bad --engine, --device, --dtype, --nproc, --strategy, --onnx or --micro-batch-tokens, and torch-only flags given to the cpu engine', async () => {
    await expect(run(['--engine', 'gpu'])).rejects.toThrow(new UsageError('--engine must be cpu or torch, got "gpu"'));
    await expect(run(['--engine', 'torch', '--device', 'tpu'])).rejects.toThrow(/--device must be auto, cpu or cuda/);
    await expect(run(['--engine', 'torch', '--dtype', 'fp16'])).rejects.toThrow(/--dtype must be bf16 or fp32/);
    await expect(run(['--engine', 'torch', '--nproc', '0'])).rejects.toThrow(/--nproc must be an integer ≥ 1/);
    await expect(run(['--engine', 'torch', '--onnx', 'int8'])).rejects.toThrow(/--onnx must be fp32, fp16 or none/);
    await expect(run(['--engine', 'torch', '--strategy', 'zero3'])).rejects.toThrow(/--strategy must be ddp or fsdp/);
    await expect(run(['--micro-batch-tokens', '0'])).rejects.toThrow(/--micro-batch-tokens must be an integer ≥ 1/);
    await expect(run(['--device', 'cuda', '--nproc', '2'])).rejects.toThrow('--device, --nproc apply to --engine torch only');
    await expect(run(['--dtype', 'bf16'])).rejects.toThrow(UsageError);
  });
});
