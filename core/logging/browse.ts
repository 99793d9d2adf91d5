import { gunzip } from '../bytes.ts';
import { FINISH_REASONS, TrajectoryRecordSchema, type TrajectoryRecord } from '../schemas/trajectory.ts';
import type { ObjectStore } from '../storage/object-store.ts';

/**
 * Reading the trajectory log back for people (the console's trajectory browser, GET /v1/trajectories):
 * newest first, filtered, one page at a time. Batch objects are `trajectories/<yyyy>/<mm>/<dd>/<id>.jsonl.gz`
 * (core/logging/batch.ts), so days list in order but the objects of one day do not: a page reads whole
 * days, newest first, until it is full. Objects never change once stored, so each one's summaries are
 * parsed once and kept (bounded); a record is read again from its object when it is opened.
 */

export const TRAJECTORY_PREFIX = 'trajectories/';

export interface TrajectoryFilter {
  /** ISO times: created_at ≥ since, < until. */
  since?: string;
  until?: string;
  checkpoint?: string;
  finishReason?: (typeof FINISH_REASONS)[number];
  minReward?: number;
  maxReward?: number;
  minToolCalls?: number;
  maxToolCalls?: number;
  /** Case-insensitive substring of the problem or the final answer. */
  text?: string;
}

export interface TrajectorySummary {
  id: string;
  created_at: string;
  model: string;
  checkpoint_version: string;
  group_id: string;
  sample_index: number;
  problem: string;
  final_answer: string | null;
  gold: string | null;
  reward: number | null;
  finish_reason: TrajectoryRecord['finish_reason'];
  partial: boolean;
  tool_calls: number;
  response_tokens: number;
  total_ms: number;
}

export interface TrajectoryPage {
  data: TrajectorySummary[];
  /** Pass as `before` for the next page; null on the last one. */
  next_cursor: string | null;
  /** Lines that could not be read (corrupt object, invalid record): left out, counted here. */
  unreadable: number;
}

/** Problems are shown clipped in lists; the full text is in the record. */
const PROBLEM_PREVIEW_CHARS = 300;
/** Summaries kept per object (all of them; objects hold up to CIR_TRAJ_BATCH_RECORDS lines). Objects remembered: */
const MAX_CACHED_OBJECTS = 20_000;

interface ObjectSummaries {
  summaries: TrajectorySummary[];
  unreadable: number;
}

export class TrajectoryBrowser {
  private readonly cache = new Map<string, ObjectSummaries>();
  /** Record id → the object holding it (for opening one record). */
  private readonly where = new Map<string, string>();

  constructor(private readonly store: ObjectStore) {}

  /**
   * A page of summaries, newest first. `before` is a cursor from a previous page (records strictly
   * older than it are returned).
   */
  async list(filter: TrajectoryFilter, { limit, before }: { limit: number; before?: string }): Promise<TrajectoryPage> {
    const after = before === undefined ? undefined : decodeCursor(before);
    const days = groupByDay(await this.store.list(TRAJECTORY_PREFIX));
    const out: TrajectorySummary[] = [];
    let unreadable = 0;
    let more = false;
    for (const day of [...days.keys()].sort().reverse()) {
      // A day entirely after `until` or before `since` need not be read (keys are dated in UTC).
      if (filter.since && day < filter.since.slice(0, 10)) break;
      if (filter.until && day > filter.until.slice(0, 10)) continue;
      const summaries: TrajectorySummary[] = [];
      for (const key of days.get(day)!) {
        const object = await this.summaries(key);
        unreadable += object.unreadable;
        summaries.push(...object.summaries);
      }
      summaries.sort(newestFirst);
      for (const s of summaries) {
        if (after && !olderThan(s, after)) continue;
        if (!matches(s, filter)) continue;
        if (out.length === limit) {
          more = true;
          break;
        }
        out.push(s);
      }
      if (more) break;
    }
    const last = out.at(-1);
    return { data: out, next_cursor: more && last ? encodeCursor(last) : null, unreadable };
  }

  /** The whole record, or null when no stored object holds it. */
  async get(id: string): Promise<TrajectoryRecord | null> {
    if (!this.where.has(id)) await this.list({}, { limit: Number.MAX_SAFE_INTEGER });
    const key = this.where.get(id);
    if (!key) return null;
    const records = await this.read(key);
    return records.records.find((r) => r.id === id) ?? null;
  }

