import { expect } from 'vitest';
import type { AttackCase, AttackTarget } from './harness.ts';

/**
 * Attacks on grading: inputs that once held the event loop for seconds to minutes (exact arithmetic
 * on huge numbers, quadratic extraction on long responses), through /v1/grade (single and batch)
 * and /v1/solve with such a gold. Grading runs in the server's pool with a hard deadline, so each
 * gets a verdict within its bound and /healthz answers throughout.
 */

/** A verdict must come within this (a grading's timeout plus the pool's grace, with room for a loaded machine). */
const VERDICT_BOUND_MS = 8_000;

async function post(target: AttackTarget, path: string, body: unknown): Promise<{ status: number; json: any; ms: number }> {
  const started = performance.now();
  const response = await fetch(`${target.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, json: await response.json(), ms: performance.now() - started };
}

const gradeAttack = (name: string, body: unknown): AttackCase => ({
  name,
  async run(target) {
    const { status, json, ms } = await post(target, '/v1/grade', body);
    expect(status).toBe(200);
    expect(ms).toBeLessThan(VERDICT_BOUND_MS);
    const results = 'results' in json ? json.results : [json];
    const reasons = [...new Set(results.map((r: { reason: string }) => r.reason))];
    return `200 in ${ms.toFixed(0)} ms: ${results.length > 1 ? `${results.length} verdicts, ` : ''}${reasons.join(', ')}`;
  },
});

const HUGE_BINOMIAL = '\\binom{10^{9}}{5 \\cdot 10^{8}}';
const HUGE_FRACTIONS = Array.from({ length: 40 }, (_, i) => `\\frac{1}{${i + 2}^{${300 + i}}}`).join('+');

export const GRADING_ATTACKS: AttackCase[] = [
  gradeAttack('grade: a huge binomial against a number', { gold: HUGE_BINOMIAL, answer: '12345' }),
  gradeAttack('grade: a sum of fractions with huge denominators', { gold: HUGE_FRACTIONS, answer: '1' }),
  gradeAttack('grade: 150 KB of newlines as a response', { gold: '7', response: '\n'.repeat(150_000) }),
  gradeAttack('grade: 150 KB of unclosed \\boxed{ as a response', { gold: '7', response: '\\boxed{'.repeat(20_000) }),
  gradeAttack('grade: a batch of 200 huge binomials', { items: Array.from({ length: 200 }, (_, i) => ({ gold: HUGE_BINOMIAL, answer: String(i) })) }),
  {
    name: 'solve: a huge binomial as the gold answer',
    async run(target) {
      const { status, json, ms } = await post(target, '/v1/solve', { problem: 'What is 2 + 2?', gold: HUGE_BINOMIAL, max_tokens: 24, temperature: 0 });
      expect(status).toBe(200);
      expect(ms).toBeLessThan(VERDICT_BOUND_MS + 20_000);
      expect(json.samples[0].correct).toBe(false);
      return `200 in ${ms.toFixed(0)} ms, graded ${json.samples[0].correct ? 'correct' : 'incorrect'}`;
    },
  },
];
