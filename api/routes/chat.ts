import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { ApiError, badRequest } from '../errors.ts';
import type { ChatMessage } from '../models/types.ts';
import type { SampleFinishReason, SampleResult, SolveEvent, SolveRequest, SolveResult } from '../reasoning/index.ts';
import { readJson } from '../validation.ts';
import { holdingServed, precheckSolve, requireServed, runSolve, type ReasoningRouteDeps } from './reasoning.ts';

/**
 * OpenAI-compatible `POST /v1/chat/completions` with a built-in code interpreter: the server runs
 * the ```python / ```javascript blocks the model writes, as /v1/solve does, and each choice's
 * `content` is the whole response exactly as the model saw it, executed blocks and ```output
 * blocks included. Streaming sends content deltas as the model writes and as outputs are appended.
 * Beyond OpenAI's fields: `max_tool_calls` in the request; a `cir` object in the response (and in
 * the last streamed chunk) with per-choice final answers, tool-call counts and trajectory ids.
 */

/** Bounds that fail a huge body fast (zod checks an array's length before its elements) and no real conversation reaches. */
const MAX_MESSAGES = 1024;
const MAX_CONTENT_PARTS = 256;

const TextPart = z.strictObject({ type: z.literal('text', 'only text content parts are supported'), text: z.string() });

const Message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant'], 'role must be system, developer, user or assistant (tool messages are not supported: the server runs code itself)'),
  content: z.union([z.string(), z.array(TextPart).max(MAX_CONTENT_PARTS)], 'content must be a string or an array of text parts'),
});

const unsupported = (field: string) =>
  z.unknown().refine((v) => v === null || v === undefined || (Array.isArray(v) && v.length === 0), `${field} is not supported: the server runs code blocks itself`).optional();

function chatBody(settings: ReasoningRouteDeps['settings']) {
  return z.looseObject({
    model: z.string().nullish(),
    messages: z.array(Message).min(1, 'messages must not be empty').max(MAX_MESSAGES, `at most ${MAX_MESSAGES} messages`),
    n: z.number().int().min(1, 'n must be at least 1').max(settings.maxN, `n must be at most ${settings.maxN}`).nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().gt(0).max(1).nullish(),
    max_tokens: z.number().int().min(1, 'max_tokens must be at least 1').nullish(),
    max_completion_tokens: z.number().int().min(1, 'max_completion_tokens must be at least 1').nullish(),
    seed: z.number().int().nullish(),
    stream: z.boolean().nullish(),
    stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
    max_tool_calls: z
      .number()
      .int()
      .min(0, 'max_tool_calls must be at least 0')
      .max(settings.maxToolCalls, `max_tool_calls must be at most ${settings.maxToolCalls} (the server cap)`)
      .nullish(),
    stop: z.unknown().refine((v) => v === null || v === undefined, 'stop is not supported: turns end where code blocks close and at end of text').optional(),
    logprobs: z.literal(false, 'logprobs are not supported here (use /v1/completions)').nullish(),
    tools: unsupported('tools'),
    tool_choice: unsupported('tool_choice'),
    functions: unsupported('functions'),
  });
}

type OpenAIFinishReason = 'stop' | 'length';

/** The loop's reasons in OpenAI's terms: running out of budget or being told to stop is a stop. */
const finishReason = (reason: SampleFinishReason): OpenAIFinishReason => (reason === 'length' ? 'length' : 'stop');

function messageText(content: string | { text: string }[]): string {
  return typeof content === 'string' ? content : content.map((p) => p.text).join('');
}

function choiceExtras(sample: SampleResult) {
  return {
    index: sample.index,
    trajectory_id: sample.trajectoryId,
    final_answer: sample.finalAnswer,
    finish_reason: sample.finishReason,
    tool_calls: { used: sample.toolCalls.used, limit: sample.toolCalls.limit, skipped: sample.toolCalls.skipped },
  };
}

function cirJson(result: SolveResult) {
  return {
    request_id: result.requestId,
    checkpoint_version: result.checkpointVersion,
    tool_budget: result.toolBudget,
    tool_timeout_ms: result.toolTimeoutMs,
    choices: result.samples.map(choiceExtras),
  };
}

