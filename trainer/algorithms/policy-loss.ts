/**
 * The PPO-clip policy objective with asymmetric (clip-higher) and dual clipping, an optional k3 KL
 * penalty to a reference policy and an optional entropy bonus, in verl `core_algos` semantics
 * (`compute_policy_loss_vanilla`, `kl_penalty(..., "low_var_kl")`, `agg_loss`).
 *
 * Engines do not differentiate through this code: each function returns its value together with the
 * analytic derivative with respect to the token's logprob (and entropy), which the engine
 * back-propagates through the log-softmax. Work is split per token so an engine can evaluate a batch
 * micro-batch by micro-batch: `aggregationWeights` is computed once over the whole batch, and the
 * per-token weighted sums add up to the aggregated loss.
 */
import type { LossAggregation, PolicyLossConfig } from './types.ts';

/** verl clamps log-ratios to [-20, 20] before exponentiating. */
const LOG_RATIO_CLAMP = 20;
/** verl clamps the k3 KL estimate to [-10, 10]. */
const KL_CLAMP = 10;

export interface PpoTokenLoss {
  /** -A * ratio, clipped as PPO prescribes. */
  loss: number;
  /** d loss / d logprob (0 where a clip is active: the clipped branch does not depend on the policy). */
  grad: number;
  /** The upper/lower ratio clip decided the loss (verl pg_clipfrac counts these). */
  clipped: boolean;
  /** The dual clip (negative advantages, ratio beyond clip_ratio_c) decided it (pg_clipfrac_lower). */
  clippedLower: boolean;
  /** logp - old, clamped to ±20 as the ratio uses it (verl's negative_approx_kl, of which ppo_kl is the negated mean). */
  logRatio: number;
}

/**
 * One token's PPO-clip loss:
 *   ratio = exp(clamp(logp - old, ±20))
 *   l = max(-A ratio, -A clip(ratio, 1 - clipLow, 1 + clipHigh)); for A < 0 also min(l, -A clipRatioC).
 */
export function ppoTokenLoss(logprob: number, oldLogprob: number, advantage: number, config: Pick<PolicyLossConfig, 'clipLow' | 'clipHigh' | 'clipRatioC'>): PpoTokenLoss {
  const logRatio = logprob - oldLogprob;
  const clampedLogRatio = Math.min(LOG_RATIO_CLAMP, Math.max(-LOG_RATIO_CLAMP, logRatio));
  const ratio = Math.exp(clampedLogRatio);
  const dRatio = clampedLogRatio === logRatio ? ratio : 0;
  const unclipped = -advantage * ratio;
  const clippedRatio = Math.min(1 + config.clipHigh, Math.max(1 - config.clipLow, ratio));
  const clippedLoss = -advantage * clippedRatio;
  // torch.maximum: the larger branch; the clipped branch only carries gradient where clip() is the identity.
  const clipped = clippedLoss > unclipped;
  let loss = clipped ? clippedLoss : unclipped;
  let grad = clipped ? (clippedRatio === ratio ? -advantage * dRatio : 0) : -advantage * dRatio;
  let clippedLower = false;
  if (advantage < 0 && config.clipRatioC !== null) {
    const dual = -advantage * config.clipRatioC;
    if (dual < loss) {
      clippedLower = true;
      loss = dual;
      grad = 0;
    }
  }
  return { loss, grad, clipped, clippedLower, logRatio: clampedLogRatio };
}

/**
 * k3 ("low_var_kl") estimator of KL(policy || reference) from one sampled token:
 *   kl = ref - logp; value = exp(kl) - kl - 1, clamped to [-10, 10].
 * Returns the value and d value / d logp = 1 - exp(ref - logp) (0 where a clamp is active).
 */
export function k3Kl(logprob: number, refLogprob: number): { value: number; grad: number } {
  const kl = refLogprob - logprob;
  const clampedKl = Math.min(LOG_RATIO_CLAMP, Math.max(-LOG_RATIO_CLAMP, kl));
  const ratio = Math.exp(clampedKl);
  const raw = ratio - clampedKl - 1;
  const value = Math.min(KL_CLAMP, Math.max(-KL_CLAMP, raw));
  const grad = clampedKl === kl && value === raw ? 1 - ratio : 0;
  return { value, grad };
}

/**
 * Per-token weights w such that Σ w·ℓ over the whole batch is the `mode` aggregation of ℓ over the loss
 * mask (verl `agg_loss`). Masked tokens get weight 0. Computed once over the whole batch so micro-batches
 * share one normaliser.
 */