  private async summaries(key: string): Promise<ObjectSummaries> {
    const cached = this.cache.get(key);
    if (cached) return cached;
    const { records, unreadable } = await this.read(key);
    const entry = { summaries: records.map(summarize), unreadable };
    if (this.cache.size >= MAX_CACHED_OBJECTS) {
      const oldest = this.cache.keys().next().value!;
      for (const s of this.cache.get(oldest)!.summaries) this.where.delete(s.id);
      this.cache.delete(oldest);
    }
    this.cache.set(key, entry);
    for (const s of entry.summaries) this.where.set(s.id, key);
    return entry;
  }

  /** An object's valid records; a line or object that cannot be read is counted, not fatal (a browser shows what it can). */
  private async read(key: string): Promise<{ records: TrajectoryRecord[]; unreadable: number }> {
    const bytes = await this.store.get(key);
    if (bytes === null) return { records: [], unreadable: 0 };
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(await gunzip(bytes));
    } catch {
      return { records: [], unreadable: 1 };
    }
    const records: TrajectoryRecord[] = [];
    let unreadable = 0;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const parsed = TrajectoryRecordSchema.safeParse(JSON.parse(line));
        if (parsed.success) records.push(parsed.data);
        else unreadable++;
      } catch {
        unreadable++;
      }
    }
    return { records, unreadable };
  }
}

function summarize(r: TrajectoryRecord): TrajectorySummary {
  return {
    id: r.id,
    created_at: r.created_at,
    model: r.model,
    checkpoint_version: r.checkpoint_version,
    group_id: r.group_id,
    sample_index: r.sample_index,
    problem: r.problem.length > PROBLEM_PREVIEW_CHARS ? `${r.problem.slice(0, PROBLEM_PREVIEW_CHARS)}…` : r.problem,
    final_answer: r.final_answer,
    gold: r.gold ?? null,
    reward: r.reward ?? null,
    finish_reason: r.finish_reason,
    partial: r.partial,
    tool_calls: r.tool_calls.length,
    response_tokens: r.response_ids.length,
    total_ms: r.timings.total_ms,
  };
}

/** `trajectories/yyyy/mm/dd/x.jsonl.gz` keys by their day, as `yyyy-mm-dd` (other keys are not batches). */
function groupByDay(keys: readonly string[]): Map<string, string[]> {
  const days = new Map<string, string[]>();
  for (const key of keys) {
    const match = /^trajectories\/(\d{4})\/(\d{2})\/(\d{2})\/[^/]+\.jsonl\.gz$/.exec(key);
    if (!match) continue;
    const day = `${match[1]}-${match[2]}-${match[3]}`;
    const list = days.get(day);
    if (list) list.push(key);
    else days.set(day, [key]);
  }
  return days;
}

const time = (iso: string) => Date.parse(iso);

function newestFirst(a: TrajectorySummary, b: TrajectorySummary): number {
  return time(b.created_at) - time(a.created_at) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

interface Cursor {
  t: number;
  id: string;
}

function encodeCursor(s: TrajectorySummary): string {
  return `${time(s.created_at)}_${s.id}`;
}

/** A cursor is `<epoch ms>_<id>`; anything else is refused by the route before it gets here. */
export const CURSOR_PATTERN = /^(\d{1,16})_([0-9a-f-]{36})$/;

function decodeCursor(cursor: string): Cursor {
  const match = CURSOR_PATTERN.exec(cursor);
  if (!match) throw new Error(`invalid cursor ${JSON.stringify(cursor)}`);
  return { t: Number(match[1]), id: match[2]! };
}

function olderThan(s: TrajectorySummary, c: Cursor): boolean {
  const t = time(s.created_at);
  return t < c.t || (t === c.t && s.id < c.id);
}

function matches(s: TrajectorySummary, f: TrajectoryFilter): boolean {
  const t = time(s.created_at);
  if (f.since !== undefined && t < time(f.since)) return false;
  if (f.until !== undefined && t >= time(f.until)) return false;
  if (f.checkpoint !== undefined && s.checkpoint_version !== f.checkpoint) return false;
  if (f.finishReason !== undefined && s.finish_reason !== f.finishReason) return false;
  if (f.minReward !== undefined && (s.reward === null || s.reward < f.minReward)) return false;
  if (f.maxReward !== undefined && (s.reward === null || s.reward > f.maxReward)) return false;
  if (f.minToolCalls !== undefined && s.tool_calls < f.minToolCalls) return false;
  if (f.maxToolCalls !== undefined && s.tool_calls > f.maxToolCalls) return false;
  if (f.text !== undefined) {
    const needle = f.text.toLowerCase();
    if (!s.problem.toLowerCase().includes(needle) && !(s.final_answer ?? '').toLowerCase().includes(needle)) return false;
  }
  return true;
}
