import { describe, expect, it } from 'vitest';
import golds from './fixtures/benchmark-golds.json' with { type: 'json' };
import { grade } from './index.ts';

/**
 * Every distinct gold answer of the benchmark sets in shared/data/benchmarks (GSM8K sampled),
 * copied as a fixture: each must parse and grade equal to itself and to rewrites a model could produce.
 */
const REWRITES: [string, (gold: string) => string | undefined][] = [
  ['itself', (g) => g],
  ['in $...$', (g) => `$${g}$`],
  ['\\dfrac', (g) => g.replace(/\\frac/g, '\\dfrac')],
  ['a/b for \\frac{a}{b}', (g) => (/\d\s*\\frac/.test(g) ? undefined : g.replace(/\\frac\{([^{}]*)\}\{([^{}]*)\}/g, '(($1)/($2))'))],
  ['without \\left \\right', (g) => g.replace(/\\left|\\right/g, '')],
  ['* for \\cdot and \\times', (g) => g.replace(/\\cdot|\\times/g, '*')],
  ['spaces removed after non-letters', (g) => g.replace(/(?<![A-Za-z]) +/g, '')],
  ['thousands separators', (g) => (/^\d{4,}$/.test(g) ? g.replace(/\B(?=(\d{3})+(?!\d))/g, ',') : undefined)],
  ['list reversed', (g) => (/^[^()[\]{}$\\]*,[^()[\]{}$\\]*$/.test(g) && !/^\d{1,3}(,\d{3})+$/.test(g) ? g.split(',').reverse().join(', ') : undefined)],
];

describe.each(Object.entries(golds))('%s golds', (_source, answers) => {
  it.each(REWRITES)('grade equal to %s', (_name, rewrite) => {
    const failures = answers.flatMap((gold) => {
      const pred = rewrite(gold);
      if (pred === undefined) return [];
      const result = grade(gold, { answer: pred });
      return result.equal && result.gold_parsed !== null ? [] : [{ gold, pred, reason: result.reason }];
    });
    expect(failures).toEqual([]);
  });

  it('grade equal inside a code-integrated response', () => {
    const failures = answers.filter((gold) => {
      const response = `Let me check with code.\n\`\`\`python\nprint(1)\n\`\`\`\n\`\`\`output\n1\n\`\`\`\nTherefore the final answer is $\\boxed{${gold}}$.`;
      return !grade(gold, { response }).equal;
    });
    expect(failures).toEqual([]);
  });
});
