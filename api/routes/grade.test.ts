import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { notFound, onError } from '../middleware/errors/index.ts';
import { gradeRoutes, type GradeRouteOptions } from './grade.ts';

/** The routes behind the app's error handler, as createApp mounts them. */
function makeApp(options?: GradeRouteOptions) {
  const app = new Hono();
  app.onError(onError(() => {}));
  app.notFound(notFound);
  app.route('/', gradeRoutes(options));
  return app;
}

const post = (body: unknown, options?: GradeRouteOptions) =>
  makeApp(options).request('/v1/grade', {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });

describe('POST /v1/grade', () => {
  it('grades an extracted answer', async () => {
    const res = await post({ gold: '\\frac{1}{2}', answer: '0.5' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ equal: true, extracted: '0.5', gold_parsed: '1/2', pred_parsed: '0.5', reason: 'equal_numeric' });
  });

  it('extracts the answer from a response', async () => {
    const res = await post({ gold: '[1,2)', response: 'Solving gives $\\boxed{[1,2]}$.' });
    expect(await res.json()).toMatchObject({ equal: false, extracted: '[1,2]', reason: 'not_equal' });
  });

  it('reports truncation', async () => {
    const res = await post({ gold: '3', response: 'Let me compute\n```python\nwhile True:', truncated: true });
    expect(await res.json()).toMatchObject({ equal: false, extracted: null, reason: 'truncated' });
  });

  it('applies options', async () => {
    const strict = await (await post({ gold: '3.14159', answer: '3.1416' })).json();
    const loose = await (await post({ gold: '3.14159', answer: '3.1416', options: { rel_tol: 1e-4 } })).json();
    expect([strict.equal, loose.equal]).toEqual([false, true]);
    const noFallback = await (await post({ gold: '7', response: 'We find it.\nIt is 7 in total here.', options: { last_number_fallback: false } })).json();
    expect(noFallback.reason).toBe('no_answer');
  });

  it('grades in the mode asked for', async () => {
    const response = 'A first attempt gives \\boxed{4}.\nCounting again,\nthere are 12 of them';
    expect(await (await post({ gold: '12', response })).json()).toMatchObject({ equal: false, extracted: '4' });
    expect(await (await post({ gold: '12', response, options: { mode: 'math-verify' } })).json()).toMatchObject({ equal: false });
    expect(await (await post({ gold: '12', response, options: { mode: 'cir-paper' } })).json()).toMatchObject({ equal: true, extracted: '12' });
    const { results } = await (await post({ items: [{ gold: '12', response }, { gold: '12', response, options: { mode: 'math-verify' } }], options: { mode: 'cir-paper' } })).json();
    expect(results.map((r: { equal: boolean }) => r.equal)).toEqual([true, false]);
  });

  it('grades a batch, with shared and per-item options', async () => {
    const res = await post({
      items: [
        { gold: '1/2', answer: '0.5' },
        { gold: '\\{1,2\\}', answer: '\\{2,1\\}' },
        { gold: '(1,2)', answer: '(2,1)' },
        { gold: '100', answer: '100.5', options: { rel_tol: 0.01 } },
      ],
      options: { timeout_ms: 500 },
    });
    expect(res.status).toBe(200);
    const { results } = await res.json();
    expect(results.map((r: { equal: boolean }) => r.equal)).toEqual([true, true, false, true]);
  });

  it('gives items past the batch budget reason timeout', async () => {
    const items = Array.from({ length: 5 }, () => ({ gold: '1', answer: '1' }));
    const { results } = await (await post({ items }, { batchBudgetMs: 0 })).json();
    expect(results.map((r: { reason: string }) => r.reason)).toEqual(Array(5).fill('timeout'));
  });

  it.each([
    ['malformed JSON', '{"gold": ', /not valid JSON/],
    ['missing gold', { answer: '1' }, /gold/],
    ['neither response nor answer', { gold: '1' }, /exactly one of response .* or answer/],
    ['both response and answer', { gold: '1', answer: '1', response: '1' }, /exactly one of/],
    ['unknown field', { gold: '1', answer: '1', pred: '1' }, /pred/],
    ['bad option', { gold: '1', answer: '1', options: { timeout_ms: -5 } }, /options\.timeout_ms/],
    ['unknown option', { gold: '1', answer: '1', options: { tolerance: 1 } }, /tolerance/],
    ['unknown mode', { gold: '1', answer: '1', options: { mode: 'lenient' } }, /options\.mode: mode must be one of "math-verify", "cir-paper"/],
    ['mode not a string', { items: [], options: { mode: 1 } }, /options\.mode: mode must be one of/],
    ['bad batch item', { items: [{ gold: '1', answer: '1' }, { gold: 2, answer: '1' }] }, /items\.1\.gold/],
    ['items not an array', { items: 'x' }, /items/],
  ])('400 for %s', async (_name, body, message) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    const json = await res.json();
    expect(json.error.type).toBe('invalid_request');
    expect(json.error.message).toMatch(message);
  });

  it('400 for a batch over the limit', async () => {
    const items = Array.from({ length: 3 }, () => ({ gold: '1', answer: '1' }));
    const res = await post({ items }, { maxBatch: 2 });
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toMatch(/at most 2 items/);
  });
});
