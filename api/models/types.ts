/**
 * The model runtime's contract with its callers (the reasoning loop, the trainer, the
 * `/v1/completions` route). Everything is token-in / token-out: prompts are token ids (or chat
 * messages rendered through the model's chat template), results are token ids with per-token
 * logprobs, and a running sequence is resumed from its KV cache after tool output is appended,
 * never re-tokenised.
 */

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatTemplateOptions {
  /** End with the header of an assistant turn. Default true. */
  addGenerationPrompt?: boolean;
  /**
   * Extra variables for the template, as the keyword arguments of transformers' apply_chat_template
   * (e.g. `{ enable_thinking: false }` for Qwen3).
   */
  templateVariables?: Readonly<Record<string, unknown>>;
}

/** The model's tokenizer, loaded from `tokenizer.json` + `tokenizer_config.json`. */
export interface Tokenizer {
  /** Number of ids the tokenizer knows (vocabulary plus added tokens). */
  readonly vocabSize: number;
  /** Ids of special tokens (`<|im_end|>`, ...); `decode` can skip them. */
  readonly specialTokenIds: ReadonlySet<number>;
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /** The vocabulary string of one id (byte-level form, e.g. `Ġthe`), or undefined if unknown. */
  idToToken(id: number): string | undefined;
  /** Renders messages with the model's chat template. */
  renderChat(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string;
  /** Renders and encodes messages (special tokens come from the template, none are added). */
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): number[];
}

export interface SamplingParams {
  /**
   * Softmax temperature; 0 selects greedy decoding. Default 1.
   * Logprobs are reported under this temperature (see TurnResult.logprobs).
   */
  temperature?: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability reaches top_p. Default 1 (off). */
  topP?: number;
  /** Keep only the k most likely tokens. Default 0 (off). */
  topK?: number;
}

export interface StopParams {
  /** Tokens to generate in this turn, at most. */
  maxTokens: number;
  /**
   * Strings that end the turn when the decoded text of this turn contains them. The token that
   * completes a stop string is kept in `tokenIds` (it is part of the sequence); `text` is cut
   * before the stop string unless includeStopStringInText is set.
   */
  stop?: readonly string[];
  /** Single tokens that end the turn (kept in tokenIds, like EOS). */
  stopTokenIds?: readonly number[];
  /** Token sequences that end the turn when the generated tokens of this turn end with one. */
  stopSequences?: readonly (readonly number[])[];
  /** Keep generating past the model's EOS tokens. */
  ignoreEos?: boolean;
  includeStopStringInText?: boolean;
}

export interface TurnParams extends SamplingParams, StopParams {
  /**
   * Return each generated token's logprob (TurnResult.logprobs, TokenEvent.logprob). Default
   * true. With false, a backend may leave them out (the ONNX backend does: for greedy decoding
   * they cost a pass over the vocabulary per token), and TurnResult.logprobs is then empty.
   */
  logprobs?: boolean;
  /** Also return this many most likely alternatives per generated token (0 to 20). Default 0. */
  topLogprobs?: number;
}

export type FinishReason = 'stop' | 'length';

/** Why a turn ended with finishReason 'stop'. */
export type StopCause =
  | { type: 'eos'; tokenId: number }
  | { type: 'stop_token'; tokenId: number }
  | { type: 'stop_sequence'; tokenIds: readonly number[] }
  | { type: 'stop_string'; text: string };

export interface TokenLogprob {
  tokenId: number;
  logprob: number;
}

/** What one generate call produced for one sequence. */
export interface TurnResult {
  /** Generated ids, including the EOS / stop token that ended the turn. */
  tokenIds: number[];
  /**
   * logprobs[i] = log p(tokenIds[i]) under softmax(logits / T), T the sampling temperature
   * (T = 1 for greedy): the policy's log-probability at the temperature it was sampled at,
   * before top-k/top-p truncation. This is what RL trainers recompute (verl divides logits by
   * the rollout temperature before log_softmax), so old and new log-probs agree. See
   * ModelInfo.logprobs for backends that report something else. Empty when the turn was
   * started with `logprobs: false` and the backend left them out.
   */
  logprobs: number[];
  /** Per token, the most likely alternatives (same distribution as logprobs), when asked for. */
  topLogprobs?: TokenLogprob[][];
  /** Decoded text of tokenIds (special tokens skipped), cut at a matched stop string. */
  text: string;
  finishReason: FinishReason;
  /** Set when finishReason is 'stop'. */
  stop?: StopCause;
}

