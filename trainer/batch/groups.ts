/**
 * Which records a step trains on: whole groups. Group statistics (GRPO's mean and std, REINFORCE++'s
 * baseline) are only right over all n samples of a problem, but records reach the trainer in queue
 * messages that need not hold whole groups (another producer, a retried request, a version 1 record).
 * So records wait in a pool until their group is complete (`group_size` of them have arrived); a group
 * still incomplete `timeoutMs` after its first record arrived is trained as it is or set aside, by
 * policy, and counted either way. Pure: the trainer hands it record metadata and persists the result.
 */

export interface PoolRecord {
  id: string;
  groupId: string;
  /** The record's group_size; undefined for version 1 records, whose group counts as complete as it arrives. */
  groupSize: number | undefined;
  /** When the consumer accounted for the message that brought it (ms since epoch). */
  arrivedAtMs: number;
}

/** What happens to a group still incomplete when its timeout passes. */
export const INCOMPLETE_GROUP_POLICIES = ['train', 'set-aside'] as const;
export type IncompleteGroupPolicy = (typeof INCOMPLETE_GROUP_POLICIES)[number];

export interface GroupPolicy {
  timeoutMs: number;
  incomplete: IncompleteGroupPolicy;
}

export const DEFAULT_GROUP_POLICY: GroupPolicy = { timeoutMs: 600_000, incomplete: 'train' };

/** A batch is full at this many groups, or at this many records (whole groups: the first always fits). */
export type BatchTarget = { groups: number } | { records: number };

export interface GroupSelection {
  /** Ids to train on: whole groups in order of first arrival (plus incomplete ones timed out under 'train'). */
  train: string[];
  groups: number;
  /** Groups in `train` that were incomplete (timed out under the 'train' policy). */
  incompleteTrained: number;
  /** Timed-out incomplete groups under the 'set-aside' policy: consumed, not trained on. */
  setAside: { groupId: string; ids: string[] }[];
  /** Ids left for a later step: incomplete groups still waiting, and ready groups past the target. */
  held: string[];
  heldGroups: number;
  /** How many of the given entries were examined (their records are now in train, setAside or held). */
  entriesExamined: number;
}

interface Group {
  id: string;
  ids: string[];
  size: number | undefined;
  firstArrivalMs: number;
}

type GroupState = 'complete' | 'timed-out' | 'waiting';

function stateOf(group: Group, policy: GroupPolicy, nowMs: number): GroupState {
  if (group.size === undefined || group.ids.length >= group.size) return 'complete';
  return nowMs - group.firstArrivalMs >= policy.timeoutMs ? 'timed-out' : 'waiting';
}

/**
 * Examines `held` records (from earlier steps) and then `entries` in order, stopping at the first
 * entry after which the target is reached. Returns null when no batch is ready: the target is not
 * reached and `flush` is false (a loop waits for more), or nothing at all is ready or due.
 * With `flush` (a job that trains what it consumed) a short batch is taken.
 */
export function selectGroups(
  held: readonly PoolRecord[],
  entries: readonly (readonly PoolRecord[])[],
  target: BatchTarget,
  policy: GroupPolicy,
  { nowMs, flush }: { nowMs: number; flush: boolean },
): GroupSelection | null {
  const groups = new Map<string, Group>();
  const add = (record: PoolRecord) => {
    let group = groups.get(record.groupId);
    if (!group) {
      group = { id: record.groupId, ids: [], size: record.groupSize, firstArrivalMs: record.arrivedAtMs };
      groups.set(record.groupId, group);
    }
    if (!group.ids.includes(record.id)) group.ids.push(record.id);
    group.firstArrivalMs = Math.min(group.firstArrivalMs, record.arrivedAtMs);
  };
  const trainable = (state: GroupState) => state === 'complete' || (state === 'timed-out' && policy.incomplete === 'train');
  const reached = () => {
    let count = 0;
    let records = 0;
    for (const group of groups.values()) {
      if (!trainable(stateOf(group, policy, nowMs))) continue;
      count++;
      records += group.ids.length;
    }
    return 'groups' in target ? count >= target.groups : records >= target.records;
  };

  held.forEach(add);
  let entriesExamined = 0;
  let full = reached();
  while (!full && entriesExamined < entries.length) {
    entries[entriesExamined]!.forEach(add);
    entriesExamined++;
    full = reached();
  }
  if (!full && !flush) return null;

  const selection: GroupSelection = { train: [], groups: 0, incompleteTrained: 0, setAside: [], held: [], heldGroups: 0, entriesExamined };
  const fits = (group: Group) =>
    selection.groups === 0 || ('groups' in target ? selection.groups < target.groups : selection.train.length + group.ids.length <= target.records);
  for (const group of groups.values()) {
    const state = stateOf(group, policy, nowMs);
    if (state === 'timed-out' && policy.incomplete === 'set-aside') {
      selection.setAside.push({ groupId: group.id, ids: group.ids });
    } else if (trainable(state) && fits(group)) {
      selection.train.push(...group.ids);
      selection.groups++;
      if (state === 'timed-out') selection.incompleteTrained++;
    } else {
      selection.held.push(...group.ids);
      selection.heldGroups++;
    }
  }
  if (selection.groups === 0 && selection.setAside.length === 0 && entriesExamined === 0) return null;
  return selection;
}
