/**
 * Configuration of the RL objective (verl's `actor.*` and `algorithm.*` knobs, same names where they exist).
 */

/** How a per-token loss matrix is reduced to a scalar (verl's `loss_agg_mode`). */
export type LossAggregation =
  /** Sum over every unmasked token of the batch / number of unmasked tokens (DAPO; the default). */
  | 'token-mean'
  /** Per sequence: sum over its unmasked tokens; then the mean over sequences. */
  | 'seq-mean-token-sum'
  /** Per sequence: mean over its unmasked tokens; then the mean over sequences (original GRPO). */
  | 'seq-mean-token-mean'
  /**
   * Per sequence: sum over its unmasked tokens divided by a constant L (the generation budget); then the
   * mean over sequences (Dr. GRPO: no length bias from dividing by each sequence's own length).
   */
  | 'seq-mean-token-sum-norm';

export const LOSS_AGGREGATIONS: readonly LossAggregation[] = ['token-mean', 'seq-mean-token-sum', 'seq-mean-token-mean', 'seq-mean-token-sum-norm'];

export type AdvantageEstimator = 'grpo' | 'reinforce_plus_plus_baseline';

export interface PolicyLossConfig {
  /** Lower clip of the ratio: 1 - clipLow (verl clip_ratio_low, default 0.2). */
  clipLow: number;
  /** Upper clip of the ratio: 1 + clipHigh (verl clip_ratio_high, default 0.28: DAPO's clip-higher). */
  clipHigh: number;
  /** Dual-clip bound for negative advantages (verl clip_ratio_c, default 3); null disables dual clip. */
  clipRatioC: number | null;
  lossAggregation: LossAggregation;
  /** seq-mean-token-sum-norm's constant L (verl loss_scale_factor); null: the batch's longest response. */
  lossNormTokens: number | null;
  /** Coefficient of the k3 ("low_var_kl") KL to the reference policy; 0 = no KL term. */
  klCoef: number;
  /** Coefficient of an entropy bonus (loss -= coef * entropy); 0 = none (verl's default). */
  entropyCoef: number;
}

export const DEFAULT_POLICY_LOSS: PolicyLossConfig = {
  clipLow: 0.2,
  clipHigh: 0.28,
  clipRatioC: 3,
  lossAggregation: 'token-mean',
  lossNormTokens: null,
  klCoef: 0,
  entropyCoef: 0,
};
