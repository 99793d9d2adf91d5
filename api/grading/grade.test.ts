import { describe, expect, it } from 'vitest';
import { CASES } from './cases.ts';
import { grade, GRADE_REASONS } from './index.ts';

const categories = [...new Set(CASES.map((c) => c.category))];

describe('grading table', () => {
  it('has several hundred cases with near misses in every category', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(500);
    for (const category of categories) {
      const rows = CASES.filter((c) => c.category === category);
      expect(rows.some((c) => !c.equal), `${category} has no negative`).toBe(true);
    }
  });

  for (const category of categories) {
    describe(category, () => {
      it.each(CASES.filter((c) => c.category === category).map((c) => [c.gold, c.pred, c.equal] as const))(
        '%s vs %s → %s',
        (gold, pred, equal) => {
          const result = grade(gold, { answer: pred });
          expect(result.equal, JSON.stringify(result)).toBe(equal);
          expect(GRADE_REASONS).toContain(result.reason);
        },
      );
    });
  }
});

describe('reasons', () => {
  it.each([
    ['\\frac{1}{2}', '0.5', 'equal_numeric'],
    ['(a+5)(b+2)', 'ab+2a+5b+10', 'equal_symbolic'],
    ['\\{1,2\\}', '\\{2,1\\}', 'equal_set'],
    ['(1,2)', '1, 2', 'equal_tuple'],
    ['[1,2)', '[1, 2)', 'equal_interval'],
    ['k \\ge 2', '[2, \\infty)', 'equal_interval'],
    ['\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}', '\\begin{bmatrix} 1 \\\\ 2 \\end{bmatrix}', 'equal_matrix'],
    ['y = 2x + 1', '2x + 1 - y = 0', 'equal_relation'],
    ['\\text{east}', 'East', 'equal_text'],
    ['\\text{(C)}', 'C', 'equal_choice'],
    ['1/2', '1/3', 'not_equal'],
    ['\\frac{1}{2}', '\\frac{1}{2', 'parse_error'],
  ])('%s vs %s: %s', (gold, pred, reason) => {
    expect(grade(gold, { answer: pred }).reason).toBe(reason);
  });

  it('reports what it extracted and parsed', () => {
    expect(grade('\\dfrac{1}{2}', { response: 'So we get $\\boxed{0.5}$.' })).toEqual({
      equal: true,
      extracted: '0.5',
      gold_parsed: '1/2',
      pred_parsed: '0.5',
      reason: 'equal_numeric',
    });
  });

  it('is asymmetric where the gold decides the kind of answer', () => {
    // A gold choice letter accepts the letter in any dress; a gold number does not accept a letter.
    expect(grade('\\text{(B)}', { answer: '(B) 7' }).equal).toBe(true);
    expect(grade('7', { answer: '(B) 7' }).equal).toBe(false);
    // A rounded gold accepts a more precise pred, not the other way round.
    expect(grade('0.5613', { answer: '0.56128' }).equal).toBe(true);
    expect(grade('0.56128', { answer: '0.5613' }).equal).toBe(false);
  });

  it('is not fooled by decimals close to a different integer', () => {
    expect(grade('11000', { answer: '11000.5' }).equal).toBe(false);
    expect(grade('2', { answer: '2.0000001' }).equal).toBe(true); // within the 1e-6 relative tolerance
  });
});

describe('options', () => {
  it('relTol widens or narrows numeric equality', () => {
    expect(grade('3.14159', { answer: '3.1416' }).equal).toBe(false);
    expect(grade('3.14159', { answer: '3.1416' }, { relTol: 1e-4 }).equal).toBe(true);
    expect(grade('100', { answer: '100.5' }, { relTol: 1e-2 }).equal).toBe(true);
  });

  it('lastNumberFallback controls the last-number extraction', () => {
    const response = 'We add them up.\nThe total comes to 42 apples in the end.';
    expect(grade('42', { response })).toMatchObject({ equal: true, extracted: '42' });
    expect(grade('42', { response }, { lastNumberFallback: false })).toMatchObject({ equal: false, reason: 'no_answer', extracted: null });
  });

  it('points: fewer random points still decide identities', () => {
    expect(grade('(x+1)^2', { answer: 'x^2+2x+1' }, { points: 3 }).equal).toBe(true);
    expect(grade('(x+1)^2', { answer: 'x^2+x+1' }, { points: 3 }).equal).toBe(false);
  });

  it('maxAnswerLength caps what is parsed', () => {
    expect(grade('1', { answer: '1+0'.repeat(10) }, { maxAnswerLength: 10 }).reason).toBe('too_complex');
  });

  it('mode cir-paper takes the last box anywhere, code included, where math-verify ignores code', () => {
    const boxInCode = 'We verify:\n```python\nprint(r"\\boxed{7}")\n```\n```output\n\\boxed{7}\n```\nAll cases were checked above, nothing else remains.';
    expect(grade('7', { response: boxInCode })).toMatchObject({ equal: false, reason: 'no_answer' });
    expect(grade('7', { response: boxInCode }, { mode: 'cir-paper' })).toMatchObject({ equal: true, extracted: '7' });
    expect(grade('8', { response: boxInCode }, { mode: 'cir-paper' })).toMatchObject({ equal: false, extracted: '7' });
    // The last box, not a joined list.
    expect(grade('2', { response: '\\boxed{1} and \\boxed{2}' }, { mode: 'cir-paper' })).toMatchObject({ equal: true, extracted: '2' });
    expect(grade('1, 2', { response: '\\boxed{1} and \\boxed{2}' }, { mode: 'cir-paper' }).equal).toBe(false);
  });

  it('mode cir-paper also accepts the last number of the last line', () => {
    const response = 'A first attempt gives \\boxed{4}.\nCounting again case by case,\nthere are 12 of them';
    expect(grade('12', { response })).toMatchObject({ equal: false, extracted: '4' });
    expect(grade('12', { response }, { mode: 'cir-paper' })).toMatchObject({ equal: true, extracted: '12', reason: 'equal_numeric' });
    // Neither reading is equal: the box is reported.
    expect(grade('13', { response }, { mode: 'cir-paper' })).toMatchObject({ equal: false, extracted: '4', reason: 'not_equal' });
    // A number on an earlier line does not count.
    expect(grade('4', { response: 'We get 4 at first.\nThen we are done' }, { mode: 'cir-paper', lastNumberFallback: false }).equal).toBe(false);
  });

  it('mode cir-paper without a box reads as math-verify does', () => {
    expect(grade('3', { response: 'The final answer is $3$. I hope it is correct.' }, { mode: 'cir-paper' })).toMatchObject({ equal: true, extracted: '3' });
    expect(grade('3', { response: 'Let me run it.\n```python\nwhile True:' }, { mode: 'cir-paper' }).reason).toBe('truncated');
  });

  it('answers given directly grade the same in both modes', () => {
    for (const [gold, answer] of [['\\frac{1}{2}', '0.5'], ['(1,2)', '(2,1)'], ['3:5', '6:10']] as const) {
      expect(grade(gold, { answer }, { mode: 'cir-paper' })).toEqual(grade(gold, { answer }));
    }
  });

  it('an unknown mode is an error, not a grade', () => {
    expect(() => grade('1', { answer: '1' }, { mode: 'lenient' as never })).toThrow(/grading mode must be one of math-verify, cir-paper/);
  });
});
