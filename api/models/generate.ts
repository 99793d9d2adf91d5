import type { GenerateRequest, GenerateResult, GroupRequest, Prompt, RunOptions, SequenceGroup, Tokenizer } from './types.ts';

/** A request's prompt as token ids (chat messages go through the chat template). */
export function promptTokenIds(prompt: Prompt, tokenizer: Tokenizer): number[] {
  return 'messages' in prompt ? tokenizer.applyChatTemplate(prompt.messages, { addGenerationPrompt: true }) : [...prompt];
}

export function checkN(n: number, maxN: number): void {
  if (!Number.isInteger(n) || n < 1 || n > maxN) throw new RangeError(`n must be an integer in [1, ${maxN}], got ${n}`);
}

/**
 * One-shot generation as every backend does it: a group of n sequences, one turn each, all
 * released afterwards whatever happens. Turns run concurrently, so the backend batches them.
 */
export async function generateOnce(
  startGroup: (request: GroupRequest) => SequenceGroup,
  request: GenerateRequest,
  options: RunOptions,
): Promise<GenerateResult> {
  const { prompt, n, seed, ...turn } = request;
  const group = startGroup({ prompt, n, seed });
  try {
    const results = await Promise.all(group.sequences.map((s) => s.generate(turn, options)));
    return {
      promptTokenIds: [...group.promptTokenIds],
      sequences: results.map((r, index) => ({ index, ...r })),
      usage: { promptTokens: group.promptTokenIds.length, completionTokens: results.reduce((sum, r) => sum + r.tokenIds.length, 0) },
    };
  } finally {
    group.dispose();
  }
}
