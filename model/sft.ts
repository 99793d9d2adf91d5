import { DEFAULT_PROMPT_TEMPLATE, promptMessages, renderPrompt, type PromptTemplate } from '../api/reasoning/prompt.ts';
import type { Tokenizer } from '../api/models/types.ts';
import type { SupervisedSequence } from '../trainer/batch/types.ts';
import type { ReferenceSolution } from './solutions/reference.ts';
import type { Problem } from './tasks/generate.ts';

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
