/**
 * Outcome advantage estimators (verl `core_algos` semantics). Every sample has one scalar score and a
 * group id (the n samples of one prompt); the advantage is constant over a sample's loss tokens, so
 * these functions return one number per sample.
 */
import type { AdvantageEstimator } from './types.ts';

export interface AdvantageOptions {
  /** Added to the group std before dividing (verl `epsilon`, 1e-6). */
  epsilon?: number;
  /** GRPO only: divide by the group std (true, original GRPO) or only centre (false, Dr. GRPO). */
  normByStd?: boolean;
}

function groupIndices(groupIds: readonly string[]): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  groupIds.forEach((id, i) => {
    const members = groups.get(id);
    if (members) members.push(i);
    else groups.set(id, [i]);
  });
  return groups;
}

function checkLengths(scores: readonly number[], groupIds: readonly string[]): void {
  if (scores.length !== groupIds.length) throw new RangeError(`${scores.length} scores but ${groupIds.length} group ids`);
}

/**
 * GRPO: (score - group mean) / (group std + eps), std unbiased (torch.std). A group of one sample has
 * mean 0 and std 1 (verl's convention), so its advantage is its score.
 */
export function grpoAdvantages(scores: readonly number[], groupIds: readonly string[], options: AdvantageOptions = {}): number[] {
  checkLengths(scores, groupIds);
  const epsilon = options.epsilon ?? 1e-6;
  const normByStd = options.normByStd ?? true;
  const out = new Array<number>(scores.length).fill(0);
  for (const members of groupIndices(groupIds).values()) {
    let mean = 0;
    let std = 1;
    if (members.length > 1) {
      mean = members.reduce((s, i) => s + scores[i]!, 0) / members.length;
      std = Math.sqrt(members.reduce((s, i) => s + (scores[i]! - mean) ** 2, 0) / (members.length - 1));
    }
    for (const i of members) out[i] = normByStd ? (scores[i]! - mean) / (std + epsilon) : scores[i]! - mean;
  }
  return out;
}

/**
 * REINFORCE++ with a group baseline: subtract the group mean, then whiten across the whole batch at
 * token level (verl `masked_whiten` over the response mask: token-weighted mean, unbiased variance,
 * (x - mean) / sqrt(var + 1e-8)). `tokenCounts[i]` is sample i's number of loss tokens.
 */
export function reinforcePlusPlusBaselineAdvantages(
  scores: readonly number[],
  groupIds: readonly string[],
  tokenCounts: readonly number[],
): number[] {
  checkLengths(scores, groupIds);
  if (tokenCounts.length !== scores.length) throw new RangeError(`${scores.length} scores but ${tokenCounts.length} token counts`);
  const centred = [...scores];
  for (const members of groupIndices(groupIds).values()) {
    if (members.length < 2) continue; // verl: a lone sample's baseline is 0
    const mean = members.reduce((s, i) => s + scores[i]!, 0) / members.length;
    for (const i of members) centred[i] = scores[i]! - mean;
  }
  const tokens = tokenCounts.reduce((a, b) => a + b, 0);
  if (tokens < 2) throw new RangeError('REINFORCE++ whitening needs at least 2 loss tokens in the batch');
  const mean = centred.reduce((s, a, i) => s + a * tokenCounts[i]!, 0) / tokens;
  const variance = (centred.reduce((s, a, i) => s + (a - mean) ** 2 * tokenCounts[i]!, 0) / tokens) * (tokens / (tokens - 1));
  const scale = 1 / Math.sqrt(variance + 1e-8);
  return centred.map((a) => (a - mean) * scale);
}

export function computeAdvantages(
  estimator: AdvantageEstimator,
  scores: readonly number[],
  groupIds: readonly string[],
  tokenCounts: readonly number[],
  options: AdvantageOptions = {},
): number[] {
  return estimator === 'grpo' ? grpoAdvantages(scores, groupIds, options) : reinforcePlusPlusBaselineAdvantages(scores, groupIds, tokenCounts);
}

/**
 * The groups that carry a learning signal: at least two samples whose scores differ (DAPO's dynamic
 * sampling filter). A group whose samples all scored the same has zero advantage everywhere under
 * GRPO and would only dilute the batch.
 */
export function groupsWithSignal(scores: readonly number[], groupIds: readonly string[]): Set<string> {
  checkLengths(scores, groupIds);
  const kept = new Set<string>();
  for (const [id, members] of groupIndices(groupIds)) {
    const first = scores[members[0]!]!;
    if (members.some((i) => scores[i] !== first)) kept.add(id);
  }
  return kept;
}
