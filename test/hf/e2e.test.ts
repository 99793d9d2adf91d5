/**
 * A Hugging Face checkpoint end to end, as a user runs it: a transformers-made Qwen2 checkpoint that answers
 * in the loop's protocol (test/hf/demo.ts) → `cir import` → `cir serve` with CIR_MODEL_DIR and
 * CIR_CHECKPOINTS → /v1/solve writes Python, the sandbox runs it, the output goes back as ids, answers are
 * graded and trajectories logged → `cir train --engine torch` consumes them, takes an RL step on the
 * Hugging Face weights and publishes a checkpoint carrying the Hugging Face weights and the ONNX export →
 * the server hot-swaps to it and serves the trained model.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeServer, type RunningServer } from '../../api/node.ts';
import { loadTokenizer } from '../../api/models/tokenizer.ts';
import { main } from '../../cli/main.ts';
import { readLatestPointer, readPointedManifest } from '../../core/checkpoints/layout.ts';
import { FsObjectStore } from '../../core/storage/fs.ts';
import { runCommand } from '../cli-run.ts';
import { tempDir } from '../trainer/fixtures.ts';
import { DEMO_PROBLEMS, demoSequences } from './demo.ts';
import { hfFixture, type HfFixture } from './env.ts';

interface Sample {
  correct: boolean;
  final_answer: string | null;
  tool_calls: { used: number; by_status: Record<string, number> };
  segments: { type: string; output?: string }[];
}
interface Solved {
  checkpoint_version: string;
  samples: Sample[];
}

let work: string;
let cleanup: () => Promise<void>;
let demo: HfFixture;
let server: RunningServer | undefined;
const modelDir = () => join(work, 'model');

beforeAll(async () => {
  ({ dir: work, cleanup } = await tempDir('hf-e2e'));
  const base = await hfFixture('qwen2');
  const tokenizer = await loadTokenizer(base.hf);
  demo = await hfFixture('qwen2', { sft: { name: 'demo', sequences: demoSequences(tokenizer, tokenizer.eosTokenId!), steps: 40, lr: 1e-2 } });
}, 600_000);

afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

async function solve(problem: string, gold: string, options: Record<string, unknown>): Promise<Solved> {
  const res = await fetch(`${server!.url}/v1/solve`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ problem, gold, max_tokens: 60, ...options }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Solved;
}

async function info(): Promise<{ checkpoint: { version: string }; trajectories: { queued: number } }> {
  return (await (await fetch(`${server!.url}/v1/info`)).json()) as never;
}

/** Waits for the server to reach a state (trajectories delivered, a checkpoint swapped in), checking every 50 ms. */
async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('a Hugging Face checkpoint: import, serve, solve with tool calls, train with torch, hot swap', () => {
  it('cir import makes the checkpoint a model directory, and cir serve serves it', async () => {
    const imported = await runCommand(main, ['import', demo.hf, '--out', modelDir()]);
    expect(imported.code, imported.stderr).toBe(0);
    server = await startNodeServer({
      PORT: '0',
      CIR_DATA_DIR: join(work, 'data'),
      CIR_MODEL_DIR: modelDir(),
      CIR_CHECKPOINTS: 'checkpoints',
      CIR_CHECKPOINT_POLL_MS: '200',
      CIR_TRAJ_BATCH_MS: '50',
      CIR_PYTHON_EXECUTOR: 'bwrap',
      CIR_EXEC_CONCURRENCY: '1',
      CIR_MODEL_THREADS: '1',
    });
    expect((await info()).checkpoint.version).toBe('static');
  }, 120_000);

  it('solves with tool calls: the model writes Python, the sandbox runs it, the output is read back and boxed', async () => {
    const [multiply, square] = DEMO_PROBLEMS;
    const greedy = await solve(square!.problem, square!.gold, { temperature: 0 });
    expect(greedy.samples[0]).toMatchObject({ correct: true, final_answer: '49', tool_calls: { used: 1, by_status: { ok: 1 } } });
    expect(greedy.samples[0]!.segments.map((s) => s.type)).toEqual(['code', 'output', 'text']);
    expect(greedy.samples[0]!.segments[1]!.output).toBe('49');

    // Sampled: the checkpoint learned a right and a wrong program for this problem, so the group's rewards differ.
    const sampled = await solve(multiply!.problem, multiply!.gold, { n: 8, temperature: 1, seed: 1 });
    const answers = sampled.samples.map((s) => s.final_answer);
    expect(answers).toContain('408');
    expect(answers).toContain('46');
    for (const s of sampled.samples.filter((s) => s.final_answer !== null)) expect(s.tool_calls).toMatchObject({ used: 1, by_status: { ok: 1 } });
    await until(async () => (await info()).trajectories.queued >= 9, 'the trajectories to be logged');
  }, 120_000);

  it('cir train --engine torch trains the Hugging Face weights on those trajectories, publishes them with the ONNX export, and the server swaps', async () => {
    const trained = await runCommand(
      main,
      ['train', '--engine', 'torch', '--device', 'cpu', '--run-dir', join(work, 'run'), '--init', modelDir(), '--batch-records', '16', '--lr', '1e-3', '--notify', server!.url],
      { CIR_DATA_DIR: join(work, 'data'), CIR_CHECKPOINTS: 'checkpoints' },
    );
    expect(trained.code, trained.stderr).toBe(0);
    const summary = JSON.parse(trained.stdout) as { step: number; latest: string };
    expect(summary.step).toBe(1);

    const store = new FsObjectStore(join(work, 'data', 'objects'));
    const pointer = (await readLatestPointer(store, 'checkpoints'))!;
    expect(pointer.version).toBe(summary.latest);
    const { manifest } = await readPointedManifest(store, 'checkpoints', pointer);
    // What vLLM or transformers load, beside what the ONNX runtime serves.
    expect(Object.keys(manifest.files)).toEqual(expect.arrayContaining(['config.json', 'generation_config.json', 'model.safetensors', 'model.onnx', 'tokenizer.json', 'chat_template.jinja']));
    const before = createHash('sha256').update(await readFile(join(modelDir(), 'model.safetensors'))).digest('hex');
    expect(manifest.files['model.safetensors']).not.toBe(before);

    await until(async () => (await info()).checkpoint.version === pointer.version, 'the server to swap to the published checkpoint');
    const after = await solve(DEMO_PROBLEMS[1]!.problem, DEMO_PROBLEMS[1]!.gold, { temperature: 0 });
    expect(after.checkpoint_version).toBe(pointer.version);
    expect(after.samples[0]).toMatchObject({ correct: true, tool_calls: { used: 1 } });
  }, 300_000);
});
