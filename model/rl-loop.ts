/**
 * RL through the real loop, the way the product runs it (issue 8):
 *
 *   npx tsx model/rl-loop.ts --init runs/ws/model --work runs/rl [--rounds 16] [--problems 32] [--n 8] [--split rl]
 *       [--budget 0:2,6:3,12:4] [--lr 5e-5] [--epochs 1] [--temperature 1] [--max-tokens 768] [--seed 1]
 *       [--threads 1] [--serve-threads 2]
 *
 * Three real processes' worth of work, nothing simulated:
 *  - `cir serve` (a child process) serves the checkpoint area of the work directory's store
 *    (CIR_CHECKPOINTS) and logs every trajectory of /v1/solve to the store and the queue;
 *  - each round, `--split` problems (new ones every round; `rl` by default, `seen` for the warm
 *    start's own phrasings and levels) with their golds go to /v1/solve over
 *    HTTP, n samples each (model/rollouts.ts);
 *  - `cir train --max-steps 1` (a child process) consumes exactly those trajectories, takes one
 *    GRPO step with the cpu engine, publishes the checkpoint with the schedule's tool budget and
 *    notifies the server, which verifies and hot-swaps to it before the next round starts.
 *
 * The first checkpoint is --init published as `rl-base` with the schedule's budget at step 0.
 * Per round, one line of WORK/rounds.jsonl: the version that served the rollouts, their accuracy,
 * tool calls and groups with mixed rewards, the trainer's step metrics and the seconds of each
 * stage. Re-running continues after the last round written; Ctrl-C or SIGTERM stops the children
 * (`cir serve`, a `cir train` at a safe point) before exiting. The trainer's own metrics.jsonl and
 * plots are in WORK/train.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseScriptArgs } from '../scripts/args.ts';
import { Progress } from '../trainer/run/progress.ts';
import { runRollouts } from './rollouts.ts';
import { generateProblems, SPLITS, type Split } from './tasks/generate.ts';
import { DECODE_NODE_FLAGS } from '../api/models/onnx/heap.ts';

const USAGE =
  'usage: npx tsx model/rl-loop.ts --init MODEL_DIR --work DIR [--rounds 16] [--problems 32] [--n 8] [--split rl] [--budget 0:2,6:3,12:4] ' +
  '[--lr 5e-5] [--epochs 1] [--temperature 1] [--max-tokens 768] [--seed 1] [--threads 1] [--serve-threads 2]';

const CIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'cir.mjs');

const args = parseScriptArgs(USAGE, {
  options: {
    init: { type: 'string' },
    work: { type: 'string' },
    rounds: { type: 'string', default: '16' },
    problems: { type: 'string', default: '32' },
    n: { type: 'string', default: '8' },
    split: { type: 'string', default: 'rl' },
    budget: { type: 'string', default: '0:2,6:3,12:4' },
    lr: { type: 'string', default: '5e-5' },
    epochs: { type: 'string', default: '1' },
    temperature: { type: 'string', default: '1' },
    'max-tokens': { type: 'string', default: '768' },
    seed: { type: 'string', default: '1' },
    threads: { type: 'string', default: '1' },
    'serve-threads': { type: 'string', default: '2' },
  },
});
const { values, fail, int } = args;
const work = resolve(args.required('work'));
const init = resolve(args.required('init'));
if (!existsSync(join(init, 'model.onnx'))) fail(`--init ${init} has no model.onnx`);
const rounds = int('rounds', 1);
const problemsPerRound = int('problems', 1);
const n = int('n', 2);
const seed = int('seed', 0);
// Round r draws its problems from seed stream seed * 100,000 + r, and generateProblems takes seeds below 2^20.
if (seed > 9 || rounds > 100_000) fail(`--seed must be 0-9 and --rounds at most 100000 (got --seed ${seed}, --rounds ${rounds})`);
const split = values.split as Split;
const EVAL_ONLY: readonly Split[] = ['heldout', 'novel'];
if (!SPLITS.includes(split) || EVAL_ONLY.includes(split)) fail(`--split must be one of ${SPLITS.filter((s) => !EVAL_ONLY.includes(s)).join(', ')} (held-out and novel problems are never trained on)`);
const temperature = args.number('temperature', 0, true);
// Checked here, not first by the children: a bad value would otherwise surface only after the
// server has started and the first round's rollouts have run.
const maxTokens = int('max-tokens', 1);
const train = { lr: args.number('lr', 0, true), epochs: int('epochs', 1), threads: int('threads', 1) };
const serveThreads = int('serve-threads', 1);

const env = {
  ...process.env,
  CIR_DATA_DIR: join(work, 'data'),
  CIR_CHECKPOINTS: 'checkpoints',
  CIR_CHECKPOINT_POLL_MS: '2000',
  CIR_PYTHON_EXECUTOR: 'off',
  CIR_LOG_LEVEL: 'warn',
  CIR_TRAJ_BATCH_MS: '200',
  CIR_MODEL_THREADS: String(serveThreads),
  PORT: '0',
};

/**
 * Every child still running. A signal to this script is passed on to them before it exits, so an
 * interrupted run leaves no `cir serve` behind; `cir train` stops at a safe point and the next run
 * continues after the last round written.
 */