export function aggregationWeights(lossMasks: readonly ArrayLike<number>[], mode: LossAggregation, normTokens: number | null = null): Float32Array[] {
  const counts = lossMasks.map((mask) => {
    let n = 0;
    for (let t = 0; t < mask.length; t++) n += mask[t] ? 1 : 0;
    return n;
  });
  const total = counts.reduce((a, b) => a + b, 0);
  // verl's seq-mean modes divide by the number of sequences with at least one loss token.
  const sequences = counts.filter((n) => n > 0).length;
  const L = normTokens ?? Math.max(0, ...lossMasks.map((mask) => mask.length));
  if (mode === 'seq-mean-token-sum-norm' && !(L > 0)) throw new RangeError(`seq-mean-token-sum-norm needs a positive token count, got ${L}`);
  return lossMasks.map((mask, i) => {
    const w = new Float32Array(mask.length);
    const n = counts[i]!;
    if (n === 0) return w;
    const value =
      mode === 'token-mean' ? 1 / total
      : mode === 'seq-mean-token-sum' ? 1 / sequences
      : mode === 'seq-mean-token-sum-norm' ? 1 / (sequences * L)
      : 1 / (sequences * n);
    for (let t = 0; t < mask.length; t++) if (mask[t]) w[t] = value;
    return w;
  });
}

/** One micro-batch's tokens, flattened: arrays of equal length, one entry per scored token. */
export interface PolicyLossInputs {
  logprobs: ArrayLike<number>;
  /** Behaviour-policy logprobs logged at sampling time. */
  oldLogprobs: ArrayLike<number>;
  advantages: ArrayLike<number>;
  /** From aggregationWeights; 0 = not in the loss. */
  weights: ArrayLike<number>;
  /** Token entropies of the current policy (for the bonus and the metric). */
  entropies: ArrayLike<number>;
  /** Reference logprobs; required when config.klCoef > 0. */
  refLogprobs?: ArrayLike<number>;
}

/** Weighted sums (to add across micro-batches) and per-token derivatives. */
export interface PolicyLossTerms {
  /** Σ w·(pg + klCoef·kl - entropyCoef·entropy): this micro-batch's share of the total loss. */
  loss: number;
  /** Σ w·pg, Σ w·kl, Σ w·entropy: shares of the aggregated components. */
  pgLoss: number;
  klLoss: number;
  entropyLoss: number;
  /** d loss / d logprob per token. */
  gradLogprobs: Float32Array;
  /** d loss / d entropy per token (-entropyCoef · w). */
  gradEntropies: Float32Array;
  /** Unweighted counts over tokens in the loss (weight > 0), for token-mean metrics. */
  tokens: number;
  clipped: number;
  clippedLower: number;
  /** Σ -clamp(logp - old, ±20): ppo_kl's numerator, from the log-ratio the loss uses (verl). */
  approxKlSum: number;
  entropySum: number;
  klSum: number;
}

export function policyLoss(inputs: PolicyLossInputs, config: PolicyLossConfig): PolicyLossTerms {
  const n = inputs.logprobs.length;
  for (const key of ['oldLogprobs', 'advantages', 'weights', 'entropies'] as const) {
    if (inputs[key].length !== n) throw new RangeError(`${key} has ${inputs[key].length} entries, logprobs has ${n}`);
  }
  const ref = inputs.refLogprobs;
  if (config.klCoef > 0 && (!ref || ref.length !== n)) throw new RangeError('klCoef > 0 needs refLogprobs for every token');
  const terms: PolicyLossTerms = {
    loss: 0, pgLoss: 0, klLoss: 0, entropyLoss: 0,
    gradLogprobs: new Float32Array(n), gradEntropies: new Float32Array(n),
    tokens: 0, clipped: 0, clippedLower: 0, approxKlSum: 0, entropySum: 0, klSum: 0,
  };
  for (let t = 0; t < n; t++) {
    const w = inputs.weights[t]!;
    if (w === 0) continue;
    const logprob = inputs.logprobs[t]!;
    const pg = ppoTokenLoss(logprob, inputs.oldLogprobs[t]!, inputs.advantages[t]!, config);
    const entropy = inputs.entropies[t]!;
    let grad = pg.grad;
    terms.pgLoss += w * pg.loss;
    terms.entropyLoss += w * entropy;
    if (ref && config.klCoef > 0) {
      const kl = k3Kl(logprob, ref[t]!);
      terms.klLoss += w * kl.value;
      terms.klSum += kl.value;
      grad += config.klCoef * kl.grad;
    }
    terms.gradLogprobs[t] = w * grad;
    terms.gradEntropies[t] = -config.entropyCoef * w;
    terms.tokens++;
    if (pg.clipped) terms.clipped++;
    if (pg.clippedLower) terms.clippedLower++;
    terms.approxKlSum -= pg.logRatio;
    terms.entropySum += entropy;
  }
  terms.loss = terms.pgLoss + config.klCoef * terms.klLoss - config.entropyCoef * terms.entropyLoss;
  return terms;
}
