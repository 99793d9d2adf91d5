import type { ChatMessage, Tokenizer } from '../models/types.ts';

/**
 * The prompt of a code-integrated reasoning rollout, rendered through the model's own chat
 * template. The system prompt states the protocol the loop implements: code in a ```python or
 * ```javascript block runs when the block closes, its result comes back in an ```output block,
 * and the final answer goes in \boxed{}.
 */
export interface PromptTemplate {
  /** System message; null: none (for chat templates or models trained without one). */
  system: string | null;
  /** The user message for a problem. */
  user: (problem: string) => string;
  /**
   * Give a problem's user text to the model as is, without the chat template (base models, and the
   * paper's Qwen2.5-Math protocol). Conversations (messages) still go through the template.
   */
  raw?: boolean;
  /** Chat-template variables, e.g. `{ enable_thinking: false }` for Qwen3 without thinking. */
  templateVariables?: Readonly<Record<string, unknown>>;
}

export const DEFAULT_SYSTEM_PROMPT =
  'Solve the problem step by step. You may write code in a ```python or ```javascript block; ' +
  'when the block closes it is executed and its output is shown to you in an ```output block. ' +
  'Put the final answer in \\boxed{}.';

export const DEFAULT_PROMPT_TEMPLATE: PromptTemplate = {
  system: DEFAULT_SYSTEM_PROMPT,
  user: (problem) => problem,
};

/** The messages for a problem, or a conversation given as is with the system prompt put first when it has none. */
export function promptMessages(
  template: PromptTemplate,
  input: { problem: string } | { messages: readonly ChatMessage[] },
): ChatMessage[] {
  const system: ChatMessage[] = template.system === null ? [] : [{ role: 'system', content: template.system }];
  if ('messages' in input) {
    return input.messages.some((m) => m.role === 'system') ? [...input.messages] : [...system, ...input.messages];
  }
  return [...system, { role: 'user', content: template.user(input.problem) }];
}

/** Prompt token ids: the messages through the chat template, with the assistant turn opened. */
export function renderPrompt(tokenizer: Tokenizer, messages: readonly ChatMessage[], template?: PromptTemplate): number[] {
  return tokenizer.applyChatTemplate(messages, {
    addGenerationPrompt: true,
    ...(template?.templateVariables && { templateVariables: template.templateVariables }),
  });
}

/** The prompt ids of a problem or a conversation under `template` (raw templates skip the chat template for problems). */
export function promptIds(tokenizer: Tokenizer, template: PromptTemplate, input: { problem: string } | { messages: readonly ChatMessage[] }): number[] {
  // As an inference server given a plain string: special tokens the tokenizer adds (a BOS, for Llama) are added.
  if (template.raw && 'problem' in input) return tokenizer.encode(template.user(input.problem), { addSpecialTokens: true });
  return renderPrompt(tokenizer, promptMessages(template, input), template);
}
