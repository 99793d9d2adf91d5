import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../api/models/generation/rng.ts';
import { continuationAfterFence } from '../../api/reasoning/feedback.ts';
import { scanFences } from '../../api/reasoning/fences.ts';
import { createQuickJSNodeExecutor } from '../../api/sandbox/quickjs/node.ts';
import type { Executor } from '../../api/sandbox/types.ts';
import { drawStyle, mixTypes, ReferenceSolver, SOLUTION_STYLES, type SolutionStyle } from '../../model/solutions/reference.ts';
import { TASK_KINDS } from '../../model/tasks/kinds.ts';
import { generateProblems } from '../../model/tasks/generate.ts';
import { Draw } from '../../model/tasks/random.ts';

/**
 * Reference solutions run in the real QuickJS sandbox (the Node executor the API uses) and are
 * laid out exactly as the rollout loop builds transcripts.
 */

let executor: Executor;
let solver: ReferenceSolver;

beforeAll(() => {
  executor = createQuickJSNodeExecutor({ threads: 1 });
  solver = new ReferenceSolver(executor);
});

afterAll(async () => {
  await executor.dispose();
});

describe('reference solutions', () => {
  it('clean solutions run in the sandbox, print the gold and grade correct, for every kind and level', async () => {
    const problems = TASK_KINDS.flatMap((k) => generateProblems({ split: 'rl', count: 6, seed: 11, kinds: [k.name] }));
    const draw = new Draw(new Rng(1));
    for (const p of problems) {
      const s = await solver.solve(p, 'clean', draw);
      expect(s.correct, p.id).toBe(true);
      expect(s.toolCalls).toBe(1);
      const output = s.segments.find((x) => x.type === 'output')!;
      expect(output.text).toBe(`\n\`\`\`output\n${p.answer}\n\`\`\`\n`);
      expect(s.text.endsWith(`\\boxed{${p.answer}}.`)).toBe(true);
    }
  });

  it('follows the loop protocol: the model turn ends on the closing fence, the loop appends the output block', async () => {
    const [p] = generateProblems({ split: 'warmstart', count: 1, seed: 2, kinds: ['power_mod'] });
    const s = await solver.solve(p!, 'recover', new Draw(new Rng(0)));
    expect(s.segments.map((x) => x.type)).toEqual(['text', 'code', 'output', 'text', 'code', 'output', 'text']);
    let modelText = '';
    for (const segment of s.segments) {
      if (segment.type === 'output') {
        // What the loop sees at the end of the model's turn: a closed javascript block, and what it appends.
        const scan = scanFences(modelText);
        expect(scan.event?.type).toBe('code');
        expect(scan.event!.end).toBe(modelText.length);
        const body = segment.text.slice('\n```output\n'.length, -'\n```\n'.length);
        expect(segment.text).toBe(continuationAfterFence('', body));
        modelText = '';
      } else {
        modelText += segment.text;
      }
    }
    expect(s.segments[2]!.text).toMatch(/TypeError/);
    expect(s.toolCalls).toBe(2);
    expect(s.correct).toBe(true);
  });

  it('bug solutions box what the buggy code printed, and most of them are graded wrong', async () => {
    const problems = generateProblems({ split: 'rl', count: 120, seed: 5 });
    const draw = new Draw(new Rng(2));
    let wrong = 0;
    for (const p of problems) {
      const s = await solver.solve(p, 'bug', draw);
      expect(s.bug).toBeDefined();
      const printed = s.segments.find((x) => x.type === 'output')!.text.split('\n')[2]!;
      expect(s.text.endsWith(`\\boxed{${printed}}.`)).toBe(true);
      if (!s.correct) wrong++;
    }
    expect(wrong / problems.length).toBeGreaterThan(0.6);
  });

  it('no_tools solutions run nothing: the code is refused with the loop budget message and the answer is given directly', async () => {
    const [p] = generateProblems({ split: 'warmstart', count: 1, seed: 3 });
    const s = await solver.solve(p!, 'no_tools', new Draw(new Rng(0)));
    expect(s.toolCalls).toBe(0);
    expect(s.segments[2]!.text).toMatch(/^\n```output\nCode not executed: the tool budget of 0 executions is spent/);
    expect(s.correct).toBe(true);
  });

  it('falls back to clean where a style does not apply', async () => {
    // prime_count code has no BigInt literal to break.
    expect(mixTypes('const n = 5;')).toBeUndefined();
    const [p] = generateProblems({ split: 'warmstart', count: 1, kinds: ['prime_count'] });
    const s = await solver.solve(p!, 'recover', new Draw(new Rng(0)));
    expect(s.style).toBe('clean');
    expect(s.toolCalls).toBe(1);
  });

  it('draws styles in proportion to the mix', () => {
    const draw = new Draw(new Rng(9));
    const counts: Record<string, number> = {};
    for (let i = 0; i < 4000; i++) {
      const s = drawStyle(draw, { clean: 0.5, bug: 0.3, recover: 0.2, no_tools: 0 });
      counts[s] = (counts[s] ?? 0) + 1;
    }
    expect(counts.no_tools).toBeUndefined();
    expect(counts.clean! / 4000).toBeCloseTo(0.5, 1);
    expect(counts.bug! / 4000).toBeCloseTo(0.3, 1);
    expect(SOLUTION_STYLES).toEqual(['clean', 'bug', 'recover', 'no_tools'] satisfies SolutionStyle[]);
  });
});
