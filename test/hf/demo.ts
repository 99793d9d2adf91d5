/**
 * A "user's checkpoint" for the end-to-end test: the tiny random Qwen2 fixture fine-tuned (by
 * make_fixture.py --sft) on solutions in the reasoning loop's protocol, so that served through /v1/solve it
 * writes a ```python block, reads the ```output the loop appends, and boxes the result. The training
 * sequences are built from the loop's own prompt renderer, fence scanner and output formatter, token by
 * token as a rollout would produce them.
 *
 * The first problem has two solutions in the data (one right, one wrong), so sampled groups have mixed
 * rewards and an RL step has a signal to learn from.
 */
import type { Tokenizer } from '../../api/models/types.ts';
import { continuationAfterFence } from '../../api/reasoning/feedback.ts';
import { scanFences } from '../../api/reasoning/fences.ts';
import { DEFAULT_PROMPT_TEMPLATE, promptMessages, renderPrompt } from '../../api/reasoning/prompt.ts';

export interface DemoProblem {
  problem: string;
  gold: string;
  solutions: { code: string; output: string }[];
}

export const DEMO_PROBLEMS: DemoProblem[] = [
  {
    problem: 'What is 12 times 34?',
    gold: '408',
    solutions: [
      { code: 'print(12 * 34)', output: '408' },
      { code: 'print(12 + 34)', output: '46' },
    ],
  },
  { problem: 'What is 7 squared?', gold: '49', solutions: [{ code: 'print(7 ** 2)', output: '49' }] },
];

/** One solution as a training sequence: prompt (mask 0), the code up to the token closing its fence (1), the loop's output block (0), the boxed answer and EOS (1). */
function demoSequence(tokenizer: Tokenizer, eos: number, problem: DemoProblem, solution: DemoProblem['solutions'][number]): { ids: number[]; mask: number[] } {
  const prompt = renderPrompt(tokenizer, promptMessages(DEFAULT_PROMPT_TEMPLATE, { problem: problem.problem }));
  const code = tokenizer.encode(`\`\`\`python\n${solution.code}\n\`\`\``, { addSpecialTokens: false });
  // Where generation stops: the first token after which the fence scanner sees the block closed.
  let stop = 0;
  let tail = '';
  while (stop < code.length) {
    const text = tokenizer.decode(code.slice(0, ++stop));
    const event = scanFences(text).event;
    if (event?.type === 'code') {
      tail = text.slice(event.end);
      break;
    }
  }
  const generated = code.slice(0, stop);
  const output = tokenizer.encode(continuationAfterFence(tail, solution.output), { addSpecialTokens: false });
  const answer = [...tokenizer.encode(`\\boxed{${solution.output}}`, { addSpecialTokens: false }), eos];
  return {
    ids: [...prompt, ...generated, ...output, ...answer],
    mask: [...prompt.map(() => 0), ...generated.map(() => 1), ...output.map(() => 0), ...answer.map(() => 1)],
  };
}

export function demoSequences(tokenizer: Tokenizer, eos: number): { ids: number[]; mask: number[] }[] {
  return DEMO_PROBLEMS.flatMap((problem) => problem.solutions.map((solution) => demoSequence(tokenizer, eos, problem, solution)));
}
