/**
 * TrajectoryRecords → TrainBatch: score each record, group by prompt, compute advantages, build the
 * loss masks. Pure (no I/O): the consumer hands it validated records, the engine takes its output.
 *
 * Rules, in order:
 *  - duplicate ids are counted once; partial (cancelled) records are left out unless asked for;
 *  - reward: a record with a gold answer is graded here (api/grading) and rewarded per RewardConfig;
 *    one without gold keeps the reward the API logged; one with neither cannot be scored and is left out;
 *  - groups (group_id) whose scores are all equal carry no signal; they are kept, as verl does (they count
 *    in REINFORCE++'s whitening and the token-mean denominator), or dropped when asked (dropNoSignal, DAPO);
 *  - advantages by GRPO or REINFORCE++-baseline over the kept samples;
 *  - loss mask = the record's loss_mask (prompt is outside the response, tool output is 0), minus
 *    void turns when filtered: a model turn that produced neither code nor the final answer.
 */
import type { Grader } from '../../api/grading/grader.ts';
import { grade } from '../../api/grading/index.ts';
import { checkTrajectoryInvariants, TrajectoryValidationError, type TrajectoryRecord } from '../../core/schemas/trajectory.ts';
import { computeAdvantages, groupsWithSignal } from '../algorithms/advantages.ts';
import { DEFAULT_REWARD, outcomeReward, type RewardConfig } from '../algorithms/rewards.ts';
import type { AdvantageEstimator } from '../algorithms/types.ts';
import type { BatchStats, TrainBatch, TrainSample } from './types.ts';

/**
 * What to do with void turns (a model turn, i.e. the text and code between two tool outputs, that has
 * no code and did not give the final answer: a rollout that rambled until max_tokens or stopped
 * without answering). Such a turn is where a multi-turn rollout went off the rails; SimpleTIR-style
 * training keeps its reward in the group statistics but takes it out of the loss.
 */
export type VoidTurnPolicy = 'keep' | 'mask_turn' | 'mask_sample';

export interface BatchOptions {
  estimator: AdvantageEstimator;
  reward: RewardConfig;
  /** GRPO std epsilon and whether to divide by the std (see algorithms/advantages.ts). */
  epsilon: number;
  normByStd: boolean;
  dropNoSignal: boolean;
  voidTurns: VoidTurnPolicy;
  /** Train on partial (cancelled) rollouts too. */
  includePartial: boolean;
  /** Verdicts graded beforehand (gradeRecords, e.g. in a pool with a hard deadline), by record id; others are graded here. */
  verdicts?: ReadonlyMap<string, boolean>;
}

export const DEFAULT_BATCH_OPTIONS: BatchOptions = {
  estimator: 'grpo',
  reward: DEFAULT_REWARD,
  epsilon: 1e-6,
  normByStd: true,
  dropNoSignal: false,
  voidTurns: 'keep',
  includePartial: false,
};

/** The record's score under `reward`, or null when it has neither a gold answer nor a logged reward. */
export function scoreRecord(record: TrajectoryRecord, reward: RewardConfig, verdicts?: ReadonlyMap<string, boolean>): { score: number; correct: boolean | null } | null {
  if (record.gold !== undefined) {
    if (record.final_answer === null) return { score: outcomeReward('no_answer', reward), correct: false };
    const equal = verdicts?.get(record.id) ?? grade(record.gold, { answer: record.final_answer }).equal;
    return { score: outcomeReward(equal ? 'correct' : 'incorrect', reward), correct: equal };
  }
  if (record.reward !== undefined) return { score: record.reward, correct: null };
  return null;
}

/**
 * The verdicts re-grading gives the records (those with a gold answer and a final answer), by id,
 * through `grader`: with a pool, no answer can hold the trainer, and the gradings run in parallel.
 */
export async function gradeRecords(records: readonly TrajectoryRecord[], grader: Grader): Promise<Map<string, boolean>> {
  const verdicts = new Map<string, boolean>();
  await Promise.all(
    records.map(async (record) => {
      if (record.gold === undefined || record.final_answer === null) return;
      verdicts.set(record.id, (await grader.grade(record.gold, { answer: record.final_answer })).equal);
    }),
  );
  return verdicts;
}

/**
 * Model turns as [start, end) spans of response positions: maximal runs of text/code turns between
 * output turns. A turn is void when it has no code span and is not the one that gave the final answer
 * (the last, when final_answer is set).
 */
