import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onError } from '../middleware/errors/index.ts';
import { OnnxBackend } from '../models/onnx/backend.ts';
import { ensureModel } from '../../scripts/make-model.ts';
import { completionsRoutes } from './completions.ts';

let backend: OnnxBackend;
let app: Hono;

beforeAll(async () => {
  backend = await OnnxBackend.load(await ensureModel('tiny'), { id: 'tiny', maxN: 16 });
  app = new Hono();
  app.onError(onError(() => undefined));
  app.route('/', completionsRoutes(() => backend));
});

afterAll(async () => {
  await backend?.dispose();
});

const post = (body: unknown) => app.request('/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('POST /v1/completions', () => {
  it('answers in the OpenAI text_completion shape', async () => {
    const res = await post({ model: 'tiny', prompt: 'Compute 2+2.', max_tokens: 8, n: 2, temperature: 0.7, seed: 1, logprobs: 2 });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ object: 'text_completion', model: 'tiny', usage: { prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) } });
    expect(body.id).toMatch(/^cmpl-/);
    expect(body.choices).toHaveLength(2);
    for (const [i, choice] of body.choices.entries()) {
      expect(choice.index).toBe(i);
      expect(typeof choice.text).toBe('string');
      expect(['stop', 'length']).toContain(choice.finish_reason);
      const lp = choice.logprobs;
      expect(lp.tokens.length).toBe(lp.token_logprobs.length);
      expect(lp.top_logprobs).toHaveLength(lp.tokens.length);
      expect(Object.keys(lp.top_logprobs[0]).length).toBeGreaterThanOrEqual(2);
      expect(lp.text_offset[0]).toBe(0);
    }
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + body.usage.completion_tokens);
  });

  it('takes token-id prompts and returns token ids (vLLM extensions)', async () => {
    const prompt = backend.tokenizer.encode('Hello');
    const res = await post({ prompt, max_tokens: 5, temperature: 0, ignore_eos: true, logprobs: 0, return_token_ids: true, return_tokens_as_token_ids: true });
    const body = await res.json();
    const choice = body.choices[0];
    expect(choice.prompt_token_ids).toEqual(prompt);
    expect(choice.token_ids).toHaveLength(5);
    expect(choice.logprobs.tokens).toEqual(choice.token_ids.map((id: number) => `token_id:${id}`));
    const direct = await backend.generate({ prompt, maxTokens: 5, temperature: 0, ignoreEos: true });
    expect(choice.token_ids).toEqual(direct.sequences[0]!.tokenIds);
    expect(choice.text).toBe(direct.sequences[0]!.text);
  });

  it('serves several prompts, choices indexed prompt-major', async () => {
    const res = await post({ prompt: ['a', 'b'], n: 2, max_tokens: 2 });
    expect((await res.json()).choices.map((c: { index: number }) => c.index)).toEqual([0, 1, 2, 3]);
  });

  it('streams SSE chunks in OpenAI shape, ending with [DONE]', async () => {
    const res = await post({ prompt: 'Compute', max_tokens: 6, n: 2, seed: 4, stream: true, logprobs: 0, stream_options: { include_usage: true } });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = (await res.text()).split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    const usage = chunks.at(-1);
    expect(usage.choices).toEqual([]);
    expect(usage.usage.completion_tokens).toBeGreaterThan(0);
    const nonStream = await (await post({ prompt: 'Compute', max_tokens: 6, n: 2, seed: 4 })).json();
    for (const index of [0, 1]) {
      const mine = chunks.filter((c) => c.choices[0]?.index === index);
      expect(mine.every((c) => c.object === 'text_completion')).toBe(true);
      expect(mine.map((c) => c.choices[0].text).join('')).toBe(nonStream.choices[index].text);
      expect(mine.at(-1).choices[0].finish_reason).toBe(nonStream.choices[index].finish_reason);
    }
  });

  it('rejects bad requests with 400 and names the problem', async () => {
    const cases: [unknown, RegExp][] = [
      [{ prompt: 'x', n: 0 }, /n must be/],
      [{ prompt: 'x', n: 17 }, /n must be/],
      [{ prompt: 'x', max_tokens: 0 }, /max_tokens/],
      [{ prompt: new Array(250).fill(5), max_tokens: 10 }, /maximum context length is 256 tokens/],
      [{ prompt: '' }, /prompt must not be empty/],
      [{ prompt: 'x', top_p: 0 }, /top_p/],
      [{ prompt: 'x', echo: true }, /echo/],
      [{ prompt: 'x', presence_penalty: 0.5 }, /presence_penalty/],
      [{ prompt: [1, 100000] }, /outside the vocabulary/],
      [{ max_tokens: 3 }, /prompt/],
    ];
    for (const [body, message] of cases) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const json = await res.json();
      expect(json.error.type).toBe('invalid_request');
      expect(json.error.message).toMatch(message);
    }
    const wrongModel = await post({ model: 'gpt-4', prompt: 'x' });
    expect(wrongModel.status).toBe(404);
  });

  it('answers 503 when no model is configured', async () => {
    const empty = new Hono();
    empty.onError(onError(() => undefined));
    empty.route('/', completionsRoutes(() => undefined));
    const res = await empty.request('/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"x"}' });
    expect(res.status).toBe(503);
    expect((await res.json()).error.message).toMatch(/no model is configured/);
  });

  it('lists the model with its context length', async () => {
    const res = await app.request('/v1/models');
    expect(await res.json()).toMatchObject({ object: 'list', data: [{ id: 'tiny', max_model_len: 256 }] });
  });
});
