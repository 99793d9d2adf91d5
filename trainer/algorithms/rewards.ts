/**
 * Outcome rewards: one scalar per trajectory from the grader's verdict (+1 / -1 by default).
 */

export interface RewardConfig {
  /** Reward of a response graded equal to the gold answer. */
  correct: number;
  /** Reward of a wrong answer. */
  incorrect: number;
  /** Reward of a response with no final answer at all (e.g. cut at max_tokens); defaults to `incorrect`. */
  noAnswer?: number;
}

export const DEFAULT_REWARD: RewardConfig = { correct: 1, incorrect: -1 };

export type Verdict = 'correct' | 'incorrect' | 'no_answer';

export function outcomeReward(verdict: Verdict, config: RewardConfig = DEFAULT_REWARD): number {
  if (verdict === 'correct') return config.correct;
  if (verdict === 'no_answer') return config.noAnswer ?? config.incorrect;
  return config.incorrect;
}
