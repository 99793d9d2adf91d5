import { z } from 'zod';
import { checkedArray, isTokenId } from './bounded.ts';
import { formatIssues } from './issues.ts';

/**
 * One logged rollout (model → code → sandbox → output → model …) as the trainer consumes it.
 * Written by the API's trajectory logger and read back by the trainer, so the schema is versioned:
 * a reader rejects a record whose `schema_version` it does not know instead of misreading it.
 *
 * Token-level layout: `response_ids`, `logprobs` and `loss_mask` run in parallel over the response.
 * `turns` cut the response into contiguous spans; tokens of `output` spans were produced by the sandbox,
 * not sampled, so they carry no logprob (null) and are masked out of the loss (0).
 */
export const TRAJECTORY_SCHEMA_VERSION = 2;
/**
 * Versions this build reads. Version 1 records have no `group_size`: a reader cannot tell whether their
 * group is complete, so the trainer takes such a group as it arrives (what version 1 producers meant).
 */
export const READABLE_TRAJECTORY_SCHEMA_VERSIONS = [1, 2] as const;

const count = z.number().int().nonnegative();

const isLogprob = (value: unknown): value is number | null => value === null || (typeof value === 'number' && Number.isFinite(value));
const isMaskBit = (value: unknown): value is 0 | 1 => value === 0 || value === 1;

export const TURN_KINDS = ['text', 'code', 'output'] as const;

/** A span [start, end) of response_ids. */
export const TurnSchema = z.strictObject({
  kind: z.enum(TURN_KINDS),
  start: count,
  end: count,
});

/** Sandbox result statuses (the executor contract's), plus `skipped`: the tool budget was spent, the code was not run. */
export const TOOL_CALL_STATUSES = ['ok', 'error', 'timeout', 'memory', 'output_limit', 'skipped'] as const;

export const ToolCallSchema = z.strictObject({
  /** Index in `turns` of the code span this call ran. */
  turn: count,
  /** Index in `turns` of the output span fed back to the model, or null when none was (e.g. the rollout ended). */
  output_turn: count.nullable(),
  language: z.string().min(1),
  code: z.string(),
  status: z.enum(TOOL_CALL_STATUSES),
  duration_ms: z.number().nonnegative(),
  /** Whether the output shown to the model was cut to the output limit. */
  truncated: z.boolean(),
});

export const FINISH_REASONS = ['stop', 'length', 'tool_budget', 'cancelled', 'error'] as const;

/** Request metadata worth keeping for training and debugging; never headers, keys or other credentials. */
export const RequestMetadataSchema = z.strictObject({
  temperature: z.number().nonnegative().optional(),
  top_p: z.number().gt(0).max(1).optional(),
  max_tokens: count.optional(),
  seed: z.number().int().optional(),
  /** Free-form labels (dataset, split, experiment); keys that look like credentials are refused. */
  tags: z.record(z.string(), z.string()).optional(),
});

export const TimingsSchema = z.strictObject({
  total_ms: z.number().nonnegative(),
  generation_ms: z.number().nonnegative(),
  tool_ms: z.number().nonnegative(),
  /** Time spent waiting for a model or sandbox slot, when known. */
  queue_ms: z.number().nonnegative().optional(),
});

const TrajectoryFields = z.strictObject({
  schema_version: z.literal(READABLE_TRAJECTORY_SCHEMA_VERSIONS, {
    error: (issue) =>
      `unsupported trajectory schema_version ${JSON.stringify(issue.input)} (this build reads ${READABLE_TRAJECTORY_SCHEMA_VERSIONS.join(' and ')})`,
  }),
  id: z.uuid(),
  request_id: z.string().min(1),
  sample_index: count,
  /** The problem's group: the n samples drawn for one problem share it (GRPO-style advantages). */
  group_id: z.string().min(1),
  /**
   * How many samples the group has (the request's n): the trainer holds a group until all of them have
   * arrived, so group statistics never rest on part of a group. Required from version 2 on.
   */
  group_size: count.min(1).optional(),
  model: z.string().min(1),
  checkpoint_version: z.string().min(1),
  problem: z.string(),
  prompt_ids: checkedArray('token ids (non-negative integers)', isTokenId),
  response_ids: checkedArray('token ids (non-negative integers)', isTokenId),
  logprobs: checkedArray('logprobs (finite numbers or null)', isLogprob),
  loss_mask: checkedArray('loss mask bits (0 or 1)', isMaskBit),
  turns: z.array(TurnSchema),
  tool_calls: z.array(ToolCallSchema),
  budget: z.strictObject({ limit: count, used: count }),
  final_answer: z.string().nullable(),
  gold: z.string().optional(),
  reward: z.number().optional(),
  finish_reason: z.enum(FINISH_REASONS),
  /** The rollout stopped early (client disconnected, cancelled): keep for analysis, weigh before training on it. */
  partial: z.boolean(),
  timings: TimingsSchema,
  request: RequestMetadataSchema,
  created_at: z.iso.datetime({ offset: true }),
});

export type TrajectoryRecord = z.infer<typeof TrajectoryFields>;
export type Turn = z.infer<typeof TurnSchema>;
export type ToolCall = z.infer<typeof ToolCallSchema>;

