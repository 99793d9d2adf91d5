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
});
