import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { noModelMessage } from '../checkpoints/status.ts';
import { ApiError, badRequest } from '../errors.ts';
// Imported from the leaf modules, not models/index.ts, so the Workers bundle does not pull in onnxruntime-node.
import { RemoteModelError } from '../models/openai/client.ts';
import { ContextLengthError } from '../models/types.ts';
import type { GenerateResult, ModelBackend, TokenEvent, TokenLogprob, TurnParams } from '../models/types.ts';
import { checkedArray, isTokenId } from '../../core/schemas/bounded.ts';
import { readJson } from '../validation.ts';

/**
 * OpenAI-compatible `POST /v1/completions` (and `GET /v1/models`) over the configured model,
 * with vLLM's token-level extensions: prompts as token ids, `top_k`, `stop_token_ids`,
 * `ignore_eos`, `include_stop_str_in_output`, `return_token_ids` (token_ids / prompt_token_ids
 * per choice) and `return_tokens_as_token_ids` ("token_id:N" in logprobs), so our own remote
 * backend (and vLLM clients) can use this server token-in / token-out.
 */

const MAX_STOP_STRINGS = 16;
const MAX_PROMPTS = 64;

/** Checked in one loop: 2 MB of bad ids in one array must cost one issue, not a million (core/schemas/bounded.ts). */
const tokenList = checkedArray('token ids (non-negative integers)', isTokenId, { min: 1 });
/** More stop tokens than any tokenizer has special tokens would be a mistake, or an attack. */
const MAX_STOP_TOKEN_IDS = 1024;
const zeroOnly = (name: string) => z.number().refine((v) => v === 0, `${name} is not supported (only 0)`).nullish();

const CompletionRequest = z.looseObject({
  model: z.string().nullish(),
  prompt: z.union([z.string().min(1, 'prompt must not be empty'), tokenList, z.array(z.string().min(1)).min(1).max(MAX_PROMPTS), z.array(tokenList).min(1).max(MAX_PROMPTS)], {
    error: 'prompt must be a string, an array of token ids, or an array of either',
  }),
  max_tokens: z.number().int().nullish(),
  temperature: z.number().min(0).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  /** vLLM: -1 or 0 disables. */
  top_k: z.number().int().min(-1).nullish(),
  n: z.number().int().nullish(),
  seed: z.number().int().nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(MAX_STOP_STRINGS)]).nullish(),
  stop_token_ids: checkedArray('token ids (non-negative integers)', isTokenId, { max: MAX_STOP_TOKEN_IDS }).nullish(),
  ignore_eos: z.boolean().nullish(),
  include_stop_str_in_output: z.boolean().nullish(),
  logprobs: z.number().int().min(0).max(20).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  return_token_ids: z.boolean().nullish(),
  return_tokens_as_token_ids: z.boolean().nullish(),
  echo: z.literal(false, 'echo is not supported').nullish(),
  suffix: z.unknown().refine((v) => v === null || v === undefined, 'suffix is not supported').optional(),
  skip_special_tokens: z.literal(true, 'skip_special_tokens=false is not supported').nullish(),
  presence_penalty: zeroOnly('presence_penalty'),
  frequency_penalty: zeroOnly('frequency_penalty'),
  logit_bias: z.unknown().refine((v) => v === null || v === undefined || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0), 'logit_bias is not supported').optional(),
  best_of: z.number().int().nullish(),
});
type CompletionRequest = z.infer<typeof CompletionRequest>;

interface LogprobsJson {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[] | null;
  text_offset: number[];
}

/** Seconds a client is told to wait when the model server is down or busy. */
export const MODEL_RETRY_AFTER_S = '5';

/** Maps model-runtime errors to HTTP errors; anything else is rethrown (a 500). */
export function toApiError(error: unknown): unknown {
  if (error instanceof ApiError) return error;
  if (error instanceof ContextLengthError || error instanceof RangeError) return badRequest(error.message);
  if (error instanceof RemoteModelError) {
    // Down, overloaded or timing out: the client should come back later, not wait on a hung request.
    if (error.unavailable || error.status === 429 || error.status === 503) {
      return new ApiError(503, 'overloaded', `model server unavailable: ${error.message}`, { 'Retry-After': MODEL_RETRY_AFTER_S });
    }
    if (error.status !== undefined && error.status >= 400 && error.status < 500) return badRequest(`model server rejected the request: ${error.message}`);
    return new ApiError(502, 'internal', `model server failed: ${error.message}`);
  }
  return error;
}

