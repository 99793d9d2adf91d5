import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { boundedRecord } from '../../core/schemas/bounded.ts';
import { ApiError } from '../errors.ts';
import type { SolveEvent, SolveResult } from '../reasoning/index.ts';
import { readJson } from '../validation.ts';
import { holdingServed, precheckSolve, requireServed, runSolve, sampleJson, type ReasoningRouteDeps } from './reasoning.ts';

/**
 * `POST /v1/solve`: one problem, n code-integrated reasoning samples. JSON with every sample's
 * transcript (segments: text / code / output), final answer, correctness when `gold` is given,
 * usage, tool-call statistics and trajectory id; or, with `stream: true`, Server-Sent Events:
 * `segment` ({ sample, segment }) as each piece of a transcript completes, `sample` when a sample
 * is done, then `done` (the summary without the samples) or `error`.
 */

/** Tags are copied into every trajectory of the solve: a few labels, not a payload. */
const MAX_TAGS = 64;

function solveBody(settings: ReasoningRouteDeps['settings']) {
  return z.strictObject({
    problem: z
      .string({ error: 'problem must be a string' })
      .refine((p) => p.trim() !== '', 'problem must not be empty')
      .refine((p) => p.length <= settings.maxProblemChars, `problem must be at most ${settings.maxProblemChars} characters`),
    gold: z.string().max(10_000, 'gold must be at most 10000 characters').optional(),
    n: z.number().int().min(1, 'n must be at least 1').max(settings.maxN, `n must be at most ${settings.maxN}`).optional(),
    max_tool_calls: z
      .number()
      .int()
      .min(0, 'max_tool_calls must be at least 0')
      .max(settings.maxToolCalls, `max_tool_calls must be at most ${settings.maxToolCalls} (the server cap)`)
      .optional(),
    temperature: z.number().min(0).max(10).optional(),
    top_p: z.number().gt(0).max(1).optional(),
    max_tokens: z.number().int().min(1, 'max_tokens must be at least 1').optional(),
    max_tokens_per_turn: z.number().int().min(1, 'max_tokens_per_turn must be at least 1').optional(),
    tool_timeout_ms: z.number().int().min(1, 'tool_timeout_ms must be at least 1').optional(),
    seed: z.number().int().optional(),
    stream: z.boolean().optional(),
    tags: boundedRecord(z.string().max(1_000), MAX_TAGS).optional(),
  });
}

/** The response body of a finished solve (also what `cir solve` prints). */
export function solveResultJson(result: SolveResult) {
  return { ...summaryJson(result), samples: result.samples.map(sampleJson) };
}

function summaryJson(result: SolveResult) {
  return {
    id: result.requestId,
    object: 'solve',
    model: result.model,
    checkpoint_version: result.checkpointVersion,
    group_id: result.groupId,
    tool_budget: result.toolBudget,
    tool_timeout_ms: result.toolTimeoutMs,
    prompt_tokens: result.promptTokens,
  };
}

export function solveRoutes(deps: ReasoningRouteDeps): Hono {
  const Body = solveBody(deps.settings);
  return new Hono().post('/v1/solve', async (c) => {
    const served = requireServed(deps);
    const body = await readJson(c, Body);
    const request = {
      problem: body.problem,
      ...(body.gold !== undefined && { gold: body.gold }),
      ...(body.n !== undefined && { n: body.n }),
      ...(body.max_tool_calls !== undefined && { maxToolCalls: body.max_tool_calls }),
      ...(body.temperature !== undefined && { temperature: body.temperature }),
      ...(body.top_p !== undefined && { topP: body.top_p }),
      ...(body.max_tokens !== undefined && { maxTokens: body.max_tokens }),
      ...(body.max_tokens_per_turn !== undefined && { maxTokensPerTurn: body.max_tokens_per_turn }),
      ...(body.tool_timeout_ms !== undefined && { toolTimeoutMs: body.tool_timeout_ms }),
      ...(body.seed !== undefined && { seed: body.seed }),
      ...(body.tags !== undefined && { tags: body.tags }),
    };

    if (!body.stream) {
      const result = await runSolve(c, deps, served, request);
      return c.json(solveResultJson(result));
    }

    precheckSolve(deps, served, request);
    return streamSSE(c, (stream) => holdingServed(deps, async () => {
      const controller = new AbortController();
      stream.onAbort(() => controller.abort());
      // Events arrive synchronously from the loop; writes are chained to keep their order.
      let writes = Promise.resolve();
      const send = (event: string, payload: unknown) => {
        writes = writes.then(() => stream.writeSSE({ event, data: JSON.stringify(payload) })).catch(() => undefined);
      };
      const onEvent = (e: SolveEvent) => {
        if (e.type === 'segment') send('segment', { sample: e.sample, segment: e.segment });
        else if (e.type === 'sample') send('sample', sampleJson(e.sample));
      };
      try {
        const result = await runSolve(c, deps, served, request, { onEvent, signal: controller.signal });
        send('done', summaryJson(result));
      } catch (error) {
        if (!stream.aborted) {
          const apiError = error instanceof ApiError ? error : new ApiError(500, 'internal', 'internal server error');
          if (!(error instanceof ApiError)) console.error('solve stream failed', error);
          send('error', { error: { type: apiError.type, message: apiError.message } });
        }
      }
      await writes;
    }));
  });
}
