import { describe, expect, it } from 'vitest';
import { extractAnswer, paperAnswers, unwrapAnswer } from './extract.ts';
import { grade } from './index.ts';
import { RESPONSE_CASES } from './response-cases.ts';

const extract = (response: string, lastNumberFallback = true, truncated?: boolean) =>
  extractAnswer(response, { lastNumberFallback, truncated });

describe('extractAnswer', () => {
  it.each([
    ['The answer is $\\boxed{42}$.', '42', 'boxed'],
    ['First \\boxed{1}, then corrected: \\boxed{2}.', '2', 'boxed'],
    ['\\boxed{\\frac{1}{2}}', '\\frac{1}{2}', 'boxed'],
    ['nested \\boxed{\\left\\{ 1, \\frac{2}{3} \\right\\}} done', '\\left\\{ 1, \\frac{2}{3} \\right\\}', 'boxed'],
    ['\\fbox{7}', '7', 'boxed'],
    ['\\boxed 5 is it', '5', 'boxed'],
    ['So $x = \\boxed{2}$ and $y = \\boxed{3}$', '2, 3', 'boxed'],
    ['\\boxed{2} and \\boxed{3}', '2, 3', 'boxed'],
    ['Earlier \\boxed{1}.\n\nMuch later the result is \\boxed{3}', '3', 'boxed'],
    ['The final answer is $\\frac{3}{4}$. I hope it is correct.', '\\frac{3}{4}', 'phrase'],
    ['Final Answer: The final answer is 12. I hope it is correct.', '12', 'phrase'],
    ['so the answer is 3.5.', '3.5', 'phrase'],
    ['**Answer:** 17', '17', 'phrase'],
    ['Answer: (B)', '(B)', 'phrase'],
    ['We have 3 apples and 4 pears.\nIn total 7 fruits.', '7', 'last_number'],
    ['Total:\n1,234 dollars', '1,234 dollars', 'last_line'],
    ['\\frac{1}{2}', '\\frac{1}{2}', 'whole'],
    ['  Evelyn  ', 'Evelyn', 'whole'],
  ])('%j → %j (%s)', (response, answer, source) => {
    expect(extract(response)).toEqual({ answer, source, truncated: false });
  });

  it.each([
    ['The total is $12$.', '12', 'math_span'],
    ['The total comes to 12 in all.', '12', 'last_number'],
    ['Final Answer: The least such $n$ is 19.', '19', 'phrase'],
    ['The answer is 42 because six times seven is forty-two.', '42', 'phrase'],
    ['The answer is $x = 1$ and $x = 3$.', 'x = 1, x = 3', 'phrase'],
    ['The answer is Evelyn Smith.', 'Evelyn Smith', 'phrase'],
    ['x = 5', 'x = 5', 'whole'],
    ['\\text{Evelyn}', '\\text{Evelyn}', 'whole'],
    ['5 \\text{ cm}', '5 \\text{ cm}', 'whole'],
    ['2abc + 3xyz', '2abc + 3xyz', 'whole'],
    ['We are done.\n\nx = 5', 'x = 5', 'last_line'],
    ['We are done.\n\n**x = 5**', 'x = 5', 'last_line'],
    ['Let $n$ be the count.\nThen $n = 5$ as claimed, and that is all', 'n = 5', 'math_span'],
    ['The roots are $x = 1$ and $x = 3$ here, both real', 'x = 1, x = 3', 'math_span'],
    ['\\boxed{2} \\quad \\text{and} \\quad \\boxed{7}', '2, 7', 'boxed'],
    ['\\boxed{x=1},\\ \\boxed{y=3}', 'x=1, y=3', 'boxed'],
    ['\\boxed{4}.\n\nRechecking, the final answer is 5.', '5', 'phrase'],
    ['so \\\\boxed{\\\\frac{1}{2}}', '\\frac{1}{2}', 'boxed'],
  ])('prose and joined answers: %j → %j (%s)', (response, answer, source) => {
    expect(extract(response)).toEqual({ answer, source, truncated: false });
  });

  it('reads a prose line whole only when it holds no math', () => {
    // No number or span: the sentence is a text answer.
    expect(extract('I think it is impossible').answer).toBe('I think it is impossible');
    // Dollar amounts are not math spans: the text between two of them is prose.
    expect(extract('It costs $5 per hour, so $40 for the day').answer).toBe('40');
  });

  it('ignores code and output blocks', () => {
    const response = [
      'Let me compute.',
      '```python',
      'print("\\\\boxed{99}")',
      '```',
      '```output',
      '\\boxed{99}',
      '```',
      'So the result is \\boxed{100}.',
    ].join('\n');
    expect(extract(response).answer).toBe('100');
    const onlyInCode = 'Compute:\n```python\nx = 5\nprint(x)\n```\n```output\n5\n```\nThe value is printed above, so we are done here today.';
    expect(extract(onlyInCode, false).answer).toBe(null);
    expect(extract('Try:\n```javascript\nconsole.log(8)\n```\n```output\n8\n```\nfinally we need more work').answer).toBe(null);
    expect(extract('<code>print(1)</code><output>1</output> hence \\boxed{2}').answer).toBe('2');
  });

  it('does not take the last number from code output', () => {
    const response = 'We count.\n```python\nprint(123)\n```\n```output\n123\n```\nHence there are 12 of them after removing duplicates.\nDone.';
    expect(extract(response).answer).toBe('12');
  });

  it('reports a truncated response without an answer', () => {
    expect(extract('Let me compute.\n```python\nfor i in range(10**9):\n    s += i\n')).toEqual({ answer: null, source: null, truncated: true });
    expect(extract('So the result is \\boxed{\\frac{1}{')).toEqual({ answer: null, source: null, truncated: true });
    expect(extract('We continue the long derivation here.\nAnd we are cut off', false, true)).toEqual({ answer: null, source: null, truncated: true });
    // An answer found before the cut is still graded.
    expect(extract('Thus \\boxed{4}. Now let me double-check:\n```python\nprint(', true).answer).toBe('4');
  });

  it('unwraps answers given directly', () => {
    expect(unwrapAnswer('\\boxed{3}')).toBe('3');
    expect(unwrapAnswer(' 3 ')).toBe('3');
  });
});

