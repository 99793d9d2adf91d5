import { Rng } from '../api/models/generation/rng.ts';
import type { SupervisedSequence } from '../trainer/batch/types.ts';
import type { Engine, SupervisedStepMetrics } from '../trainer/engines/types.ts';

/**
 * The supervised warm start as a loop over an Engine: a fixed data set in seeded epoch
 * permutations, a warmup + cosine learning-rate schedule, periodic evaluation loss on held-out
 * sequences. Which batch a step trains on depends only on (seed, step), so a resumed run (engine
 * restored from its exported model and saved state) continues exactly where it stopped.
 */

export interface WarmstartSchedule {
  steps: number;
  /** Sequences per optimizer step. */
  batchSize: number;
  lr: number;
  warmupSteps: number;
  /** The cosine decays to lr * minLrRatio at the last step. */
  minLrRatio: number;
  seed: number;
}

export const DEFAULT_WARMSTART: WarmstartSchedule = { steps: 1600, batchSize: 24, lr: 2e-3, warmupSteps: 20, minLrRatio: 0.1, seed: 0 };

export function learningRate(step: number, s: Pick<WarmstartSchedule, 'steps' | 'lr' | 'warmupSteps' | 'minLrRatio'>): number {
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const progress = Math.min(1, (step - s.warmupSteps) / Math.max(1, s.steps - s.warmupSteps));
  return s.lr * (s.minLrRatio + (1 - s.minLrRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** A seeded permutation of 0..n-1 (Fisher-Yates). */
function permutation(n: number, rng: Rng): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/** Indices of the examples step `step` trains on: consecutive slices of per-epoch permutations. */
export function batchIndices(step: number, batchSize: number, datasetSize: number, seed: number): number[] {
  if (datasetSize < 1) throw new RangeError('the data set is empty');
  const out: number[] = [];
  let position = step * batchSize;
  let epoch = -1;
  let order: number[] = [];
  while (out.length < batchSize) {
    const e = Math.floor(position / datasetSize);
    if (e !== epoch) {
      epoch = e;
      order = permutation(datasetSize, new Rng(seed * 65_537 + epoch));
    }
    out.push(order[position % datasetSize]!);
    position++;
  }
  return out;
}

/** Mean cross-entropy (nats) and next-token accuracy over the loss tokens of `examples`, no update. */
export async function evaluationLoss(engine: Engine, examples: readonly SupervisedSequence[]): Promise<{ loss: number; tokens: number }> {
  const logprobs = await engine.logprobs(examples.map((e) => ({ ids: e.ids, from: 1 })));
  let nll = 0;
  let tokens = 0;
  examples.forEach((e, k) => {
    const lp = logprobs[k]!;
    for (let i = 1; i < e.ids.length; i++) {
      if (!e.lossMask[i]) continue;
      nll -= lp[i - 1]!;
      tokens++;
    }
  });
  return { loss: nll / Math.max(1, tokens), tokens };
}

export interface WarmstartStep extends SupervisedStepMetrics {
  step: number;
  tokensPerSecond: number;
  /** Held-out evaluation loss, on the steps that measure it. */
  evalLoss?: number;
}

export interface WarmstartRunOptions {
  schedule: WarmstartSchedule;
  /** Stop after this many steps of this run (a short run of a longer schedule); default: to the end. */
  maxStepsThisRun?: number;
  evalEvery?: number;
  evalExamples?: readonly SupervisedSequence[];
  onStep?: (metrics: WarmstartStep) => void | Promise<void>;
  signal?: AbortSignal;
}

/** Trains from the engine's current optimizer step; returns the metrics of every step run. */
export async function runWarmstart(engine: Engine, data: readonly SupervisedSequence[], options: WarmstartRunOptions): Promise<WarmstartStep[]> {
  const { schedule } = options;
  const first = engine.optimizerSteps;
  const last = Math.min(schedule.steps, first + (options.maxStepsThisRun ?? Infinity));
  const history: WarmstartStep[] = [];
  for (let step = first; step < last; step++) {
    options.signal?.throwIfAborted();
    const batch = batchIndices(step, schedule.batchSize, data.length, schedule.seed).map((i) => data[i]!);
    const metrics = await engine.supervisedStep(batch, { lr: learningRate(step, schedule) });
    const row: WarmstartStep = { step: step + 1, ...metrics, tokensPerSecond: metrics.tokens / metrics.seconds };
    const evalEvery = options.evalEvery ?? 0;
    if (options.evalExamples?.length && evalEvery > 0 && ((step + 1) % evalEvery === 0 || step + 1 === last)) {
      row.evalLoss = (await evaluationLoss(engine, options.evalExamples)).loss;
    }
    history.push(row);
    await options.onStep?.(row);
  }
  return history;
}