/** Tag keys that would smuggle credentials into the log (producers check tags against it before building records). */
export const SECRET_LIKE_KEY = /authorization|cookie|password|passwd|secret|api[-_]?key|access[-_]?token|bearer/i;

/**
 * The cross-field rules that the field types cannot express. Returns one message per violation
 * (empty when the record is consistent). Exported so producers can check a record before handing it over.
 */
export function checkTrajectoryInvariants(record: TrajectoryRecord): string[] {
  const problems: string[] = [];
  if (record.schema_version >= 2 && record.group_size === undefined) problems.push(`group_size is required from schema_version 2 on`);
  if (record.group_size !== undefined && record.sample_index >= record.group_size) {
    problems.push(`sample_index ${record.sample_index} is outside a group of ${record.group_size}`);
  }
  const n = record.response_ids.length;
  if (record.logprobs.length !== n) problems.push(`logprobs has ${record.logprobs.length} entries, response_ids has ${n}`);
  if (record.loss_mask.length !== n) problems.push(`loss_mask has ${record.loss_mask.length} entries, response_ids has ${n}`);

  let cursor = 0;
  record.turns.forEach((turn, i) => {
    if (turn.start !== cursor) {
      problems.push(
        turn.start < cursor
          ? `turns[${i}] starts at ${turn.start}, overlapping the previous turn (which ends at ${cursor})`
          : `turns[${i}] starts at ${turn.start}, leaving tokens ${cursor}..${turn.start - 1} outside any turn`,
      );
    }
    if (turn.end <= turn.start) problems.push(`turns[${i}] is empty or reversed: [${turn.start}, ${turn.end})`);
    cursor = Math.max(cursor, turn.end);
  });
  if (cursor !== n) {
    problems.push(
      cursor < n
        ? `turns cover tokens 0..${cursor - 1} but response_ids has ${n} tokens`
        : `turns reach token ${cursor - 1} but response_ids has only ${n} tokens`,
    );
  }

  // Token by token: output tokens are exactly the masked, logprob-less ones. Reported as ranges, not per token.
  if (record.loss_mask.length === n && record.logprobs.length === n) {
    const isOutput = new Array<boolean>(n).fill(false);
    for (const turn of record.turns) {
      if (turn.kind !== 'output') continue;
      for (let t = Math.max(0, turn.start); t < Math.min(n, turn.end); t++) isOutput[t] = true;
    }
    const maskWrong = (t: number) => (record.loss_mask[t] === 0) !== isOutput[t];
    const logprobWrong = (t: number) => (record.logprobs[t] === null) !== isOutput[t];
    for (const [what, wrong] of [
      ['loss_mask must be 0 exactly on output tokens', maskWrong],
      ['logprobs must be null exactly on output tokens', logprobWrong],
    ] as const) {
      const bad = firstRun(n, wrong);
      if (bad) problems.push(`${what} (first violated at token${bad.end - bad.start > 1 ? 's' : ''} ${describeRun(bad)})`);
    }
  }

  record.tool_calls.forEach((call, i) => {
    if (record.turns[call.turn]?.kind !== 'code') problems.push(`tool_calls[${i}].turn=${call.turn} is not a code turn`);
    if (call.output_turn !== null && record.turns[call.output_turn]?.kind !== 'output') {
      problems.push(`tool_calls[${i}].output_turn=${call.output_turn} is not an output turn`);
    }
  });
  if (record.budget.used > record.budget.limit) {
    problems.push(`budget.used=${record.budget.used} exceeds budget.limit=${record.budget.limit}`);
  }
  if (record.finish_reason === 'cancelled' && !record.partial) problems.push('finish_reason "cancelled" requires partial: true');
  for (const key of Object.keys(record.request.tags ?? {})) {
    if (SECRET_LIKE_KEY.test(key)) problems.push(`request.tags.${key} looks like a credential; it must not be logged`);
  }
  return problems;
}

/** The first maximal run of indices for which `wrong` holds. */
function firstRun(n: number, wrong: (t: number) => boolean): { start: number; end: number } | null {
  let t = 0;
  while (t < n && !wrong(t)) t++;
  if (t === n) return null;
  let end = t;
  while (end < n && wrong(end)) end++;
  return { start: t, end };
}

function describeRun({ start, end }: { start: number; end: number }): string {
  return end - start === 1 ? `${start}` : `${start}..${end - 1}`;
}

/** The record schema with its invariants: what is checked on write (logger) and on read (trainer). */
export const TrajectoryRecordSchema = TrajectoryFields.superRefine((record, ctx) => {
  for (const message of checkTrajectoryInvariants(record)) ctx.addIssue({ code: 'custom', message });
});

export class TrajectoryValidationError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid trajectory record: ${issues.join('; ')}`);
    this.name = 'TrajectoryValidationError';
  }
}

/** Parses and checks a record; throws TrajectoryValidationError listing every problem. */
export function parseTrajectoryRecord(input: unknown): TrajectoryRecord {
  const parsed = TrajectoryRecordSchema.safeParse(input);
  if (!parsed.success) throw new TrajectoryValidationError(formatIssues(parsed.error));
  return parsed.data;
}
