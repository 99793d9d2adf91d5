import { describe, expect, it } from 'vitest';
import { TrajectoryValidationError } from '../../core/schemas/trajectory.ts';
import { makeRecord } from '../../test/logging/fixtures.ts';
import { inlineGrader } from '../../api/grading/grader.ts';
import { buildBatch, gradeRecords, scoreRecord, voidTurnSpans } from './build.ts';

const right = (group: string, extra = {}) => makeRecord({ group_id: group, final_answer: '1024', gold: '2^10', ...extra });
const wrong = (group: string, extra = {}) => makeRecord({ group_id: group, final_answer: '1000', gold: '1024', ...extra });
const MASK = [1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1];

describe('buildBatch', () => {
  it('grades, groups, drops groups without signal when asked, and computes GRPO advantages over the loss mask', () => {
    const a = [right('a'), right('a'), wrong('a'), wrong('a')];
    const b = [right('b'), right('b')]; // all correct: no signal
    const c = [makeRecord({ group_id: 'c', gold: undefined, reward: 0.5 }), makeRecord({ group_id: 'c', gold: undefined, reward: -0.5 })];
    const unscored = makeRecord({ group_id: 'd', gold: undefined, reward: undefined });
    const partial = right('a', { partial: true, finish_reason: 'cancelled' });
    const batch = buildBatch([...a, ...b, ...c, unscored, partial, a[0]!], { dropNoSignal: true });

    expect(batch.samples.map((s) => s.groupId)).toEqual(['a', 'a', 'a', 'a', 'c', 'c']);
    const s = Math.sqrt(4 / 3);
    const adv = batch.samples.map((x) => x.advantages[0]);
    [1 / s, 1 / s, -1 / s, -1 / s, 0.5 / Math.sqrt(0.5), -0.5 / Math.sqrt(0.5)].forEach((v, i) => expect(adv[i]).toBeCloseTo(v, 5));

    const first = batch.samples[0]!;
    expect(first.id).toBe(a[0]!.id);
    expect(Array.from(first.inputIds)).toEqual([1, 2, 3, 4, 10, 11, 12, 20, 21, 22, 23, 30, 31, 32, 40, 41]);
    expect(first.promptLength).toBe(4);
    expect(Array.from(first.lossMask)).toEqual(MASK);
    // Tool output (positions 7..9) carries no advantage and no logprob.
    expect(Array.from(first.advantages).map((v, t) => (MASK[t] ? v !== 0 : v === 0))).toEqual(MASK.map(() => true));
    expect(Array.from(first.oldLogprobs)).toEqual([-0.1, -0.2, -0.3, -0.4, -0.5, -0.6, -0.7, 0, 0, 0, -0.8, -0.9].map(Math.fround));
    expect(first.reward).toBe(1);
    expect(batch.samples[2]!.reward).toBe(-1);
    expect(first.temperature).toBe(0.7);

    expect(batch.stats).toMatchObject({
      records: 10, duplicates: 1, partial: 1, unscored: 1, groups: 3, keptGroups: 2, samples: 6, lossTokens: 6 * 9, voidTurnsFiltered: 0,
      toolCallsPerSample: 1, toolCallRate: 1, meanResponseLength: 12,
    });
    // 6 of the 8 scored records are graded (gold): 4 correct.
    expect(batch.stats.accuracy).toBeCloseTo(4 / 6, 6);
    expect(batch.stats.meanReward).toBeCloseTo((4 - 2 + 0.5 - 0.5) / 8, 6);
  });

  it('applies the reward config, and keeps uniform groups by default (as verl)', () => {
    const batch = buildBatch([right('a'), wrong('a'), wrong('a', { final_answer: null })], { reward: { correct: 1, incorrect: 0, noAnswer: -1 }, normByStd: false });
    expect(batch.samples.map((s) => s.reward)).toEqual([1, 0, -1]);
    expect(batch.samples.map((s) => s.advantages[0])).toEqual([1, 0, -1]);
    const uniform = buildBatch([right('a'), right('a')]);
    expect(uniform.samples.map((s) => s.advantages[0])).toEqual([0, 0]);
    expect(uniform.stats).toMatchObject({ groups: 1, keptGroups: 1, lossTokens: 18 });
  });

  it('uses REINFORCE++-baseline when selected (whitened over loss tokens)', () => {
    const batch = buildBatch([right('a'), wrong('a'), right('b'), wrong('b')], { estimator: 'reinforce_plus_plus_baseline' });
    // Centred ±1, equal token counts: token mean 0, unbiased variance 36/35.
    const expected = 1 / Math.sqrt(36 / 35 + 1e-8);
    expect(batch.samples.map((s) => s.advantages[0])).toEqual([expected, -expected, expected, -expected].map((v) => Math.fround(v)));
  });

  it('filters void turns: a final model turn with no code and no answer', () => {
    const rambling = wrong('a', { final_answer: null, finish_reason: 'length' });
    expect(voidTurnSpans(rambling)).toEqual([{ start: 10, end: 12 }]);
    expect(voidTurnSpans(right('a'))).toEqual([]);
    const records = [right('a'), rambling];
    expect(Array.from(buildBatch(records).samples[1]!.lossMask)).toEqual(MASK);
    const masked = buildBatch(records, { voidTurns: 'mask_turn' });
    expect(Array.from(masked.samples[1]!.lossMask)).toEqual([1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
    expect(masked.samples[1]!.advantages[10]).toBe(0);
    expect(masked.stats).toMatchObject({ voidTurnsFiltered: 1, lossTokens: 9 + 7 });
    const dropped = buildBatch(records, { voidTurns: 'mask_sample' });
    expect(Array.from(dropped.samples[1]!.lossMask).every((m) => m === 0)).toBe(true);
    // The masked sample still counts in its group's statistics.
    expect(dropped.samples[0]!.advantages[0]).toBeCloseTo(1 / Math.SQRT2, 5);
  });

  it('scores without gold from the logged reward, and gives greedy rollouts temperature 1', () => {
    expect(scoreRecord(makeRecord({ gold: undefined, reward: -1 }), { correct: 1, incorrect: -1 })).toEqual({ score: -1, correct: null });
    expect(scoreRecord(makeRecord({ gold: undefined, reward: undefined }), { correct: 1, incorrect: -1 })).toBeNull();
    const batch = buildBatch([right('a', { request: { temperature: 0 } }), wrong('a', { request: {} })]);
    expect(batch.samples.map((s) => s.temperature)).toEqual([1, 1]);
  });

  it('refuses records whose arrays disagree, naming the record', () => {
    const bad = right('a', { loss_mask: [1, 1] });
    expect(() => buildBatch([bad])).toThrow(TrajectoryValidationError);
    expect(() => buildBatch([bad])).toThrow(new RegExp(`record ${bad.id}: loss_mask has 2 entries`));
  });

  it('keeps a uniform group in REINFORCE++ whitening and the token-mean denominator unless asked to drop it', () => {
    const records = [right('a'), wrong('a'), right('b'), right('b')];
    const kept = buildBatch(records, { estimator: 'reinforce_plus_plus_baseline' });
    // Centred: +1, -1, 0, 0 over 9 loss tokens each: mean 0, unbiased variance 18/35; the uniform group stays at 0.
    const scale = 1 / Math.sqrt(18 / 35 + 1e-8);
    expect(kept.samples.map((s) => s.advantages[0])).toEqual([scale, -scale, 0, 0].map((v) => Math.fround(v)));
    expect(kept.stats.lossTokens).toBe(36);
    const dropped = buildBatch(records, { estimator: 'reinforce_plus_plus_baseline', dropNoSignal: true });
    expect(dropped.samples).toHaveLength(2);
    expect(dropped.stats.lossTokens).toBe(18);
  });

  it('re-grades through a grader beforehand when given one, and uses its verdicts', async () => {
    const records = [right('a'), wrong('a'), makeRecord({ group_id: 'a', final_answer: null, gold: '1' }), makeRecord({ group_id: 'a', gold: undefined, reward: 1 })];
    const verdicts = await gradeRecords(records, inlineGrader);
    expect([...verdicts.entries()]).toEqual([[records[0]!.id, true], [records[1]!.id, false]]); // no answer, or no gold: nothing to grade
    // A verdict given wins over grading here (a pool's timeout verdict, say).
    const overruled = buildBatch(records.slice(0, 2), { verdicts: new Map([[records[0]!.id, false]]) });
    expect(overruled.samples.map((s) => s.reward)).toEqual([-1, -1]);
  });

  it('returns an empty batch when nothing carries signal and such groups are dropped', () => {
    const batch = buildBatch([right('a'), right('a')], { dropNoSignal: true });
    expect(batch.samples).toEqual([]);
    expect(batch.stats).toMatchObject({ records: 2, keptGroups: 0, lossTokens: 0 });
  });
});
