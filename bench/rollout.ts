/**
 * Rollout throughput of the code-integrated reasoning loop on the fixture model: n=16 samples of
 * one problem, two tool calls each, with trajectory logging on (the server's setup: local object
 * store, local queue and spool under a data dir) and off, rounds alternating in the same run.
 *
 * The logging overhead (target: at most 5%) is reported two ways:
 *  - A/B: CPU and wall time per rollout, on vs off (best rollout of each mode, and the median of
 *    per-round ratios). On the shared 2-core machine, with other tenants' load, these swing by
 *    ±15% from run to run around differences of a few percent, so they are printed, not judged.
 *  - Replayed (judged): every trajectory the "on" rollouts logged is handed again (in the same
 *    accept() calls: one per rollout, as a request hands over its group), with nothing
 *    else running, to a fresh logger of the same setup (accept: validation and serialisation;
 *    flush: gzip, checksums, spool, store, queue), and its CPU time per rollout is compared with a
 *    rollout's CPU time with logging off. Process CPU time counts every thread, so it cannot be
 *    taken around accept() during a rollout (onnxruntime and QuickJS threads run meanwhile).
 *
 * The write-ahead log (on by default: a request's trajectories are synced to disk before it is
 * answered, so a SIGKILL loses none) is measured as a third mode, logging on without it: the
 * difference is its cost per rollout (one group commit and fdatasync per request).
 *
 * The fixture model has random weights and never writes a code block by itself, so each sample
 * follows a script (test/reasoning/scripted-backend.ts): the real model samples a stretch of
 * tokens, a code block is forced through it, the loop stops at its closing fence, runs it in
 * QuickJS and appends the output as ids, the model samples on from its KV cache, and so on. Every
 * forward, execution, append and log write is real; only the choice of the code tokens is not.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execLimits, loadConfig } from '../api/config.ts';
import { OnnxBackend } from '../api/models/onnx/backend.ts';
import type { ServedModel } from '../api/models/served.ts';
import { solveProblem, type SolveResult, type TrajectorySink } from '../api/reasoning/index.ts';
import { Sandbox } from '../api/sandbox/index.ts';
import { createQuickJSNodeExecutor } from '../api/sandbox/quickjs/node.ts';
import { createTrajectoryLoggingFromEnv } from '../core/logging/from-env.ts';
import type { TrajectoryRecord } from '../core/schemas/trajectory.ts';
import { ensureModel } from '../scripts/make-model.ts';
import { ScriptedBackend, type ScriptPiece } from '../test/reasoning/scripted-backend.ts';
import { table } from './stats.ts';

const N = 16;
const ROUNDS = Number(process.env.CIR_BENCH_ROUNDS ?? 10);
const REPLAYS = 3;
const THREADS = Number(process.env.CIR_BENCH_THREADS ?? 1);

/** Sample i: think, compute, think, check, answer. */
function script(i: number): ScriptPiece[] {
  return [
    { sample: 12 },
    `\n\`\`\`javascript\nconsole.log(${i + 2} ** 3)\n\`\`\`\n`,
    { sample: 12 },
    `\n\`\`\`javascript\nconsole.log([${i}, 3, 5].reduce((a, b) => a + b))\n\`\`\`\n`,
    { sample: 8 },
    `\\boxed{${(i + 2) ** 3}}`,
  ];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const cpuMsSince = (start: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
};
const percent = (ratio: number) => `${((ratio - 1) * 100).toFixed(1)}%`;

/** CPU time a fresh logger (the server's default setup) spends taking in and delivering `records`. */
async function replayLogging(handovers: readonly (readonly TrajectoryRecord[])[], dataDir: string): Promise<number> {
  const logging = await createTrajectoryLoggingFromEnv({}, { dataDir });
  try {
    const start = process.cpuUsage();
    for (const records of handovers) await logging.logger.accept(records);
    await logging.logger.flush();
    return cpuMsSince(start);
  } finally {
    await logging.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

export async function benchRollout(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'cir-bench-rollout-'));
  const model = await OnnxBackend.load(await ensureModel('tiny'), { threads: THREADS });
  const sandbox = new Sandbox({ executors: [createQuickJSNodeExecutor({ threads: 2 })], limits: execLimits(loadConfig({})), queueLimit: 256 });
  const logging = await createTrajectoryLoggingFromEnv({}, { dataDir: join(dataDir, 'run') });
  const loggingNoWal = await createTrajectoryLoggingFromEnv({ CIR_TRAJ_WAL: 'off' }, { dataDir: join(dataDir, 'run-no-wal') });
  /** What each accept() of the "on" rollouts handed over. */
  const logged: (readonly TrajectoryRecord[])[] = [];
  const logger: TrajectorySink = {
    accept: (records) => {
      logged.push(records);
      return logging.logger.accept(records);
    },
  };
  const loggerNoWal: TrajectorySink = { accept: (records) => loggingNoWal.logger.accept(records) };
  try {
    const served: ServedModel = { backend: new ScriptedBackend(model.tokenizer, script, { inner: model }), checkpoint: { version: 'bench', toolBudget: 4 } };
    // The fixture's context is 256 tokens: no system prompt, to leave room for two tool calls.
    const settings = { prompt: { system: null, user: (p: string) => p } };
    const sinks = { off: undefined, on: logger, 'on, no WAL': loggerNoWal };
    type Mode = keyof typeof sinks;
    const solve = (mode: Mode) =>
      solveProblem(served, sandbox, { problem: 'What is 7 cubed? Check it with code.', n: N, maxTokens: 120, temperature: 1, seed: 11 }, {
        settings,
        ...(sinks[mode] && { logger: sinks[mode] }),
      });
    const check = (result: SolveResult) => {
      const calls = result.samples.reduce((sum, s) => sum + s.toolCalls.used, 0);
      if (calls < N) throw new Error(`expected tool calls in every sample, got ${calls} for ${N} samples`);
    };
    check(await solve('off')); // warm-up: sessions, QuickJS threads, JIT
    check(await solve('on'));
    check(await solve('on, no WAL'));
    logged.length = 0;

    const runs: Record<Mode, { ms: number; cpuMs: number; tokens: number; calls: number }[]> = { off: [], on: [], 'on, no WAL': [] };
    const order: Mode[] = ['off', 'on', 'on, no WAL'];
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate which goes first, so drift in the machine's load hits all alike.
      for (const mode of [...order.slice(round % 3), ...order.slice(0, round % 3)]) {
        const started = performance.now();
        const cpu = process.cpuUsage();
        const result = await solve(mode);
        const ms = performance.now() - started;
        const cpuMs = cpuMsSince(cpu);
        check(result);
        runs[mode].push({
          ms,
          cpuMs,
          tokens: result.samples.reduce((sum, s) => sum + s.usage.completionTokens + s.usage.toolTokens, 0),
          calls: result.samples.reduce((sum, s) => sum + s.toolCalls.used, 0),
        });
      }
    }
    await logging.logger.flush();
    const stats = logging.logger.stats();
    const replays: number[] = [];
    for (let i = 0; i < REPLAYS; i++) replays.push(await replayLogging(logged, join(dataDir, `replay-${i}`)));

    const row = (mode: Mode) => {
      const ms = median(runs[mode].map((r) => r.ms));
      const { tokens, calls } = runs[mode][0]!;
      const rate = (count: number) => ((count * 1000) / ms).toFixed(1);
      return [`logging ${mode}`, ms.toFixed(0), median(runs[mode].map((r) => r.cpuMs)).toFixed(0), rate(N), rate(tokens), rate(calls)];
    };
    console.log(`fixture model (tiny), n=${N}, ${(runs.off[0]!.calls / N).toFixed(2)} tool calls per sample, ${ROUNDS} rounds each, medians per rollout`);
    console.log(table(['mode', 'wall ms', 'cpu ms', 'samples/s', 'tokens/s', 'tool calls/s'], order.map(row)));
    const best = (mode: Mode, key: 'ms' | 'cpuMs') => Math.min(...runs[mode].map((r) => r[key]));
    const medianRatio = (key: 'ms' | 'cpuMs', a: Mode = 'on', b: Mode = 'off') => median(runs[a].map((r, i) => r[key] / runs[b][i]![key]));
    console.log(
      `A/B (load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores): best on / best off ${percent(best('on', 'cpuMs') / best('off', 'cpuMs'))} CPU, ` +
        `${percent(best('on', 'ms') / best('off', 'ms'))} wall; median of per-round ratios ${percent(medianRatio('cpuMs'))} CPU, ${percent(medianRatio('ms'))} wall`,
    );
    const loggingPerRollout = Math.min(...replays) / ROUNDS;
    const overhead = 1 + loggingPerRollout / median(runs.off.map((r) => r.cpuMs));
    console.log(
      `logging overhead (replayed): ${percent(overhead)} of a rollout's CPU time (target <= 5%) ${overhead <= 1.05 ? 'OK' : 'OVER TARGET'}: ` +
        `${loggingPerRollout.toFixed(1)} ms CPU to accept, store and announce the ${N} trajectories of a rollout (${(loggingPerRollout / N).toFixed(2)} ms each)`,
    );
    console.log(
      `write-ahead log (on / on without it): best ${percent(best('on', 'ms') / best('on, no WAL', 'ms'))} wall, ` +
        `${percent(best('on', 'cpuMs') / best('on, no WAL', 'cpuMs'))} CPU; median of per-round ratios ${percent(medianRatio('ms', 'on', 'on, no WAL'))} wall`,
    );
    console.log(`trajectories: ${stats.accepted} accepted, ${stats.stored} stored, ${stats.queued} queued`);
  } finally {
    await Promise.all([logging.close(), loggingNoWal.close()]);
    await Promise.all([sandbox.dispose(), model.dispose()]);
    await rm(dataDir, { recursive: true, force: true });
  }
}
