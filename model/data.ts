import { Rng } from '../api/models/generation/rng.ts';
import type { Tokenizer } from '../api/models/types.ts';
import type { Executor } from '../api/sandbox/types.ts';
import { copyDrill, sftExample, type SftExample } from './sft.ts';
import type { SupervisedSequence } from '../trainer/batch/types.ts';
import { drawStyle, ReferenceSolver, WARMSTART_MIX, type ReferenceSolution, type SolutionStyle } from './solutions/reference.ts';
import { generateProblems, type Problem, type Split } from './tasks/generate.ts';
import { Draw } from './tasks/random.ts';
import { SPECIAL_IDS } from './vocab.ts';

/**
 * The warm-start data set: problems of a split, one reference solution each in a style drawn from
 * the noisy mix, run in the sandbox, encoded as supervised sequences. Deterministic in (split,
 * seed, count, mix): the styles and bugs are drawn from their own stream, the code outputs are
 * what QuickJS prints.
 */

export interface DatasetOptions {
  split?: Split;
  count: number;
  seed?: number;
  mix?: Readonly<Record<SolutionStyle, number>>;
  signal?: AbortSignal;
  /** Called after each example (progress). */
  onExample?: (done: number, total: number) => void;
}

export interface DatasetItem {
  problem: Problem;
  solution: ReferenceSolution;
  example: SftExample;
}

export interface DatasetStats {
  examples: number;
  tokens: number;
  lossTokens: number;
  maxLength: number;
  byStyle: Partial<Record<SolutionStyle, number>>;
  /** Share of examples whose boxed answer grades correct. */
  correct: number;
  toolCallsPerExample: number;
}

export async function buildDataset(executor: Executor, tokenizer: Tokenizer, options: DatasetOptions): Promise<DatasetItem[]> {
  const seed = options.seed ?? 0;
  const problems = generateProblems({ split: options.split ?? 'warmstart', count: options.count, seed });
  const solver = new ReferenceSolver(executor);
  // Styles and bugs come from a stream of their own: changing the mix never changes the problems.
  const draw = new Draw(new Rng(seed * 2 + 1_000_003));
  const items: DatasetItem[] = [];
  for (const problem of problems) {
    const solution = await solver.solve(problem, drawStyle(draw, options.mix ?? WARMSTART_MIX), draw, options.signal);
    items.push({ problem, solution, example: sftExample(tokenizer, SPECIAL_IDS['<|im_end|>'], problem, solution) });
    options.onExample?.(items.length, problems.length);
  }
  return items;
}

export function datasetStats(items: readonly DatasetItem[]): DatasetStats {
  const byStyle: Partial<Record<SolutionStyle, number>> = {};
  let tokens = 0;
  let lossTokens = 0;
  let maxLength = 0;
  let correct = 0;
  let toolCalls = 0;
  for (const { solution, example } of items) {
    byStyle[solution.style] = (byStyle[solution.style] ?? 0) + 1;
    tokens += example.ids.length;
    lossTokens += example.lossMask.reduce((a, b) => a + b, 0);
    maxLength = Math.max(maxLength, example.ids.length);
    if (solution.correct) correct++;
    toolCalls += solution.toolCalls;
  }
  const n = Math.max(1, items.length);
  return { examples: items.length, tokens, lossTokens, maxLength, byStyle, correct: correct / n, toolCallsPerExample: toolCalls / n };
}

/** `count` copy drills (sft.ts copyDrill) from a seed stream of their own. */
export function buildCopyDrills(tokenizer: Tokenizer, count: number, seed = 0): SupervisedSequence[] {
  const draw = new Draw(new Rng(seed * 2 + 7_919));
  return Array.from({ length: count }, () => copyDrill(tokenizer, draw));
}
