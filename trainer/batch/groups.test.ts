import { describe, expect, it } from 'vitest';
import { selectGroups, type GroupPolicy, type PoolRecord } from './groups.ts';

/** n records of group `g` (of size `size`), arrived at `at` ms; ids `g0`, `g1`, ... from `from`. */
const recs = (g: string, n: number, size: number | undefined, at = 0, from = 0): PoolRecord[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${g}${from + i}`, groupId: g, groupSize: size, arrivedAtMs: at }));

const policy: GroupPolicy = { timeoutMs: 1_000, incomplete: 'train' };
const now = { nowMs: 10, flush: false };

describe('selectGroups', () => {
  it('holds a group split across messages until its last sample arrives, then trains it whole', () => {
    // a: 1 + 3 across two messages; b complete in the first.
    const entries = [[...recs('a', 1, 4), ...recs('b', 4, 4)], recs('a', 3, 4, 0, 1)];
    const first = selectGroups([], entries.slice(0, 1), { groups: 2 }, policy, now);
    expect(first).toBeNull(); // one complete group of the two wanted: a loop waits

    const flushed = selectGroups([], entries.slice(0, 1), { groups: 2 }, policy, { ...now, flush: true })!;
    expect(flushed.train).toEqual(['b0', 'b1', 'b2', 'b3']);
    expect(flushed.held).toEqual(['a0']);
    expect(flushed).toMatchObject({ groups: 1, heldGroups: 1, entriesExamined: 1 });

    const both = selectGroups([], entries, { groups: 2 }, policy, now)!;
    expect(both.train).toEqual(['a0', 'a1', 'a2', 'a3', 'b0', 'b1', 'b2', 'b3']);
    expect(both).toMatchObject({ groups: 2, held: [], entriesExamined: 2 });
  });

  it('takes held records from an earlier step first and completes their groups with new ones', () => {
    const held = recs('a', 1, 4);
    const selection = selectGroups(held, [recs('a', 3, 4, 5, 1)], { groups: 1 }, policy, now)!;
    expect(selection.train).toEqual(['a0', 'a1', 'a2', 'a3']);
    expect(selection.incompleteTrained).toBe(0);
  });

  it('stops at the entry that fills the batch and holds ready groups past the target', () => {
    const entries = [recs('a', 2, 2), recs('b', 2, 2), [...recs('c', 2, 2), ...recs('d', 2, 2)], recs('e', 2, 2)];
    const selection = selectGroups([], entries, { groups: 3 }, policy, now)!;
    expect(selection.entriesExamined).toBe(3);
    expect(selection.train).toEqual(['a0', 'a1', 'b0', 'b1', 'c0', 'c1']);
    expect(selection.held).toEqual(['d0', 'd1']);
  });

  it('counts a record target in whole groups (the first group always fits)', () => {
    const entries = [recs('a', 3, 3), recs('b', 3, 3)];
    expect(selectGroups([], entries, { records: 4 }, policy, now)!.train).toEqual(['a0', 'a1', 'a2']);
    expect(selectGroups([], [recs('a', 5, 5)], { records: 2 }, policy, now)!.train).toHaveLength(5);
  });

  it('after the timeout trains an incomplete group as it is, or sets it aside, and says so', () => {
    const entries = [[...recs('late', 1, 4, 0), ...recs('ok', 2, 2, 0)]];
    const later = { nowMs: 1_000, flush: true };
    const trained = selectGroups([], entries, { groups: 8 }, policy, later)!;
    expect(trained).toMatchObject({ groups: 2, incompleteTrained: 1, setAside: [], held: [] });

    const setAside = selectGroups([], entries, { groups: 8 }, { ...policy, incomplete: 'set-aside' }, later)!;
    expect(setAside.train).toEqual(['ok0', 'ok1']);
    expect(setAside.setAside).toEqual([{ groupId: 'late', ids: ['late0'] }]);

    // Before the timeout the late group waits.
    expect(selectGroups([], entries, { groups: 8 }, policy, { nowMs: 999, flush: true })!.held).toEqual(['late0']);
  });

  it('takes version 1 records (no group_size) as complete groups, and ignores a redelivered id', () => {
    const selection = selectGroups([], [[...recs('v1', 2, undefined), ...recs('v1', 1, undefined)]], { groups: 1 }, policy, now)!;
    expect(selection.train).toEqual(['v10', 'v11']);
  });

  it('is null when nothing is ready, due or new', () => {
    expect(selectGroups(recs('a', 1, 4), [], { groups: 1 }, policy, { nowMs: 10, flush: true })).toBeNull();
    expect(selectGroups([], [], { groups: 1 }, policy, { nowMs: 10, flush: true })).toBeNull();
  });
});