describe('responses written as models write them', () => {
  const categories = [...new Set(RESPONSE_CASES.map((c) => c.category))];
  it('has accepted and refused responses in every category', () => {
    for (const category of categories) {
      const rows = RESPONSE_CASES.filter((c) => c.category === category);
      expect(rows.some((c) => c.equal) && rows.some((c) => !c.equal), category).toBe(true);
    }
  });

  for (const category of categories) {
    it.each(RESPONSE_CASES.filter((c) => c.category === category).map((c) => [c.gold, c.pred, c.equal] as const))(
      `${category}: %j in %j → %s`,
      (gold, response, equal) => {
        const result = grade(gold, { response });
        expect(result.equal, JSON.stringify(result)).toBe(equal);
      },
    );
  }
});

describe('paperAnswers (mode cir-paper)', () => {
  it('takes the last box anywhere, code blocks included, and the last number of the last line', () => {
    const response = 'So \\boxed{3}.\n```python\nprint(r"\\boxed{4}")\n```\n```output\n\\boxed{4}\n```\nThere are 12 of them\n\n';
    expect(paperAnswers(response)).toEqual({ boxed: '4', lastLineNumber: '12' });
    expect(paperAnswers('no numbers here')).toEqual({ boxed: null, lastLineNumber: null });
  });
});

describe('grade on responses', () => {
  it('grades the extracted answer', () => {
    expect(grade('\\frac{1}{2}', { response: 'Thus $\\boxed{0.5}$' })).toMatchObject({ equal: true, extracted: '0.5' });
    expect(grade('\\frac{1}{2}', { response: 'Thus $\\boxed{0.05}$' })).toMatchObject({ equal: false, reason: 'not_equal' });
  });

  it('a truncated response is not equal, with reason truncated', () => {
    expect(grade('5', { response: 'Let me run code.\n```python\nprint(sum(range(' })).toEqual({
      equal: false,
      extracted: null,
      gold_parsed: '5',
      pred_parsed: null,
      reason: 'truncated',
    });
    expect(grade('5', { response: 'The computation goes on and on\nwithout end', truncated: true }).reason).toBe('truncated');
  });

  it('no answer at all is no_answer', () => {
    expect(grade('5', { response: 'I do not know.\nSorry, really.' }, { lastNumberFallback: false }).reason).toBe('no_answer');
    expect(grade('5', { response: '' }).reason).toBe('no_answer');
  });
});