export function completionsRoutes(getModel: () => ModelBackend | undefined, noModel: () => ApiError = () => new ApiError(503, 'unsupported', noModelMessage())): Hono {
  const requireModel = (): ModelBackend => {
    const model = getModel();
    if (!model) throw noModel();
    return model;
  };

  return new Hono()
    .get('/v1/models', (c) => {
      const model = requireModel();
      return c.json({
        object: 'list',
        data: [{ id: model.info.id, object: 'model', created: 0, owned_by: 'cir', max_model_len: model.info.contextLength }],
      });
    })
    .post('/v1/completions', async (c) => {
      const model = requireModel();
      const body = await readJson(c, CompletionRequest);
      const { info, tokenizer } = model;
      if (body.model && body.model !== info.id) throw new ApiError(404, 'not_found', `model ${JSON.stringify(body.model)} does not exist; this server serves ${JSON.stringify(info.id)}`);

      const prompts: number[][] =
        typeof body.prompt === 'string'
          ? [tokenizer.encode(body.prompt)]
          : typeof body.prompt[0] === 'number'
            ? [body.prompt as number[]]
            : (body.prompt as (string | number[])[]).map((p) => (typeof p === 'string' ? tokenizer.encode(p) : p));
      const n = body.n ?? 1;
      if (n < 1 || n > info.maxN) throw badRequest(`n must be in [1, ${info.maxN}], got ${n}`);
      if (prompts.length > MAX_PROMPTS || prompts.length * n > info.maxN) {
        throw badRequest(`at most ${info.maxN} completions per request (prompts x n), got ${prompts.length} x ${n}`);
      }
      if (body.best_of !== null && body.best_of !== undefined && body.best_of !== n) throw badRequest('best_of is not supported (it must equal n)');
      const maxTokens = body.max_tokens ?? 16;
      if (maxTokens < 1 || maxTokens > info.contextLength) throw badRequest(`max_tokens must be in [1, ${info.contextLength}], got ${maxTokens}`);
      for (const p of prompts) {
        if (p.length + maxTokens > info.contextLength) {
          throw badRequest(`this model's maximum context length is ${info.contextLength} tokens; the request needs ${p.length + maxTokens} (${p.length} in the prompt, ${maxTokens} to generate)`);
        }
      }

      const turn: TurnParams = {
        maxTokens,
        temperature: body.temperature ?? 1,
        topP: body.top_p ?? 1,
        topK: body.top_k && body.top_k > 0 ? body.top_k : 0,
        stop: body.stop === null || body.stop === undefined ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop,
        stopTokenIds: body.stop_token_ids ?? [],
        ignoreEos: body.ignore_eos ?? false,
        includeStopStringInText: body.include_stop_str_in_output ?? false,
        // Computed only when the response carries them.
        logprobs: body.logprobs !== null && body.logprobs !== undefined,
        topLogprobs: body.logprobs ?? 0,
      };
      const id = `cmpl-${crypto.randomUUID().replaceAll('-', '')}`;
      const created = Math.floor(Date.now() / 1000);
      const tokenString = (tokenId: number) => (body.return_tokens_as_token_ids ? `token_id:${tokenId}` : tokenizer.decode([tokenId]));
      const topJson = (top: readonly TokenLogprob[] | undefined, sampled: number, logprob: number) => {
        const entries: Record<string, number> = {};
        for (const t of top ?? []) entries[tokenString(t.tokenId)] = t.logprob;
        entries[tokenString(sampled)] ??= logprob; // like vLLM: the sampled token is always listed
        return entries;
      };
      const logprobsJson = (tokenIds: readonly number[], logprobs: readonly number[], top: readonly (readonly TokenLogprob[])[] | undefined, offset: number): LogprobsJson => {
        const tokens = tokenIds.map(tokenString);
        const textOffset: number[] = [];
        let at = offset;
        for (const t of tokens) {
          textOffset.push(at);
          at += body.return_tokens_as_token_ids ? 0 : t.length;
        }
        return {
          tokens,
          token_logprobs: [...logprobs],
          top_logprobs: body.logprobs ? tokenIds.map((tid, i) => topJson(top?.[i], tid, logprobs[i]!)) : null,
          text_offset: textOffset,
        };
      };
      const controller = new AbortController();
      const signal = AbortSignal.any([c.req.raw.signal, controller.signal]);
      const seedFor = (promptIndex: number) => (body.seed === null || body.seed === undefined ? undefined : body.seed + promptIndex * n);
      const run = (onToken?: (promptIndex: number, event: TokenEvent) => void) =>
        Promise.all(
          prompts.map((prompt, pi) =>
            model.generate({ prompt, n, seed: seedFor(pi), ...turn }, { signal, ...(onToken ? { onToken: (e: TokenEvent) => onToken(pi, e) } : {}) }),
          ),
        ).catch((error: unknown) => {
          controller.abort(); // stop the other prompts' generations
          if (c.req.raw.signal.aborted) throw new ApiError(400, 'invalid_request', 'the client closed the request');
          throw toApiError(error);
        });

      const usageOf = (results: GenerateResult[]) => {
        const promptTokens = results.reduce((s, r) => s + r.usage.promptTokens, 0);
        const completionTokens = results.reduce((s, r) => s + r.usage.completionTokens, 0);
        return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
      };
      const stopReason = (r: GenerateResult['sequences'][number]) =>
        r.stop?.type === 'stop_string' ? r.stop.text : r.stop?.type === 'stop_token' ? r.stop.tokenId : null;

      if (!body.stream) {
        const results = await run();
        return c.json({
          id,
          object: 'text_completion',
          created,
          model: info.id,
          choices: results.flatMap((result, pi) =>
            result.sequences.map((s) => ({
              index: pi * n + s.index,
              text: s.text,
              logprobs: body.logprobs === null || body.logprobs === undefined ? null : logprobsJson(s.tokenIds, s.logprobs, s.topLogprobs, 0),
              finish_reason: s.finishReason,
              stop_reason: stopReason(s),
              ...(body.return_token_ids ? { token_ids: s.tokenIds, prompt_token_ids: result.promptTokenIds } : {}),
            })),
          ),
          usage: usageOf(results),
        });
      }

      return streamSSE(c, async (stream) => {
        stream.onAbort(() => controller.abort());
        // Tokens arrive synchronously from the engine; writes are chained to keep their order.
        let writes = Promise.resolve();
        // A failed write means the client is gone; generation is aborted through onAbort.
        const sendData = (data: string) => {
          writes = writes.then(() => stream.writeSSE({ data })).catch(() => undefined);
        };
        const send = (payload: unknown) => sendData(JSON.stringify(payload));
        const chunk = (choice: Record<string, unknown>) => send({ id, object: 'text_completion', created, model: info.id, choices: [choice] });
        const offsets = new Map<number, number>();
        try {
          const results = await run((pi, e) => {
            const index = pi * n + e.index;
            const offset = offsets.get(index) ?? 0;
            offsets.set(index, offset + e.text.length);
            chunk({
              index,
              text: e.text,
              logprobs: body.logprobs === null || body.logprobs === undefined ? null : logprobsJson([e.tokenId], [e.logprob!], e.topLogprobs ? [e.topLogprobs] : undefined, offset),
              finish_reason: null,
              ...(body.return_token_ids ? { token_ids: [e.tokenId] } : {}),
            });
          });
          results.forEach((result, pi) =>
            result.sequences.forEach((s) =>
              chunk({
                index: pi * n + s.index,
                text: '',
                logprobs: null,
                finish_reason: s.finishReason,
                stop_reason: stopReason(s),
                ...(body.return_token_ids ? { token_ids: [], prompt_token_ids: result.promptTokenIds } : {}),
              }),
            ),
          );
          if (body.stream_options?.include_usage) send({ id, object: 'text_completion', created, model: info.id, choices: [], usage: usageOf(results) });
        } catch (error) {
          // A client that went away has nobody to tell; otherwise report in the stream, as vLLM does.
          if (!stream.aborted && !c.req.raw.signal.aborted) {
            const apiError = error instanceof ApiError ? error : new ApiError(500, 'internal', 'internal server error');
            if (!(error instanceof ApiError)) console.error('completion stream failed', error);
            send({ error: { type: apiError.type, message: apiError.message } });
          }
        }
        if (!stream.aborted) sendData('[DONE]');
        await writes;
      });
    });
}