/** One sampled token, as streamed to onToken. */
export interface TokenEvent {
  /** Index of the sequence within its group. */
  index: number;
  tokenId: number;
  /** Absent when the turn was started with `logprobs: false` and the backend left it out. */
  logprob?: number;
  topLogprobs?: TokenLogprob[];
  /**
   * Text this token adds to the turn's output. Text that might be the start of a stop string
   * (or an incomplete UTF-8 character) is held back and released with a later token, so the
   * concatenated deltas equal TurnResult.text.
   */
  text: string;
}

export interface RunOptions {
  signal?: AbortSignal;
  onToken?: (event: TokenEvent) => void;
}

export type Prompt = readonly number[] | { messages: readonly ChatMessage[] };

export interface GroupRequest {
  prompt: Prompt;
  /** Samples that share the prompt's prefill. Default 1. */
  n?: number;
  /** Sequence i samples from seed + i (turn t of it from turnSeed(seed + i, t), generation/rng.ts), so a group of n equals n single runs with those seeds on any backend. Random if absent. */
  seed?: number;
}

export interface GenerateRequest extends GroupRequest, TurnParams {}

export interface GenerateResult {
  promptTokenIds: number[];
  sequences: (TurnResult & { index: number })[];
  usage: { promptTokens: number; completionTokens: number };
}

/**
 * A running sequence: prompt, then turns of generated tokens, each possibly followed by
 * appended tokens (tool output). Its KV cache persists between turns (in-process backends) or
 * is re-found by the server's prefix cache (remote backends).
 */
export interface Sequence {
  readonly index: number;
  /** Every id so far: prompt, generated and appended. */
  readonly tokenIds: readonly number[];
  readonly promptLength: number;
  /** Tokens that can still be added before the context is full. */
  readonly remaining: number;
  /**
   * Appends ids (tool output) that the next turn will continue from. They get no logprobs. Throws
   * a ContextLengthError if they do not fit, and an Error while a turn is running.
   */
  append(ids: readonly number[]): void;
  /**
   * Generates one turn; resolves when a stop condition hits (at once, with finishReason 'length'
   * and no tokens, if the context is already full). Rejects with the signal's reason on abort;
   * the tokens sampled before the abort stay in tokenIds, so the sequence remains usable.
   */
  generate(params: TurnParams, options?: RunOptions): Promise<TurnResult>;
  /** Releases the sequence's cache. Further calls throw. */
  dispose(): void;
}

/** n sequences sharing one prompt (one prefill). Disposing the group disposes every sequence. */
export interface SequenceGroup {
  readonly promptTokenIds: readonly number[];
  readonly sequences: readonly Sequence[];
  dispose(): void;
}

export interface ModelInfo {
  /** Name requests refer to the model by. */
  id: string;
  backend: 'onnx' | 'openai';
  /** Maximum prompt + generated tokens per sequence. */
  contextLength: number;
  /** Ids that end generation unless ignoreEos. */
  eosTokenIds: readonly number[];
  /**
   * What TurnResult.logprobs are. 'sampling': under the sampling temperature (what the ONNX
   * backend returns). 'raw': log_softmax of the raw logits (vLLM's default logprobs mode);
   * 'processed': after temperature and top-k/top-p (vLLM's --logprobs-mode processed_logprobs).
   */
  logprobs: 'sampling' | 'raw' | 'processed';
  /** Largest n a request may ask for. */
  maxN: number;
}

export interface ModelBackend {
  readonly info: ModelInfo;
  readonly tokenizer: Tokenizer;
  /** One-shot: a group of n samples, one turn each. */
  generate(request: GenerateRequest, options?: RunOptions): Promise<GenerateResult>;
  /** Starts n sequences on one prompt for multi-turn use (continuation after tool output). */
  startGroup(request: GroupRequest): SequenceGroup;
  /** Stops all work (pending turns reject) and releases every session and cache. */
  dispose(): Promise<void>;
}

/** A prompt (plus what must fit after it) is longer than the model's context. */
export class ContextLengthError extends Error {
  constructor(
    readonly requested: number,
    readonly contextLength: number,
    what = 'prompt',
  ) {
    super(`${what} needs ${requested} tokens but the model's context is ${contextLength} tokens`);
    this.name = 'ContextLengthError';
  }
}
