import { DEFAULT_PROMPT_TEMPLATE, promptMessages, renderPrompt, type PromptTemplate } from '../api/reasoning/prompt.ts';
import type { Tokenizer } from '../api/models/types.ts';
import type { SupervisedSequence } from '../trainer/batch/types.ts';
import type { ReferenceSolution } from './solutions/reference.ts';
import type { Problem } from './tasks/generate.ts';
import type { Draw } from './tasks/random.ts';

/**
 * Warm-start sequences for the engine's supervised step: the prompt exactly as the rollout loop
 * renders it (its prompt template through the model's chat template), then the reference
 * solution's segments encoded one by one as the loop appends them, then the end-of-turn token.
 * lossMask (per id, SupervisedSequence's convention) is 0 on the prompt and on ```output blocks,
 * 1 on the model's text, code and end-of-turn token: the same mask the loop logs for RL.
 */

export interface SftExample extends SupervisedSequence {
  ids: number[];
  lossMask: number[];
  problemId: string;
  promptLength: number;
  style: ReferenceSolution['style'];
  correct: boolean;
}

export function sftExample(
  tokenizer: Tokenizer,
  endOfTurnId: number,
  problem: Problem,
  solution: ReferenceSolution,
  template: PromptTemplate = DEFAULT_PROMPT_TEMPLATE,
): SftExample {
  const ids = renderPrompt(tokenizer, promptMessages(template, { problem: problem.text }));
  const promptLength = ids.length;
  const lossMask: number[] = new Array(promptLength).fill(0);
  for (const segment of solution.segments) {
    const segmentIds = tokenizer.encode(segment.text, { addSpecialTokens: false });
    ids.push(...segmentIds);
    for (let i = 0; i < segmentIds.length; i++) lossMask.push(segment.type === 'output' ? 0 : 1);
  }
  ids.push(endOfTurnId);
  lossMask.push(1);
  return { ids, lossMask, problemId: problem.id, promptLength, style: solution.style, correct: solution.correct };
}

/** Words the copy drills put around their numbers (the task family's own vocabulary). */
const DRILL_WORDS = ['What', 'is', 'times', 'the', 'sum', 'of', 'Compute', 'mod', 'and', 'power', 'Find', 'gcd', 'up', 'to', 'Add', 'numbers', 'How', 'many', 'from', 'divisible', 'by'];

/**
 * An auxiliary warm-start sequence that teaches copying alone: a short user message of one to
 * three numbers below 1000 (one token each), each after a task word, answered by a code block
 * that uses them in order. Copying numbers (question → code, tool output → \boxed{}) is the one
 * skill no template supplies, and in the solutions it is a few tokens in ~200 with the source
 * ~50 tokens back: trained on solutions alone (or with drills over whole problems), this model
 * did not learn it in 300-700 steps; on these drills the copy forms in ~175 (README.md "Copy
 * drills") and then serves the solutions.
 */
export function copyDrill(tokenizer: Tokenizer, draw: Draw, template: PromptTemplate = DEFAULT_PROMPT_TEMPLATE): SupervisedSequence {
  const numbers = Array.from({ length: draw.int(1, 3) }, () => String(draw.sized(1, 3)));
  const text = `${numbers.map((n) => `${draw.pick(DRILL_WORDS)} ${n}`).join(' ')}?`;
  const ids = renderPrompt(tokenizer, promptMessages(template, { problem: text }));
  const lossMask: number[] = new Array(ids.length).fill(0);
  const response = tokenizer.encode(`\`\`\`javascript\nconsole.log(${numbers.map((n) => `${n}n`).join(' * ')});\n\`\`\``, { addSpecialTokens: false });
  ids.push(...response);
  lossMask.push(...response.map(() => 1));
  return { ids, lossMask };
}