export function voidTurnSpans(record: TrajectoryRecord): { start: number; end: number }[] {
  const modelTurns: { start: number; end: number; hasCode: boolean }[] = [];
  let current: { start: number; end: number; hasCode: boolean } | null = null;
  for (const turn of record.turns) {
    if (turn.kind === 'output') {
      current = null;
      continue;
    }
    if (!current) {
      current = { start: turn.start, end: turn.end, hasCode: false };
      modelTurns.push(current);
    }
    current.end = turn.end;
    if (turn.kind === 'code') current.hasCode = true;
  }
  return modelTurns
    .filter((turn, i) => !turn.hasCode && !(i === modelTurns.length - 1 && record.final_answer !== null))
    .map(({ start, end }) => ({ start, end }));
}

interface Scored {
  record: TrajectoryRecord;
  score: number;
  correct: boolean | null;
}

export function buildBatch(records: readonly TrajectoryRecord[], options: Partial<BatchOptions> = {}): TrainBatch {
  const opts: BatchOptions = { ...DEFAULT_BATCH_OPTIONS, ...options };
  const seen = new Set<string>();
  const unique: TrajectoryRecord[] = [];
  let duplicates = 0;
  for (const record of records) {
    const problems = checkTrajectoryInvariants(record);
    if (problems.length > 0) throw new TrajectoryValidationError(problems.map((p) => `record ${record.id}: ${p}`));
    if (seen.has(record.id)) {
      duplicates++;
      continue;
    }
    seen.add(record.id);
    unique.push(record);
  }

  const scored: Scored[] = [];
  let unscored = 0;
  let partial = 0;
  for (const record of unique) {
    if (record.partial && !opts.includePartial) {
      partial++;
      continue;
    }
    const s = scoreRecord(record, opts.reward, opts.verdicts);
    if (!s) {
      unscored++;
      continue;
    }
    scored.push({ record, ...s });
  }

  const groupIds = scored.map((s) => s.record.group_id);
  const scores = scored.map((s) => s.score);
  const kept = opts.dropNoSignal ? groupsWithSignal(scores, groupIds) : new Set(groupIds);
  const members = scored.filter((s) => kept.has(s.record.group_id));

  let voidTurnsFiltered = 0;
  const masks = members.map(({ record }) => {
    const mask = Uint8Array.from(record.loss_mask);
    if (opts.voidTurns === 'keep') return mask;
    const spans = voidTurnSpans(record);
    voidTurnsFiltered += spans.length;
    if (opts.voidTurns === 'mask_sample' && spans.length > 0) return mask.fill(0);
    for (const { start, end } of spans) mask.fill(0, start, end);
    return mask;
  });
  const tokenCounts = masks.map((m) => m.reduce((n, v) => n + v, 0));
  const advantages =
    members.length === 0
      ? []
      : computeAdvantages(opts.estimator, members.map((s) => s.score), members.map((s) => s.record.group_id), tokenCounts, { epsilon: opts.epsilon, normByStd: opts.normByStd });

  const samples: TrainSample[] = members.map(({ record, score }, i) => {
    const mask = masks[i]!;
    const R = record.response_ids.length;
    const temperature = record.request.temperature;
    return {
      id: record.id,
      groupId: record.group_id,
      inputIds: Int32Array.from([...record.prompt_ids, ...record.response_ids]),
      promptLength: record.prompt_ids.length,
      lossMask: mask,
      oldLogprobs: Float32Array.from(record.logprobs, (lp, t) => (mask[t] ? lp! : 0)),
      advantages: Float32Array.from({ length: R }, (_, t) => (mask[t] ? advantages[i]! : 0)),
      reward: score,
      // Greedy rollouts (temperature 0) report logprobs at T = 1 (api/models/types.ts TurnResult.logprobs).
      temperature: temperature !== undefined && temperature > 0 ? temperature : 1,
    };
  });

  const graded = scored.filter((s) => s.correct !== null);
  const stats: BatchStats = {
    records: unique.length,
    duplicates,
    partial,
    unscored,
    groups: new Set(groupIds).size,
    keptGroups: kept.size,
    samples: samples.length,
    meanReward: mean(scored.map((s) => s.score)),
    accuracy: graded.length > 0 ? graded.filter((s) => s.correct).length / graded.length : scored.length > 0 ? scored.filter((s) => s.score > 0).length / scored.length : 0,
    toolCallsPerSample: mean(unique.map((r) => r.tool_calls.length)),
    toolCallRate: mean(unique.map((r) => (r.tool_calls.length > 0 ? 1 : 0))),
    meanResponseLength: mean(unique.map((r) => r.response_ids.length)),
    lossTokens: tokenCounts.reduce((a, b) => a + b, 0),
    voidTurnsFiltered,
  };
  return { samples, stats };
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}
