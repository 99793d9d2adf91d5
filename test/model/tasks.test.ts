import { describe, expect, it } from 'vitest';
import { grade } from '../../api/grading/index.ts';
import { TASK_KINDS, type PhrasingSet } from '../../model/tasks/kinds.ts';
import { generateProblems, isReservedText, problemJson, SPLIT_SPECS, SPLITS } from '../../model/tasks/generate.ts';

/** The task family: seeded generation, split rules, exact golds the grader accepts. */

describe('task kinds', () => {
  it('every kind has warm-start, RL-only and held-out phrasings and at least one bug', () => {
    for (const kind of TASK_KINDS) {
      const sets = new Set<PhrasingSet>(kind.phrasings.map((p) => p.set));
      expect([...sets].sort(), kind.name).toEqual(['novel', 'rl', 'warmstart']);
      expect(kind.bugs.length, kind.name).toBeGreaterThan(0);
    }
  });

  it('computes golds exactly on hand-checked cases', () => {
    const byName = Object.fromEntries(TASK_KINDS.map((k) => [k.name, k]));
    expect(byName.product!.answer({ a: 123n, b: 987n, m: 1000n })).toBe(401n); // 121401
    expect(byName.power_mod!.answer({ a: 2n, e: 10n, m: 1000n })).toBe(24n);
    expect(byName.power_digit_sum!.answer({ a: 2n, b: 15n })).toBe(26n); // 32768
    expect(byName.factorial_digit_sum!.answer({ n: 10n })).toBe(27n); // 3628800
    expect(byName.fibonacci!.answer({ n: 10, m: 50n })).toBe(5n); // 55
    expect(byName.binomial!.answer({ n: 10n, k: 3n, m: 101n })).toBe(19n); // 120
    expect(byName.count_multiples!.answer({ limit: 100, a: 4, b: 6 })).toBe(33n); // 25 + 16 - 8
    expect(byName.gcd!.answer({ a: 84n, b: 36n })).toBe(12n);
    expect(byName.prime_count!.answer({ limit: 100 })).toBe(25n);
    expect(byName.sum_of_squares!.answer({ n: 10n, m: 1000n })).toBe(385n);
    expect(byName.sum!.answer({ xs: [100n, 200n, 300n], m: 101n })).toBe(95n); // 600
    expect(byName.power!.answer({ a: 3n, b: 40n, m: 1000n })).toBe(801n); // 12157665459056928801
  });
});

describe('generateProblems', () => {
  it('is deterministic, prefix-stable, and differs between seeds and splits', () => {
    const a = generateProblems({ split: 'warmstart', count: 50, seed: 3 });
    expect(generateProblems({ split: 'warmstart', count: 50, seed: 3 })).toEqual(a);
    expect(generateProblems({ split: 'warmstart', count: 20, seed: 3 })).toEqual(a.slice(0, 20));
    const texts = (xs: { text: string }[]) => xs.map((p) => p.text);
    expect(texts(generateProblems({ split: 'warmstart', count: 50, seed: 4 }))).not.toEqual(texts(a));
    expect(texts(generateProblems({ split: 'seen', count: 50, seed: 3 }))).not.toEqual(texts(a));
  });

  it('keeps each split to its phrasings and levels, and covers every kind', () => {
    for (const split of SPLITS) {
      const problems = generateProblems({ split, count: 400, seed: 0 });
      const spec = SPLIT_SPECS[split];
      for (const p of problems) {
        expect(spec.phrasings).toContain(p.phrasingSet);
        expect(spec.levels).toContain(p.level);
        expect(p.id.startsWith(`${split}-0-`)).toBe(true);
      }
      expect(new Set(problems.map((p) => p.kind)).size).toBe(TASK_KINDS.length);
      expect(new Set(problems.map((p) => p.level))).toEqual(new Set(spec.levels));
    }
  });

  it('never shows a novel phrasing to training splits, nor a held-out text to any training split', () => {
    const train = [...generateProblems({ split: 'warmstart', count: 5000 }), ...generateProblems({ split: 'rl', count: 5000, seed: 3 })];
    const heldout = generateProblems({ split: 'heldout', count: 2000 });
    expect(train.some((p) => p.phrasingSet === 'novel')).toBe(false);
    expect(generateProblems({ split: 'novel', count: 200 }).every((p) => p.phrasingSet === 'novel')).toBe(true);
    // Held-out texts are the reserved eighth; training splits never draw one, whatever their size or seed.
    expect(heldout.every((p) => isReservedText(p.text))).toBe(true);
    expect(train.some((p) => isReservedText(p.text))).toBe(false);
    const trainTexts = new Set(train.map((p) => p.text));
    expect(heldout.filter((p) => trainTexts.has(p.text))).toEqual([]);
    // A third of the held-out phrasings are ones only RL sees.
    const rlShare = heldout.filter((p) => p.phrasingSet === 'rl').length / heldout.length;
    expect(rlShare).toBeGreaterThan(0.25);
    expect(rlShare).toBeLessThan(0.42);
    // The warm start never sees level 3 operands; RL and the held-out split do.
    expect(generateProblems({ split: 'warmstart', count: 500 }).some((p) => p.level === 3)).toBe(false);
  });

  it('restricts kinds and levels on request and rejects bad options', () => {
    const ps = generateProblems({ split: 'rl', count: 30, kinds: ['gcd', 'power'], levels: [3] });
    expect(new Set(ps.map((p) => p.kind))).toEqual(new Set(['gcd', 'power']));
    expect(ps.every((p) => p.level === 3)).toBe(true);
    expect(() => generateProblems({ split: 'warmstart', count: 1, levels: [3] })).toThrow(/levels 1, 2; not 3/);
    expect(() => generateProblems({ split: 'nope' as never, count: 1 })).toThrow(/unknown split/);
    expect(() => generateProblems({ split: 'rl', count: 1, kinds: ['nope'] })).toThrow(/unknown task kind "nope"/);
    expect(() => generateProblems({ split: 'rl', count: -1 })).toThrow(/count/);
  });

  it('golds are exact integers that the grader accepts and that are beyond mental arithmetic', () => {
    const problems = generateProblems({ split: 'heldout', count: 300, seed: 1 });
    for (const p of problems) {
      expect(p.answer).toMatch(/^\d+$/);
      expect(grade(p.answer, { response: `So the answer is \\boxed{${p.answer}}.` }).equal).toBe(true);
      const off = (BigInt(p.answer) + 1n).toString();
      expect(grade(p.answer, { answer: off }).equal, `${p.answer} vs ${off}`).toBe(false);
    }
    // Every number in a problem and every answer is one token of the default vocabulary (below
    // 1000), and answers are spread out: no guessing them.
    for (const p of problems) {
      expect(BigInt(p.answer) < 1000n, `${p.id}: ${p.answer}`).toBe(true);
      for (const n of p.text.match(/\d+/g) ?? []) expect(Number(n), `${p.id}: ${p.text}`).toBeLessThan(1000);
    }
    const counts = new Map<string, number>();
    for (const p of problems) counts.set(p.answer, (counts.get(p.answer) ?? 0) + 1);
    expect(Math.max(...counts.values()) / problems.length).toBeLessThan(0.05);
    // JSON-safe form keeps the parameters as decimal strings.
    const json = problemJson(generateProblems({ split: 'rl', count: 1, kinds: ['product'] })[0]!);
    expect(typeof (json.params as Record<string, unknown>).a).toBe('string');
  });
});