function usageJson(result: SolveResult) {
  // The content is the whole response, so its tokens count whether sampled or appended output.
  const completion = result.samples.reduce((sum, s) => sum + s.usage.completionTokens + s.usage.toolTokens, 0);
  return { prompt_tokens: result.promptTokens, completion_tokens: completion, total_tokens: result.promptTokens + completion };
}

export function chatRoutes(deps: ReasoningRouteDeps): Hono {
  const Body = chatBody(deps.settings);
  return new Hono().post('/v1/chat/completions', async (c) => {
    const served = requireServed(deps);
    const body = await readJson(c, Body);
    const modelId = served.backend.info.id;
    if (body.model && body.model !== modelId) {
      throw new ApiError(404, 'not_found', `model ${JSON.stringify(body.model)} does not exist; this server serves ${JSON.stringify(modelId)}`);
    }
    const messages: ChatMessage[] = body.messages.map((m) => ({ role: m.role === 'developer' ? 'system' : m.role, content: messageText(m.content) }));
    const lastUser = messages.findLast((m) => m.role === 'user');
    if (!lastUser) throw badRequest('messages must contain a user message');
    const maxTokens = body.max_completion_tokens ?? body.max_tokens;
    const request: SolveRequest = {
      problem: lastUser.content,
      messages,
      ...(body.n != null && { n: body.n }),
      ...(body.max_tool_calls != null && { maxToolCalls: body.max_tool_calls }),
      ...(body.temperature != null && { temperature: body.temperature }),
      ...(body.top_p != null && { topP: body.top_p }),
      ...(maxTokens != null && { maxTokens }),
      ...(body.seed != null && { seed: body.seed }),
    };
    const id = `chatcmpl-${crypto.randomUUID().replaceAll('-', '')}`;
    const created = Math.floor(Date.now() / 1000);

    if (!body.stream) {
      const result = await runSolve(c, deps, served, request);
      return c.json({
        id,
        object: 'chat.completion',
        created,
        model: modelId,
        choices: result.samples.map((s) => ({
          index: s.index,
          message: { role: 'assistant', content: s.text, refusal: null },
          logprobs: null,
          finish_reason: finishReason(s.finishReason),
        })),
        usage: usageJson(result),
        cir: cirJson(result),
      });
    }

    precheckSolve(deps, served, request);
    return streamSSE(c, (stream) => holdingServed(deps, async () => {
      const controller = new AbortController();
      stream.onAbort(() => controller.abort());
      let writes = Promise.resolve();
      const send = (payload: unknown) => {
        writes = writes.then(() => stream.writeSSE({ data: typeof payload === 'string' ? payload : JSON.stringify(payload) })).catch(() => undefined);
      };
      const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
        send({ id, object: 'chat.completion.chunk', created, model: modelId, choices, ...extra });
      const opened = new Set<number>();
      const open = (index: number) => {
        if (opened.has(index)) return;
        opened.add(index);
        chunk([{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
      };
      const onEvent = (e: SolveEvent) => {
        if (e.type === 'delta') {
          open(e.sample);
          chunk([{ index: e.sample, delta: { content: e.text }, logprobs: null, finish_reason: null }]);
        } else if (e.type === 'sample') {
          open(e.sample.index);
          chunk([{ index: e.sample.index, delta: {}, logprobs: null, finish_reason: finishReason(e.sample.finishReason) }]);
        }
      };
      try {
        const result = await runSolve(c, deps, served, request, { onEvent, signal: controller.signal });
        if (body.stream_options?.include_usage) chunk([], { usage: usageJson(result), cir: cirJson(result) });
        else chunk([], { cir: cirJson(result) });
      } catch (error) {
        if (!stream.aborted) {
          const apiError = error instanceof ApiError ? error : new ApiError(500, 'internal', 'internal server error');
          if (!(error instanceof ApiError)) console.error('chat completion stream failed', error);
          send({ error: { type: apiError.type, message: apiError.message } });
        }
      }
      if (!stream.aborted) send('[DONE]');
      await writes;
    }));
  });
}
