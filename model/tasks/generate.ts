import { Rng } from '../../api/models/generation/rng.ts';
import { TASK_KINDS, type AnyTaskKind, type Level, type PhrasingSet } from './kinds.ts';
import { Draw } from './random.ts';

/**
 * Seeded problem generation by split. A split fixes which phrasings and operand sizes may
 * appear (README.md "Splits" says why):
 *
 * | split       | phrasings                 | levels | used for                                    |
 * | ----------- | ------------------------- | ------ | ------------------------------------------- |
 * | `warmstart` | warmstart                 | 1-2    | supervised warm start                       |
 * | `rl`        | warmstart + rl            | 1-3    | RL prompts                                  |
 * | `heldout`   | warmstart + rl            | 1-3    | evaluation only: problems never trained on  |
 * | `seen`      | warmstart                 | 1-2    | in-distribution evaluation                  |
 * | `novel`     | novel                     | 1-3    | evaluation only: wording no stage saw       |
 *
 * `heldout` is the headline split: its problems are never trained on, and a third of its phrasings
 * and all of its level-3 operands are ones the warm start never saw (only RL does), so it measures
 * both the warm start and what RL adds.
 *
 * Problem i of a split depends only on (split, seed, i), so any prefix of a generated list is
 * the same list, and each split draws from its own seed stream.
 */

export type Split = 'warmstart' | 'rl' | 'heldout' | 'seen' | 'novel';
export const SPLITS: readonly Split[] = ['warmstart', 'rl', 'heldout', 'seen', 'novel'];

interface SplitSpec {
  phrasings: readonly PhrasingSet[];
  levels: readonly Level[];
  /**
   * Which problem texts the split may hold: `train` never a reserved one, `reserved` only those
   * (isReservedText), `any` either. Reserving an eighth of all texts for `heldout` makes it
   * disjoint from every training split whatever their sizes (a prime count "up to 536" drawn for
   * the warm start can never be a held-out problem).
   */
  texts: 'train' | 'reserved' | 'any';
  /** Offset of the split's seed stream, so splits with the same seed never share problems. */
  stream: number;
}

export const SPLIT_SPECS: Record<Split, SplitSpec> = {
  warmstart: { phrasings: ['warmstart'], levels: [1, 2], texts: 'train', stream: 1 },
  rl: { phrasings: ['warmstart', 'rl'], levels: [1, 2, 3], texts: 'train', stream: 2 },
  heldout: { phrasings: ['warmstart', 'rl'], levels: [1, 2, 3], texts: 'reserved', stream: 3 },
  seen: { phrasings: ['warmstart'], levels: [1, 2], texts: 'train', stream: 4 },
  novel: { phrasings: ['novel'], levels: [1, 2, 3], texts: 'any', stream: 5 },
};

export interface Problem<P = unknown> {
  /** `<split>-<seed>-<index>`: stable across runs. */
  id: string;
  split: Split;
  kind: string;
  /** Index of the phrasing within its kind, and the set it belongs to. */
  phrasing: number;
  phrasingSet: PhrasingSet;
  level: Level;
  /** The problem statement, as the user asks it. */
  text: string;
  /** The exact answer, in decimal. */
  answer: string;
  /** The kind's parameters (bigints stay bigints; see problemJson for a serialisable form). */
  params: P;
}

export interface GenerateOptions {
  split: Split;
  count: number;
  seed?: number;
  /** Restrict to these kinds (names); default all. */
  kinds?: readonly string[];
  /** Restrict to these levels (must be allowed by the split); default the split's levels. */
  levels?: readonly Level[];
}

export function kindByName(name: string): AnyTaskKind {
  const found = TASK_KINDS.find((k) => k.name === name);
  if (!found) throw new Error(`unknown task kind "${name}"; known: ${TASK_KINDS.map((k) => k.name).join(', ')}`);
  return found;
}

/** One problem: index `index` of the split's stream for `seed`. */
export function generateProblem(split: Split, seed: number, index: number, kinds: readonly AnyTaskKind[] = TASK_KINDS, levels?: readonly Level[]): Problem {
  const spec = SPLIT_SPECS[split];
  const allowedLevels = levels ?? spec.levels;
  // (seed, stream, index) packed into one safe integer (seed < 2^20, index < 2^24); Rng's seeding decorrelates neighbours.
  const draw = new Draw(new Rng((seed * 8 + spec.stream) * 2 ** 24 + index));
  // An eighth of texts are reserved, so a split finds one of its texts within a few draws; the
  // bound only stops a restriction to kinds and levels with almost no texts of the needed side.
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const kind = draw.pick(kinds);
    const level = draw.pick(allowedLevels);
    const phrasings = kind.phrasings.map((p, i) => ({ p, i })).filter(({ p }) => spec.phrasings.includes(p.set));
    const { p: phrasing, i: phrasingIndex } = draw.pick(phrasings);
    const params = kind.sample(draw, level);
    const text = phrasing.text(params);
    if (spec.texts !== 'any' && isReservedText(text) !== (spec.texts === 'reserved')) continue;
    return {
      id: `${split}-${seed}-${index}`,
      split,
      kind: kind.name,
      phrasing: phrasingIndex,
      phrasingSet: phrasing.set,
      level,
      text,
      answer: kind.answer(params).toString(),
      params,
    };
  }
  throw new Error(`split "${split}": no ${spec.texts} problem text among 10000 draws of kinds ${kinds.map((k) => k.name).join(', ')} at levels ${allowedLevels.join(', ')}`);
}

/** Whether a problem text belongs to the held-out eighth of all texts (FNV-1a hash of its UTF-16 units). */
export function isReservedText(text: string): boolean {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash % 8 === 0;
}
export function generateProblems(options: GenerateOptions): Problem[] {
  const { split, count, seed = 0 } = options;
  if (!SPLITS.includes(split)) throw new Error(`unknown split "${split}"; known: ${SPLITS.join(', ')}`);
  if (!Number.isSafeInteger(count) || count < 0 || count > 2 ** 24) throw new Error(`count must be an integer in [0, 2^24], got ${count}`);
  if (!Number.isSafeInteger(seed) || seed < 0 || seed >= 2 ** 20) throw new Error(`seed must be an integer in [0, 2^20), got ${seed}`);
  const kinds = options.kinds ? options.kinds.map(kindByName) : TASK_KINDS;
  const levels = options.levels;
  if (levels) {
    const bad = levels.filter((l) => !SPLIT_SPECS[split].levels.includes(l));
    if (bad.length > 0) throw new Error(`split "${split}" has levels ${SPLIT_SPECS[split].levels.join(', ')}; not ${bad.join(', ')}`);
  }
  return Array.from({ length: count }, (_, i) => generateProblem(split, seed, i, kinds, levels));
}

/** A JSON-safe copy of a problem (bigint parameters as decimal strings). */
export function problemJson(problem: Problem): Record<string, unknown> {
  return JSON.parse(JSON.stringify(problem, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as Record<string, unknown>;
}
