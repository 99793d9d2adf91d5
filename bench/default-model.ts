/**
 * The embedded default model's stages (model/README.md), each against a baseline measured in the
 * same run:
 *  - data generation: reference solutions per second (problem, sandbox runs, grading, encoding)
 *    against the sandbox runs alone of the same code, the floor of the stage;
 *  - warm start: tokens/s of the cpu engine's supervised step on real warm-start batches of the
 *    default architecture, against its forward pass alone (logprobs) over the same sequences; and
 *    the wall-clock the default schedule would take at that speed;
 *  - serving: generated tokens/s of the ONNX backend on the default architecture, one sequence
 *    against 8 decoded together.
 * CIR_BENCH_THREADS (default 1) sets compute threads.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../api/models/generation/rng.ts';
import { loadModelBackend } from '../api/models/index.ts';
import { loadTokenizer } from '../api/models/tokenizer.ts';
import { createQuickJSNodeExecutor } from '../api/sandbox/quickjs/node.ts';
import { DEFAULT_MODEL_CONFIG } from '../model/config.ts';
import { buildDataset } from '../model/data.ts';
import { writeFreshModel } from '../model/init.ts';
import { EXEC_LIMITS, ReferenceSolver } from '../model/solutions/reference.ts';
import { generateProblems, kindByName } from '../model/tasks/generate.ts';
import { Draw } from '../model/tasks/random.ts';
import { DEFAULT_WARMSTART } from '../model/warmstart.ts';
import { createCpuEngine } from '../trainer/engines/cpu/engine.ts';
import { table } from './stats.ts';

const THREADS = Number(process.env.CIR_BENCH_THREADS ?? 1);

async function benchDataGeneration(): Promise<void> {
  const executor = createQuickJSNodeExecutor({ threads: 1 });
  try {
    const problems = generateProblems({ split: 'warmstart', count: 200, seed: 0 });
    const solver = new ReferenceSolver(executor);
    const draw = new Draw(new Rng(0));
    const rate = async (each: (p: (typeof problems)[number]) => Promise<unknown>) => {
      const t = performance.now();
      for (const p of problems) await each(p);
      return problems.length / ((performance.now() - t) / 1000);
    };
    const sandboxRun = (p: (typeof problems)[number]) =>
      executor.execute({ language: 'javascript', code: kindByName(p.kind).code(p.params), stdin: '', ...EXEC_LIMITS });
    const solve = (p: (typeof problems)[number]) => solver.solve(p, 'clean', draw);
    await rate(solve); // warm-up
    // Interleaved rounds, best of each: the two share the machine's load.
    let sandboxOnly = 0;
    let solutions = 0;
    for (let round = 0; round < 3; round++) {
      sandboxOnly = Math.max(sandboxOnly, await rate(sandboxRun));
      solutions = Math.max(solutions, await rate(solve));
    }
    console.log(
      table(
        ['data generation (200 problems, best of 3)', 'per second', 'vs baseline'],
        [
          ['sandbox runs of the same code (baseline)', sandboxOnly.toFixed(0), '1.00'],
          ['reference solutions (run, grade, transcript)', solutions.toFixed(0), (solutions / sandboxOnly).toFixed(2)],
        ],
      ),
    );
  } finally {
    await executor.dispose();
  }
}

async function benchWarmstartAndServing(dir: string): Promise<void> {
  await writeFreshModel(dir);
  const tokenizer = await loadTokenizer(dir);
  const executor = createQuickJSNodeExecutor({ threads: 1 });
  const data = await buildDataset(executor, tokenizer, { count: 24, seed: 0 }).finally(() => executor.dispose());
  const batches = [0, 1, 2].map((b) => data.slice(b * 8, b * 8 + 8).map((i) => i.example));
  const engine = await createCpuEngine({ kind: 'model-dir', dir }, { threads: THREADS });
  let stepTokens = 0;
  let stepSeconds = 0;
  let forwardSeconds = 0;
  try {
    await engine.logprobs(batches[0]!.slice(0, 1).map((e) => ({ ids: e.ids }))); // warm-up
    for (const batch of batches) {
      let t = performance.now();
      await engine.logprobs(batch.map((e) => ({ ids: e.ids })));
      forwardSeconds += (performance.now() - t) / 1000;
      t = performance.now();
      const m = await engine.supervisedStep(batch, { lr: 1e-4 });
      stepSeconds += (performance.now() - t) / 1000;
      stepTokens += m.tokens;
    }
  } finally {
    await engine.dispose();
  }
  const stepRate = stepTokens / stepSeconds;
  const forwardRate = stepTokens / forwardSeconds;
  const meanLength = stepTokens / (batches.length * 8);
  const fullRunHours = (DEFAULT_WARMSTART.steps * DEFAULT_WARMSTART.batchSize * meanLength) / stepRate / 3600;
  console.log(
    table(
      [`warm start (${THREADS} thread(s), ${batches.length} steps of 8 sequences)`, 'tokens/s', 'vs baseline'],
      [
        ['forward only, logprobs (baseline)', forwardRate.toFixed(0), '1.00'],
        ['supervised step (forward, backward, AdamW)', stepRate.toFixed(0), (stepRate / forwardRate).toFixed(2)],
      ],
    ),
  );
  console.log(
    `default schedule: ${DEFAULT_WARMSTART.steps} steps x ${DEFAULT_WARMSTART.batchSize} sequences x ~${meanLength.toFixed(0)} tokens ` +
      `= ${((DEFAULT_WARMSTART.steps * DEFAULT_WARMSTART.batchSize * meanLength) / 1e6).toFixed(1)}M tokens, ~${fullRunHours.toFixed(1)} h at this speed`,
  );

  const backend = await loadModelBackend({ kind: 'onnx', dir, threads: THREADS });
  try {
    const prompt = { messages: [{ role: 'user', content: generateProblems({ split: 'heldout', count: 1 })[0]!.text }] };
    const decode = async (n: number) => {
      const t = performance.now();
      const out = await backend.generate({ prompt, n, maxTokens: 128, temperature: 1, seed: 1, ignoreEos: true });
      return out.usage.completionTokens / ((performance.now() - t) / 1000);
    };
    await decode(1); // warm-up
    const single = await decode(1);
    const batched = await decode(8);
    console.log(
      table(
        ['serving, default architecture (128 tokens)', 'tokens/s', 'vs baseline'],
        [
          ['one sequence (baseline)', single.toFixed(0), '1.00'],
          ['8 sequences decoded together', batched.toFixed(0), (batched / single).toFixed(2)],
        ],
      ),
    );
  } finally {
    await backend.dispose();
  }
}

/** `npm run bench default-model`. */
export async function benchDefaultModel(): Promise<void> {
  await benchDataGeneration();
  const dir = await mkdtemp(join(tmpdir(), 'cir-bench-default-model-'));
  try {
    await benchWarmstartAndServing(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
