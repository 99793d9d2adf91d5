import { Hono } from 'hono';
import { answer501Unless } from './unavailable.ts';
import { z } from 'zod';
import { CURSOR_PATTERN, type TrajectoryBrowser } from '../../core/logging/browse.ts';
import { FINISH_REASONS, type TrajectoryRecord } from '../../core/schemas/trajectory.ts';
import { ApiError, badRequest } from '../errors.ts';
import type { Tokenizer } from '../models/types.ts';
import { describeIssues } from '../validation.ts';

/**
 * Read-only views of the trajectory log (what the console's trajectory browser shows):
 *   GET /v1/trajectories?since&until&checkpoint&finish_reason&min_reward&max_reward&min_tool_calls&max_tool_calls&q&limit&before
 *       → { data: [summary...], next_cursor, unreadable }, newest first
 *   GET /v1/trajectories/:id → { trajectory: <record>, tokens: [{ id, text, mask, logprob, turn }] | null, tokenizer }
 * Token texts come from the served model's tokenizer (null without a model); the ids, mask and
 * logprobs are the record's own.
 */

const number = (name: string) => z.coerce.number({ error: `${name} must be a number` }).refine(Number.isFinite, `${name} must be a finite number`);
const count = (name: string) => z.coerce.number().int(`${name} must be a whole number`).min(0, `${name} must be at least 0`);
const time = (name: string) => z.iso.datetime({ offset: true, error: `${name} must be an ISO time such as 2026-12-05T10:00:00Z` });

const ListQuery = z.strictObject({
  since: time('since').optional(),
  until: time('until').optional(),
  checkpoint: z.string().min(1).max(200).optional(),
  finish_reason: z.enum(FINISH_REASONS, { error: `finish_reason must be one of ${FINISH_REASONS.join(', ')}` }).optional(),
  min_reward: number('min_reward').optional(),
  max_reward: number('max_reward').optional(),
  min_tool_calls: count('min_tool_calls').optional(),
  max_tool_calls: count('max_tool_calls').optional(),
  q: z.string().min(1).max(500).optional(),
  limit: count('limit').min(1, 'limit must be at least 1').max(500, 'limit must be at most 500').default(50),
  before: z.string().regex(CURSOR_PATTERN, 'before must be a next_cursor from a previous page').optional(),
});

const TRAJECTORY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface TrajectoryRouteDeps {
  browser: TrajectoryBrowser | undefined;
  /** The served model's tokenizer and name, to show each token's text. */
  tokenizer: () => { tokenizer: Tokenizer; model: string } | undefined;
}

export function trajectoryRoutes(deps: TrajectoryRouteDeps): Hono {
  const app = new Hono();
  answer501Unless(app, '/v1/trajectories', deps.browser !== undefined, 'this server logs no trajectories to a store it can read (CIR_STORAGE on Node; the TRAJECTORIES binding on Workers)');
  app.get('/v1/trajectories', async (c) => {
    const parsed = ListQuery.safeParse(c.req.query());
    if (!parsed.success) throw badRequest(describeIssues(parsed.error));
    const q = parsed.data;
    const filter = {
      ...(q.since !== undefined && { since: q.since }),
      ...(q.until !== undefined && { until: q.until }),
      ...(q.checkpoint !== undefined && { checkpoint: q.checkpoint }),
      ...(q.finish_reason !== undefined && { finishReason: q.finish_reason }),
      ...(q.min_reward !== undefined && { minReward: q.min_reward }),
      ...(q.max_reward !== undefined && { maxReward: q.max_reward }),
      ...(q.min_tool_calls !== undefined && { minToolCalls: q.min_tool_calls }),
      ...(q.max_tool_calls !== undefined && { maxToolCalls: q.max_tool_calls }),
      ...(q.q !== undefined && { text: q.q }),
    };
    return c.json(await deps.browser!.list(filter, { limit: q.limit, ...(q.before !== undefined && { before: q.before }) }));
  });
  app.get('/v1/trajectories/:id', async (c) => {
    const id = c.req.param('id');
    if (!TRAJECTORY_ID.test(id)) throw badRequest(`a trajectory id is a uuid, not ${JSON.stringify(id.slice(0, 100))}`);
    const record = await deps.browser!.get(id.toLowerCase());
    if (!record) throw new ApiError(404, 'not_found', `no stored trajectory ${id} (records reach the store when their batch is sealed, within CIR_TRAJ_BATCH_MS)`);
    const decoder = deps.tokenizer();
    return c.json({ trajectory: record, tokens: decoder ? tokenView(record, decoder.tokenizer) : null, tokenizer: decoder?.model ?? null });
  });
  return app;
}

/** Each response token with its text, mask bit, logprob and the kind of turn it is in. */
function tokenView(record: TrajectoryRecord, tokenizer: Tokenizer) {
  const kinds = new Array<string>(record.response_ids.length);
  for (const turn of record.turns) kinds.fill(turn.kind, turn.start, turn.end);
  return record.response_ids.map((id, i) => ({
    id,
    text: tokenizer.decode([id]),
    mask: record.loss_mask[i]!,
    logprob: record.logprobs[i]!,
    turn: kinds[i]!,
  }));
}