const children = new Set<ChildProcess>();
function track<C extends ChildProcess>(child: C): C {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // `on`, not `once`: a wrapper (npx, tsx) may pass the same signal on again, and a second one must not kill us mid-stop.
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal}: stopping ${children.size} child process(es); re-run the same command to continue\n`);
    const exits = [...children].map((child) => new Promise((r) => child.once('exit', r)));
    for (const child of children) child.kill('SIGTERM');
    void Promise.all(exits).then(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

/** Runs `cir <args>` to completion; its stdout (JSON) is returned, its stderr passes through. */
function cir(args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = track(spawn(process.execPath, [...DECODE_NODE_FLAGS, CIR, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] }));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolvePromise(out) : reject(new Error(`cir ${args[0]} exited with ${code}`))));
  });
}

/** `cir serve` as a child; resolves with its URL once it listens. */
function serve(): Promise<{ url: string; stop: () => Promise<void> }> {
  return new Promise((resolvePromise, reject) => {
    const child = track(spawn(process.execPath, [...DECODE_NODE_FLAGS, CIR, 'serve'], { env, stdio: ['ignore', 'inherit', 'pipe'] }));
    let err = '';
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      process.stderr.write(text);
      err += text;
      const m = /cir listening on (\S+)/.exec(err);
      if (m) {
        err = '';
        resolvePromise({
          url: m[1]!,
          stop: async () => {
            child.kill('SIGTERM');
            await exited;
          },
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`cir serve exited with ${code} before listening`)));
  });
}

interface Info {
  checkpoint: { version: string; tool_budget: number } | null;
  trajectories: { queued: number } | null;
}
const info = async (url: string): Promise<Info> => (await (await fetch(`${url}/v1/info`)).json()) as Info;
async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

await mkdir(work, { recursive: true });
const roundsFile = join(work, 'rounds.jsonl');
const done = existsSync(roundsFile) ? (await readFile(roundsFile, 'utf8')).split('\n').filter(Boolean).length : 0;
if (!existsSync(join(work, 'data', 'objects', 'checkpoints', 'latest')) && done === 0) {
  await cir(['publish', init, '--version', 'rl-base', '--no-parent', '--budget', values.budget!]);
}

const server = await serve();
const started = performance.now();
try {
  await until('the first checkpoint to load', async () => (await info(server.url)).checkpoint !== null);
  const progress = new Progress(process.stderr);
  for (let round = done; round < rounds; round++) {
    const before = await info(server.url);
    const t0 = performance.now();
    const problems = generateProblems({ split, count: problemsPerRound, seed: seed * 100_000 + round });
    const rollouts = await runRollouts(problems, {
      baseUrl: server.url,
      n,
      temperature,
      maxTokens,
      concurrency: 2,
      tags: { run: 'rl-loop', round: String(round) },
      onProblem: (k, total) => progress.update(`round ${round}: rollouts`, k, total),
    });
    progress.clear();
    if (rollouts.failed.length > 0) throw new Error(`rollouts refused: ${JSON.stringify(rollouts.failed[0])}`);
    // The logger is write-behind: wait until every trajectory of the round is queued for the trainer.
    const expected = (before.trajectories?.queued ?? 0) + rollouts.samples;
    await until('the round\'s trajectories to be queued', async () => ((await info(server.url)).trajectories?.queued ?? 0) >= expected);
    const t1 = performance.now();
    const trained = JSON.parse(
      await cir([
        'train',
        '--run-dir', join(work, 'train'),
        '--max-steps', '1',
        '--batch-records', String(rollouts.samples),
        '--budget', values.budget!,
        '--lr', String(train.lr),
        '--epochs', String(train.epochs),
        '--threads', String(train.threads),
        '--notify', server.url,
      ]),
    ) as { latest: string; steps: Record<string, number>[] };
    const t2 = performance.now();
    await until(`the server to serve ${trained.latest}`, async () => (await info(server.url)).checkpoint?.version === trained.latest);
    const t3 = performance.now();
    const line = {
      round,
      served: before.checkpoint?.version,
      tool_budget: before.checkpoint?.tool_budget,
      rollouts: { accuracy: rollouts.accuracy, tool_calls_per_sample: rollouts.toolCallsPerSample, groups_with_signal: rollouts.groupsWithSignal, samples: rollouts.samples },
      trained: trained.steps[0] ?? null,
      published: trained.latest,
      seconds: { rollouts: (t1 - t0) / 1000, train: (t2 - t1) / 1000, swap: (t3 - t2) / 1000 },
    };
    await appendFile(roundsFile, `${JSON.stringify(line)}\n`);
    process.stderr.write(
      `round ${round}: served ${line.served} (budget ${line.tool_budget}) accuracy ${rollouts.accuracy.toFixed(3)}, ` +
        `${rollouts.toolCallsPerSample.toFixed(2)} calls/sample, ${rollouts.groupsWithSignal}/${problems.length} groups with signal → ` +
        `${trained.latest} (rollouts ${line.seconds.rollouts.toFixed(0)} s, train ${line.seconds.train.toFixed(0)} s, swap ${line.seconds.swap.toFixed(1)} s)\n`,
    );
  }
  const final = await info(server.url);
  console.log(JSON.stringify({ work, rounds, serving: final.checkpoint, seconds: (performance.now() - started) / 1000 }, null, 2));
} finally {
  await server.stop();
}
