import { describe, expect, it } from 'vitest';
import { parseLatex, splitMath } from './math.ts';

describe('the console LaTeX reader', () => {
  it('splits prose into text and math, a bare \\boxed{} included', () => {
    expect(splitMath('So $x^2 = 4$ and \\boxed{\\frac{1}{2}}. It costs $5.')).toEqual([
      { kind: 'text', text: 'So ' },
      { kind: 'math', tex: 'x^2 = 4', display: false },
      { kind: 'text', text: ' and ' },
      { kind: 'math', tex: '\\boxed{\\frac{1}{2}}', display: false },
      { kind: 'text', text: '. It costs $5.' },
    ]);
    expect(splitMath('\\[a+b\\]')).toEqual([{ kind: 'math', tex: 'a+b', display: true }]);
  });

  it('reads fractions, roots, scripts, boxes, binomials and symbols; keeps unknown commands visible', () => {
    expect(parseLatex('\\frac{a}{2}')).toEqual({ kind: 'frac', num: { kind: 'mi', text: 'a' }, den: { kind: 'mn', text: '2' }, line: true });
    expect(parseLatex('x_1^{10}')).toEqual({ kind: 'script', base: { kind: 'mi', text: 'x' }, sub: { kind: 'mn', text: '1' }, sup: { kind: 'mn', text: '10' } });
    expect(parseLatex('\\sqrt[3]{8}')).toEqual({ kind: 'sqrt', body: { kind: 'mn', text: '8' }, index: { kind: 'mn', text: '3' } });
    expect(parseLatex('\\boxed{217}')).toEqual({ kind: 'boxed', body: { kind: 'mn', text: '217' } });
    expect(parseLatex('\\binom{5}{2}')).toMatchObject({ kind: 'fenced', body: { kind: 'frac', line: false } });
    expect(parseLatex('\\pi \\le 4')).toEqual({ kind: 'row', children: [{ kind: 'mi', text: 'π' }, { kind: 'mo', text: '≤' }, { kind: 'mn', text: '4' }] });
    expect(parseLatex('\\weird')).toEqual({ kind: 'mtext', text: '\\weird' });
    expect(parseLatex('\\text{mod } 7')).toEqual({ kind: 'row', children: [{ kind: 'mtext', text: 'mod ' }, { kind: 'mn', text: '7' }] });
  });
});
