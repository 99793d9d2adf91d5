import { describe, expect, it } from 'vitest';
import { grade } from './index.ts';

/** Every pathological input must come back quickly, not equal (unless identical), with a reason. */
function timed(gold: string, pred: { answer?: string; response?: string }, options?: Parameters<typeof grade>[2]) {
  const t = performance.now();
  const result = grade(gold, pred, options);
  return { result, ms: performance.now() - t };
}

const deep = (n: number) => `${'('.repeat(n)}x${')'.repeat(n)}`;

describe('pathological inputs', () => {
  it.each([
    ['power tower', '10^{10^{10^{10}}}', '10^{10^{10^{11}}}'],
    ['huge exponent on a variable', 'x^{99999999}', 'x^{99999998}'],
    ['9^9^9', '9^{9^{9}}', '9^{9^{9}}+1'],
    ['huge factorial', '100000!', '100001!'],
    ['huge binomial', '\\binom{1000000000}{500000000}', '\\binom{1000000000}{500000001}'],
    ['huge literal exponent', '1e99999', '1e99998'],
    ['10k-deep parentheses', 'x', deep(10_000)],
    ['100 KB sum', '1', `${'1+'.repeat(50_000)}1`],
    ['100 KB of digits', '1', '9'.repeat(100_000)],
    ['3000-item list', Array.from({ length: 3000 }, (_, i) => i).join(','), Array.from({ length: 3000 }, (_, i) => 2999 - i).join(',')],
    ['deeply nested radicals', `${'\\sqrt{'.repeat(150)}2${'}'.repeat(150)}`, `${'\\sqrt{'.repeat(150)}3${'}'.repeat(150)}`],
    ['2^30 ± combinations', Array.from({ length: 30 }, () => '\\pm 1').join(''), '0'],
    ['1500-term polynomial', Array.from({ length: 1500 }, (_, i) => `x^{${i}}`).join('+'), '1'],
    ['polynomial of degree 1000', '(x+1)^{1000}', '(x+1)^{1000}+1'],
    ['unbalanced braces', '\\frac{1}{2', '1/2'],
  ])('%s', (_name, gold, pred) => {
    const { result, ms } = timed(gold, { answer: pred });
    expect(result.equal).toBe(false);
    expect(['not_equal', 'inconclusive', 'too_complex', 'timeout', 'parse_error']).toContain(result.reason);
    expect(ms).toBeLessThan(500);
  });

  it('identical pathological answers are still recognised cheaply', () => {
    for (const s of ['10^{10^{10^{10}}}', 'x^{99999999}', deep(10_000)]) {
      const { result, ms } = timed(s, { answer: s });
      expect(result.equal).toBe(true);
      expect(ms).toBeLessThan(200);
    }
  });

  it('names that are Object methods are only names (no lookup reaches the prototype)', () => {
    for (const answer of ['\\constructor(2)', '\\toString(3)', '\\hasOwnProperty', 'constructor', '\\__proto__(1)']) {
      const result = grade('2', { answer });
      expect(result.equal, answer).toBe(false);
      expect(['not_equal', 'parse_error', 'inconclusive', 'unsupported']).toContain(result.reason);
    }
  });

  it('a deadline that has passed gives reason timeout', () => {
    const gold = Array.from({ length: 200 }, (_, i) => `(${i}, ${i + 1})`).join(',');
    const pred = Array.from({ length: 200 }, (_, i) => `(${199 - i}, ${200 - i})`).join(',');
    expect(grade(gold, { answer: pred }).equal).toBe(true);
    expect(grade(gold, { answer: pred }, { timeoutMs: 0.001 })).toMatchObject({ equal: false, reason: 'timeout' });
  });

  it('huge responses are extracted in linear time', () => {
    const unclosed = `${'The answer is \\boxed{'.repeat(3000)}${'blah '.repeat(20_000)}`;
    expect(timed('1', { response: unclosed }).ms).toBeLessThan(300);
    const long = `${'Reasoning with ```python\nprint(1)\n```\n```output\n1\n``` and \\boxed{3} '.repeat(2000)}Final \\boxed{1}`;
    const { result, ms } = timed('1', { response: long });
    expect(result.equal).toBe(true);
    expect(ms).toBeLessThan(300);
  });

  // Issue 17 measured 14 s for a 150 KB body of newlines with the quadratic regexes of the time;
  // linear extraction takes milliseconds, so a bound of a second cannot be missed by load alone.
  const KB150 = 150_000;
  const repeat = (s: string) => s.repeat(Math.ceil(KB150 / s.length));
  it.each([
    ['newlines', repeat('\n')],
    ['newlines then a letter', `${repeat('\n')}x`],
    ['spaces after an answer phrase', `The answer is 5${repeat(' ')}x`],
    ['spaces after "final answer is"', `final answer is${repeat(' ')}x`],
    ['"Answer:" lines', repeat('Answer:\n')],
    ['dollar signs', repeat('$')],
    ['dollar amounts', repeat('$5 ')],
    ['unclosed \\(', repeat('\\(')],
    ['unclosed $$', repeat('$$ ')],
    ['bare \\boxed tokens', repeat('\\boxed ')],
    ['unclosed \\boxed{', repeat('\\boxed{')],
    ['spacing between two boxes', `\\boxed{1}${repeat(' ')}x\\boxed{2}`],
    ['trailing spaces and dots', `5${repeat(' .')}x`],
    ['doubled backslashes', repeat('\\\\a')],
    ['one long word', repeat('a')],
    ['numbers', repeat('1,')],
  ])('a 150 KB response of %s is read in linear time, in both modes', (_name, response) => {
    for (const mode of ['math-verify', 'cir-paper'] as const) {
      const { result, ms } = timed('1', { response }, { mode });
      expect(result.reason).not.toBe('timeout');
      expect(ms).toBeLessThan(1000);
    }
  });

  it('normalising a 100 KB answer of spacing is linear too', () => {
    for (const answer of [`1${' '.repeat(100_000)}x`, `1${' ,'.repeat(50_000)}x`, '\\text{ }'.repeat(20_000)]) {
      expect(timed('1', { answer }, { maxAnswerLength: 200_000 }).ms).toBeLessThan(1000);
    }
  });
});
