import { describe, expect, it } from 'vitest';
import { grpoAdvantages, groupsWithSignal, reinforcePlusPlusBaselineAdvantages, computeAdvantages } from './advantages.ts';
import { aggregationWeights, k3Kl, policyLoss, ppoTokenLoss } from './policy-loss.ts';
import { DEFAULT_REWARD, outcomeReward } from './rewards.ts';
import { DEFAULT_POLICY_LOSS } from './types.ts';

const clip = { clipLow: 0.2, clipHigh: 0.28, clipRatioC: 3 };

describe('rewards', () => {
  it('gives +1 / -1 by default and uses the configured values', () => {
    expect(outcomeReward('correct')).toBe(1);
    expect(outcomeReward('incorrect')).toBe(-1);
    expect(outcomeReward('no_answer')).toBe(-1);
    expect(outcomeReward('no_answer', { ...DEFAULT_REWARD, noAnswer: -2 })).toBe(-2);
    expect(outcomeReward('correct', { correct: 1, incorrect: 0 })).toBe(1);
    expect(outcomeReward('incorrect', { correct: 1, incorrect: 0 })).toBe(0);
  });
});

describe('GRPO advantages', () => {
  it('centres and scales by the unbiased group std; a lone sample keeps its score', () => {
    // group a: mean 0, std sqrt(4/3); group b: mean -1/3, deviations 4/3, -2/3, -2/3, std sqrt(4/3); group c alone.
    const adv = grpoAdvantages([1, -1, -1, 1, 1, -1, -1, 1], ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'c']);
    const s = Math.sqrt(4 / 3);
    const expected = [1 / s, -1 / s, -1 / s, 1 / s, 4 / 3 / s, -2 / 3 / s, -2 / 3 / s, 1];
    adv.forEach((a, i) => expect(a).toBeCloseTo(expected[i]!, 5));
  });

  it('only centres when normByStd is false (Dr. GRPO)', () => {
    expect(grpoAdvantages([1, 0, 0, 0], ['g', 'g', 'g', 'g'], { normByStd: false })).toEqual([0.75, -0.25, -0.25, -0.25]);
  });

  it('adds epsilon to the std', () => {
    const [a] = grpoAdvantages([1, -1], ['g', 'g'], { epsilon: 0.5 });
    expect(a).toBeCloseTo(1 / (Math.SQRT2 + 0.5), 6);
  });
});

describe('REINFORCE++ with group baseline', () => {
  it('subtracts the group mean then whitens over tokens with an unbiased variance', () => {
    // centred [1, -1, 0, 0]; token-weighted mean (1 - 3) / 8 = -0.25; var = 3.5/8 * 8/7 = 0.5.
    const adv = reinforcePlusPlusBaselineAdvantages([1, -1, 1, 1], ['g1', 'g1', 'g2', 'g2'], [1, 3, 2, 2]);
    const scale = 1 / Math.sqrt(0.5 + 1e-8);
    [1.25, -0.75, 0.25, 0.25].forEach((v, i) => expect(adv[i]).toBeCloseTo(v * scale, 5));
    expect(computeAdvantages('reinforce_plus_plus_baseline', [1, -1, 1, 1], ['g1', 'g1', 'g2', 'g2'], [1, 3, 2, 2])).toEqual(adv);
  });

  it('refuses a batch with fewer than two tokens', () => {
    expect(() => reinforcePlusPlusBaselineAdvantages([1], ['g'], [1])).toThrow(/at least 2 loss tokens/);
  });
});

describe('groups with signal', () => {
  it('keeps groups whose scores differ and drops uniform or lone ones', () => {
    expect([...groupsWithSignal([1, 1, -1, -1, 1, 1], ['a', 'a', 'b', 'b', 'c', 'c'])]).toEqual([]);
    expect([...groupsWithSignal([1, -1, -1, -1, 1], ['a', 'a', 'b', 'b', 'c'])]).toEqual(['a']);
  });
});

describe('PPO-clip token loss', () => {
  const lp = (ratio: number) => Math.log(0.5 * ratio);
  const old = Math.log(0.5);
  it.each([
    // [advantage, ratio, loss, grad, clipped, clippedLower]
    [1, 1.1, -1.1, -1.1, false, false], // inside the trust region: -A r, d/dlogp = -A r
    [1, 1.4, -1.28, 0, true, false], // above 1 + clip_high: clipped, no gradient
    [1, 0.5, -0.5, -0.5, false, false], // positive advantage, low ratio: unclipped branch is larger
    [-1, 0.5, 0.8, 0, true, false], // negative advantage below 1 - clip_low: clipped
    [-1, 2, 2, 2, false, false], // negative advantage, ratio 2 < clip_ratio_c: unclipped
    [-1, 5, 3, 0, false, true], // dual clip caps the loss at -A * 3
  ])('A=%d ratio=%d', (advantage, ratio, loss, grad, clipped, clippedLower) => {
    const r = ppoTokenLoss(lp(ratio), old, advantage, clip);
    expect(r.loss).toBeCloseTo(loss, 6);
    expect(r.grad).toBeCloseTo(grad, 6);
    expect(r.clipped).toBe(clipped);
    expect(r.clippedLower).toBe(clippedLower);
    // The analytic gradient agrees with a central finite difference of the loss.
    const h = 1e-6;
    const fd = (ppoTokenLoss(lp(ratio) + h, old, advantage, clip).loss - ppoTokenLoss(lp(ratio) - h, old, advantage, clip).loss) / (2 * h);
    expect(r.grad).toBeCloseTo(fd, 4);
  });

  it('disables the dual clip when clipRatioC is null', () => {
    expect(ppoTokenLoss(lp(5), old, -1, { ...clip, clipRatioC: null }).loss).toBeCloseTo(5, 6);
  });
});

