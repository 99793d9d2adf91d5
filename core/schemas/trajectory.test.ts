import { describe, expect, it } from 'vitest';
import { makeRecord } from '../../test/logging/fixtures.ts';
import {
  checkTrajectoryInvariants,
  parseTrajectoryRecord,
  TrajectoryValidationError,
  type TrajectoryRecord,
} from './trajectory.ts';

function problemsOf(record: TrajectoryRecord): string[] {
  try {
    parseTrajectoryRecord(record);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(TrajectoryValidationError);
    return (error as TrajectoryValidationError).issues;
  }
}

describe('trajectory record schema', () => {
  it('accepts a consistent record and round-trips it through JSON', () => {
    const record = makeRecord();
    expect(checkTrajectoryInvariants(record)).toEqual([]);
    expect(parseTrajectoryRecord(JSON.parse(JSON.stringify(record)))).toEqual(record);
  });

  it('accepts an empty response with no turns (e.g. cancelled before the first token)', () => {
    const record = makeRecord({
      response_ids: [], logprobs: [], loss_mask: [], turns: [], tool_calls: [],
      budget: { limit: 2, used: 0 }, final_answer: null, finish_reason: 'cancelled', partial: true,
    });
    expect(problemsOf(record)).toEqual([]);
  });

  it('names the first bad element of a token array by its index', () => {
    const cases: [Partial<Record<string, unknown>>, string][] = [
      [{ prompt_ids: [1, 2, -3, 4] }, 'prompt_ids.2: expected token ids (non-negative integers), got -3'],
      [{ response_ids: [10, 11, 12.5, 20, 21, 22, 23, 30, 31, 32, 40, 41] }, 'response_ids.2: expected token ids (non-negative integers), got 12.5'],
      [{ prompt_ids: '1 2 3' }, 'prompt_ids: expected an array of token ids (non-negative integers)'],
      [{ logprobs: [-0.1, -0.2, -0.3, -0.4, -0.5, -0.6, '-0.7', null, null, null, -0.8, -0.9] }, 'logprobs.6: expected logprobs (finite numbers or null), got "-0.7"'],
      [{ loss_mask: [1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, true] }, 'loss_mask.11: expected loss mask bits (0 or 1), got true'],
    ];
    for (const [override, message] of cases) {
      expect(problemsOf(makeRecord(override as Partial<TrajectoryRecord>))).toEqual([message]);
    }
  });

  it('names mismatched lengths of response_ids, logprobs and loss_mask', () => {
    const record = makeRecord();
    record.logprobs = record.logprobs.slice(0, 11);
    record.loss_mask = [...record.loss_mask, 1];
    expect(problemsOf(record)).toEqual([
      'logprobs has 11 entries, response_ids has 12',
      'loss_mask has 13 entries, response_ids has 12',
    ]);
  });

  it('requires loss_mask 0 exactly on output spans, and logprob null exactly there', () => {
    const maskOnOutput = makeRecord();
    maskOnOutput.loss_mask[8] = 1;
    expect(problemsOf(maskOnOutput)).toEqual(['loss_mask must be 0 exactly on output tokens (first violated at token 8)']);

    const maskOffModelTokens = makeRecord();
    maskOffModelTokens.loss_mask[0] = 0;
    maskOffModelTokens.loss_mask[1] = 0;
    expect(problemsOf(maskOffModelTokens)).toEqual(['loss_mask must be 0 exactly on output tokens (first violated at tokens 0..1)']);

    const logprobOnOutput = makeRecord();
    logprobOnOutput.logprobs[7] = -1;
    expect(problemsOf(logprobOnOutput)).toEqual(['logprobs must be null exactly on output tokens (first violated at token 7)']);
  });

  it('requires turns to cover response_ids contiguously without overlap', () => {
    const gap = makeRecord();
    gap.turns[1] = { kind: 'code', start: 4, end: 7 };
    expect(problemsOf(gap)).toContain('turns[1] starts at 4, leaving tokens 3..3 outside any turn');

    const overlap = makeRecord();
    overlap.turns[2] = { kind: 'output', start: 6, end: 10 };
    expect(problemsOf(overlap)).toContain('turns[2] starts at 6, overlapping the previous turn (which ends at 7)');

    const short = makeRecord();
    short.turns.pop();
    expect(problemsOf(short)).toContain('turns cover tokens 0..9 but response_ids has 12 tokens');

    const empty = makeRecord();
    empty.turns.splice(3, 1, { kind: 'text', start: 10, end: 10 }, { kind: 'text', start: 10, end: 12 });
    expect(problemsOf(empty)).toContain('turns[3] is empty or reversed: [10, 10)');
  });

  it('rejects tool calls that point at the wrong kind of turn, and an overspent budget', () => {
    const record = makeRecord({ budget: { limit: 0, used: 1 } });
    record.tool_calls[0] = { ...record.tool_calls[0]!, turn: 0, output_turn: 3 };
    expect(problemsOf(record)).toEqual([
      'tool_calls[0].turn=0 is not a code turn',
      'tool_calls[0].output_turn=3 is not an output turn',
      'budget.used=1 exceeds budget.limit=0',
    ]);
  });

  it('requires partial for a cancelled rollout and keeps credentials out of request tags', () => {
    const record = makeRecord({ finish_reason: 'cancelled', request: { tags: { api_key: 'sk-123', dataset: 'x' } } });
    const problems = problemsOf(record);
    expect(problems).toEqual([
      'finish_reason "cancelled" requires partial: true',
      'request.tags.api_key looks like a credential; it must not be logged',
    ]);
    expect(problems.join()).not.toContain('sk-123');
  });

  it('refuses fields the schema does not know (nothing unvetted reaches the log)', () => {
    const record = { ...makeRecord(), authorization: 'Bearer x' };
    expect(problemsOf(record as TrajectoryRecord).join()).toMatch(/authorization/);
  });

  it('refuses a foreign schema_version with a message saying which versions are known', () => {
    const record = { ...makeRecord(), schema_version: 3 } as unknown as TrajectoryRecord;
    expect(problemsOf(record)).toEqual(['schema_version: unsupported trajectory schema_version 3 (this build reads 1 and 2)']);
  });

  it('requires group_size from version 2 on and keeps sample_index inside the group', () => {
    const { group_size: _omitted, ...withoutSize } = makeRecord();
    expect(problemsOf(withoutSize as TrajectoryRecord)).toEqual(['group_size is required from schema_version 2 on']);
    expect(problemsOf(makeRecord({ group_size: 4, sample_index: 4 }))).toEqual(['sample_index 4 is outside a group of 4']);
    expect(problemsOf(makeRecord({ group_size: 0 }))[0]).toMatch(/^group_size: /);
  });

  it('still reads version 1 records, which have no group_size', () => {
    const { group_size: _omitted, ...rest } = makeRecord({ sample_index: 3, group_size: 4 });
    const v1 = { ...rest, schema_version: 1 } as TrajectoryRecord;
    expect(parseTrajectoryRecord(JSON.parse(JSON.stringify(v1)))).toEqual(v1);
  });
});