describe('k3 KL', () => {
  it('matches exp(ref - logp) - (ref - logp) - 1 and its derivative', () => {
    const { value, grad } = k3Kl(Math.log(0.5), Math.log(0.25));
    expect(value).toBeCloseTo(0.5 + Math.log(0.5) * -1 - 1, 6);
    expect(grad).toBeCloseTo(0.5, 6);
    expect(k3Kl(-1.3, -1.3)).toEqual({ value: 0, grad: 0 });
  });

  it('clamps at 10 with no gradient', () => {
    expect(k3Kl(-30, 0)).toEqual({ value: 10, grad: 0 });
  });
});

describe('loss aggregation weights', () => {
  const masks = [[1, 1, 0], [1, 0, 0, 1, 1], [0, 0]];
  it('token-mean: 1 / all loss tokens', () => {
    expect(aggregationWeights(masks, 'token-mean').map((w) => Array.from(w))).toEqual([[0.2, 0.2, 0], [0.2, 0, 0, 0.2, 0.2], [0, 0]].map((r) => r.map(Math.fround)));
  });
  it('seq-mean-token-sum: 1 / sequences with loss tokens', () => {
    expect(aggregationWeights(masks, 'seq-mean-token-sum').map((w) => Array.from(w))).toEqual([[0.5, 0.5, 0], [0.5, 0, 0, 0.5, 0.5], [0, 0]]);
  });
  it('seq-mean-token-mean: 1 / (sequences * own tokens)', () => {
    const w = aggregationWeights(masks, 'seq-mean-token-mean');
    expect(w[0]![0]).toBeCloseTo(0.25, 7);
    expect(w[1]![3]).toBeCloseTo(1 / 6, 7);
    expect(w[1]![1]).toBe(0);
  });
  it('seq-mean-token-sum-norm: 1 / (sequences * L), L constant (Dr. GRPO) or the longest response', () => {
    expect(aggregationWeights(masks, 'seq-mean-token-sum-norm', 10).map((w) => Array.from(w))).toEqual([[0.05, 0.05, 0], [0.05, 0, 0, 0.05, 0.05], [0, 0]].map((r) => r.map(Math.fround)));
    expect(aggregationWeights(masks, 'seq-mean-token-sum-norm')[0]![0]).toBeCloseTo(1 / (2 * 5), 7);
  });
});

describe('policyLoss over a micro-batch', () => {
  it('sums weighted terms, skips masked tokens and derives d loss / d logprob', () => {
    const old = Math.log(0.5);
    const inputs = {
      logprobs: [Math.log(0.55), Math.log(0.7), Math.log(0.1)],
      oldLogprobs: [old, old, old],
      advantages: [1, 1, -1],
      weights: [0.5, 0.5, 0], // third token masked
      entropies: [2, 1, 9],
      refLogprobs: [Math.log(0.25), Math.log(0.5), 0],
    };
    const config = { ...DEFAULT_POLICY_LOSS, klCoef: 0.1, entropyCoef: 0.01 };
    const t = policyLoss(inputs, config);
    const kl0 = k3Kl(inputs.logprobs[0]!, inputs.refLogprobs[0]!);
    const kl1 = k3Kl(inputs.logprobs[1]!, inputs.refLogprobs[1]!);
    expect(t.pgLoss).toBeCloseTo(0.5 * -1.1 + 0.5 * -1.28, 6);
    expect(t.klLoss).toBeCloseTo(0.5 * kl0.value + 0.5 * kl1.value, 6);
    expect(t.entropyLoss).toBeCloseTo(1.5, 6);
    expect(t.loss).toBeCloseTo(t.pgLoss + 0.1 * t.klLoss - 0.01 * 1.5, 6);
    expect(t.gradLogprobs[0]).toBeCloseTo(0.5 * (-1.1 + 0.1 * kl0.grad), 5);
    expect(t.gradLogprobs[1]).toBeCloseTo(0.5 * 0.1 * kl1.grad, 5); // clipped: only the KL term moves it
    expect(t.gradLogprobs[2]).toBe(0);
    expect(Array.from(t.gradEntropies)).toEqual([-0.005, -0.005, 0].map(Math.fround));
    expect(t.tokens).toBe(2);
    expect(t.clipped).toBe(1);
    expect(t.approxKlSum).toBeCloseTo(old - Math.log(0.55) + old - Math.log(0.7), 6);
    expect(t.entropySum).toBe(3);
  });

  it('takes ppo_kl from the clamped log-ratio, as the loss uses it (verl)', () => {
    // A stale logprob 30 nats away from the current one counts as 20 (the clamp), not 30.
    const inputs = { logprobs: [-1, -40], oldLogprobs: [-1.5, -10], advantages: [1, 1], weights: [0.5, 0.5], entropies: [0, 0] };
    expect(policyLoss(inputs, DEFAULT_POLICY_LOSS).approxKlSum).toBeCloseTo(-0.5 + 20, 9);
  });

  it('requires refLogprobs when klCoef > 0 and equal lengths', () => {
    const base = { logprobs: [0], oldLogprobs: [0], advantages: [1], weights: [1], entropies: [0] };
    expect(() => policyLoss(base, { ...DEFAULT_POLICY_LOSS, klCoef: 0.1 })).toThrow(/refLogprobs/);
    expect(() => policyLoss({ ...base, advantages: [] }, DEFAULT_POLICY_LOSS)).toThrow(/advantages has 0/);
  });
});
