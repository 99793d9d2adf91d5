import { randomSeed, turnSeed } from '../generation/rng.ts';
import { resolveSampling } from '../generation/sampler.ts';
import { resolveStops } from '../generation/stopping.ts';
import { checkN, generateOnce, promptTokenIds } from '../generate.ts';
import type { HfTokenizerFiles } from '../hf-tokenizer.ts';
import { ContextLengthError } from '../types.ts';
import type {
  GenerateRequest,
  GenerateResult,
  GroupRequest,
  ModelBackend,
  ModelInfo,
  RunOptions,
  Sequence,
  SequenceGroup,
  StopCause,
  TokenLogprob,
  TurnParams,
  TurnResult,
} from '../types.ts';
import { OpenAIClient, RemoteModelError, type CompletionChoice } from './client.ts';

/**
 * A backend over an OpenAI-compatible `/v1/completions` server, kept token-in / token-out with
 * vLLM's extensions: the prompt goes as token ids, and `return_token_ids` /
 * `return_tokens_as_token_ids` bring the generated ids back, so nothing is re-tokenised.
 * A sequence's "cache" is the server's prefix cache: each turn re-sends every id so far.
 *
 * vLLM request fields used beyond OpenAI's: top_k, stop_token_ids, ignore_eos,
 * include_stop_str_in_output, skip_special_tokens, return_token_ids, return_tokens_as_token_ids.
 * Stop token *sequences* have no server-side equivalent; they are matched on the stream here
 * and the request is closed when one completes.
 */

/** What connecting needs besides the tokenizer (Node reads it from a directory: load.ts; a Worker from its bundle or R2). */
export interface OpenAIServerOptions {
  /** Base URL including the API prefix, e.g. `http://localhost:8000/v1`. */
  baseUrl: string;
  /** Model name on the server. */
  model: string;
  apiKey?: string;
  /** Default: the server's max_model_len (vLLM's /v1/models), else the model's max_position_embeddings. */
  contextLength?: number;
  /** Longest wait for a response to start, or between two stream events. Default 60 s. */
  timeoutMs?: number;
  /** Retries (after the first attempt) for network errors, timeouts, 429 and 5xx. Default 3. */
  retries?: number;
  /** Largest n per request. Default 64. */
  maxN?: number;
  /** What the server's logprobs are: vLLM reports 'raw' unless started with --logprobs-mode processed_logprobs. */
  logprobs?: ModelInfo['logprobs'];
}

export interface OpenAIConnectOptions extends OpenAIServerOptions {
  /** The served model's tokenizer (token ids in and out are in its vocabulary). */
  tokenizer: HfTokenizerFiles;
  /** config.json's max_position_embeddings: the context length when the server reports none. */
  maxPositionEmbeddings?: number;
}

const TOKEN_ID_PREFIX = 'token_id:';

function parseTokenId(token: string, url: string): number {
  const id = token.startsWith(TOKEN_ID_PREFIX) ? Number(token.slice(TOKEN_ID_PREFIX.length)) : NaN;
  if (!Number.isInteger(id) || id < 0) {
    throw new RemoteModelError(`${url} returned token ${JSON.stringify(token)} without its id: the server must support return_tokens_as_token_ids (vLLM)`);
  }
  return id;
}

class RemoteSequence implements Sequence {
  readonly tokens: number[];
  readonly promptLength: number;
  private turns = 0;
  private running = false;
  private disposed = false;

  constructor(
    private readonly backend: OpenAIBackend,
    readonly index: number,
    prompt: readonly number[],
    private readonly seed: number,
  ) {
    this.tokens = [...prompt];
    this.promptLength = prompt.length;
  }

  get tokenIds(): readonly number[] {
    return this.tokens;
  }

  get remaining(): number {
    return this.backend.info.contextLength - this.tokens.length;
  }

  append(ids: readonly number[]): void {
    if (this.disposed) throw new Error('sequence has been disposed');
    if (this.running) throw new Error('cannot append while a turn is running');
    if (ids.length > this.remaining) throw new ContextLengthError(this.tokens.length + ids.length, this.backend.info.contextLength, 'appended tokens');
    for (const id of ids) if (!Number.isInteger(id) || id < 0) throw new RangeError(`invalid token id ${id}`);
    this.tokens.push(...ids);
  }

  async generate(params: TurnParams, options: RunOptions = {}): Promise<TurnResult> {
    if (this.disposed) throw new Error('sequence has been disposed');
    if (this.running) throw new Error('a turn is already running on this sequence');
    this.running = true;
    try {
      const result = await this.backend.runTurn(this.tokens, params, turnSeed(this.seed, this.turns), this.index, options);
      this.turns++;
      this.tokens.push(...result.tokenIds);
      return result;
    } finally {
      this.running = false;
    }
  }

  dispose(): void {
    this.disposed = true;
  }
}

export class OpenAIBackend implements ModelBackend {
  private disposed = false;
  private readonly inflight = new Set<AbortController>();

  private constructor(
    readonly info: ModelInfo,
    readonly tokenizer: HfTokenizerFiles,
    private readonly client: OpenAIClient,
    private readonly model: string,
    private readonly completionsUrl: string,
  ) {}

  /** Checks that the server serves the model (and learns its context length); Web APIs only. */
  static async connect(options: OpenAIConnectOptions): Promise<OpenAIBackend> {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new Error(`invalid baseUrl ${JSON.stringify(options.baseUrl)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`baseUrl must be http(s), got ${options.baseUrl}`);
    const { tokenizer } = options;
    const client = new OpenAIClient({ baseUrl: options.baseUrl, apiKey: options.apiKey, timeoutMs: options.timeoutMs ?? 60_000, retries: options.retries ?? 3 });
    const models = await client.listModels();
    const served = models.data.find((m) => m.id === options.model);
    if (!served) throw new Error(`${options.baseUrl} does not serve model ${JSON.stringify(options.model)} (it serves: ${models.data.map((m) => m.id).join(', ') || 'nothing'})`);
    const contextLength = options.contextLength ?? served.max_model_len ?? options.maxPositionEmbeddings;
    if (!contextLength) throw new Error(`cannot tell the context length of ${options.model}: give contextLength (the server reports no max_model_len)`);
    const eos = tokenizer.eosTokenId === undefined ? [] : [tokenizer.eosTokenId];
    const info: ModelInfo = { id: options.model, backend: 'openai', contextLength, eosTokenIds: eos, logprobs: options.logprobs ?? 'raw', maxN: options.maxN ?? 64 };
    return new OpenAIBackend(info, tokenizer, client, options.model, `${options.baseUrl.replace(/\/+$/, '')}/completions`);
  }

  generate(request: GenerateRequest, options: RunOptions = {}): Promise<GenerateResult> {
    return generateOnce((r) => this.startGroup(r), request, options);
  }

  startGroup(request: GroupRequest): SequenceGroup {
    if (this.disposed) throw new Error('the model has been disposed');
    const n = request.n ?? 1;
    checkN(n, this.info.maxN);
    const prompt = promptTokenIds(request.prompt, this.tokenizer);
    if (prompt.length === 0) throw new RangeError('the prompt is empty');
    if (prompt.length >= this.info.contextLength) throw new ContextLengthError(prompt.length + 1, this.info.contextLength);
    for (const id of prompt) if (!Number.isInteger(id) || id < 0) throw new RangeError(`invalid prompt token id ${id}`);
    const seed = request.seed ?? randomSeed();
    const sequences = Array.from({ length: n }, (_, i) => new RemoteSequence(this, i, prompt, seed + i));
    return { promptTokenIds: prompt, sequences, dispose: () => sequences.forEach((s) => s.dispose()) };
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const c of this.inflight) c.abort(new Error('the model has been disposed'));
  }

  /** One completion request continuing `tokens`. */
  async runTurn(tokens: readonly number[], params: TurnParams, seed: number, index: number, options: RunOptions): Promise<TurnResult> {
    if (this.disposed) throw new Error('the model has been disposed');
    const sampling = resolveSampling(params);
    const stops = resolveStops(params, this.info.contextLength);
    const topLogprobs = params.topLogprobs ?? 0;
    if (!Number.isInteger(topLogprobs) || topLogprobs < 0 || topLogprobs > 20) throw new RangeError(`top logprobs must be an integer in [0, 20], got ${topLogprobs}`);
    const room = this.info.contextLength - tokens.length;
    if (room <= 0) return { tokenIds: [], logprobs: [], text: '', finishReason: 'length' };

    const body: Record<string, unknown> = {
      model: this.model,
      prompt: tokens,
      n: 1,
      max_tokens: Math.min(stops.maxTokens, room),
      temperature: sampling.temperature,
      top_p: sampling.topP,
      seed,
      logprobs: topLogprobs,
      ignore_eos: stops.ignoreEos,
      include_stop_str_in_output: stops.includeStopStringInText,
      skip_special_tokens: true,
      return_token_ids: true,
      return_tokens_as_token_ids: true,
    };
    if (sampling.topK > 0) body.top_k = sampling.topK;
    if (stops.stop.length > 0) body.stop = stops.stop;
    if (stops.stopTokenIds.size > 0) body.stop_token_ids = [...stops.stopTokenIds];

    const tokenIds: number[] = [];
    const logprobs: number[] = [];
    const alternatives: TokenLogprob[][] = [];
    let text = '';
    let finish: { reason: string; stopReason: string | number | null | undefined } | undefined;
    let sequenceStop: readonly number[] | undefined;
    const endsWith = (seq: readonly number[]) => seq.length <= tokenIds.length && seq.every((id, i) => tokenIds[tokenIds.length - seq.length + i] === id);

    const controller = new AbortController();
    this.inflight.add(controller);
    const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
    try {
      await this.client.streamCompletion(body, signal, (choice: CompletionChoice) => {
        const ids = this.choiceTokenIds(choice);
        const lps = choice.logprobs?.token_logprobs ?? [];
        if (lps.length !== ids.length) throw new RemoteModelError(`${this.completionsUrl} returned ${ids.length} tokens but ${lps.length} logprobs (logprobs must be supported)`);
        text += choice.text;
        ids.forEach((tokenId, i) => {
          const logprob = lps[i] ?? NaN;
          const top = topLogprobs > 0 ? this.parseTop(choice.logprobs?.top_logprobs?.[i]) : undefined;
          tokenIds.push(tokenId);
          logprobs.push(logprob);
          if (top) alternatives.push(top);
          // The chunk's text belongs with its last token.
          options.onToken?.({ index, tokenId, logprob, ...(top ? { topLogprobs: top } : {}), text: i === ids.length - 1 ? choice.text : '' });
        });
        if (choice.finish_reason) finish = { reason: choice.finish_reason, stopReason: choice.stop_reason };
        sequenceStop = stops.stopSequences.find(endsWith);
        return sequenceStop !== undefined;
      });
    } finally {
      this.inflight.delete(controller);
    }

    const result = { tokenIds, logprobs, ...(topLogprobs > 0 ? { topLogprobs: alternatives } : {}), text };
    if (sequenceStop) return { ...result, finishReason: 'stop', stop: { type: 'stop_sequence', tokenIds: sequenceStop } };
    if (!finish) throw new RemoteModelError(`${this.completionsUrl} ended the stream without a finish_reason`);
    if (finish.reason === 'length') return { ...result, finishReason: 'length' };
    if (finish.reason !== 'stop') throw new RemoteModelError(`${this.completionsUrl} finished with unsupported finish_reason ${JSON.stringify(finish.reason)}`);
    return { ...result, finishReason: 'stop', stop: this.stopCause(finish.stopReason, tokenIds) };
  }

  private choiceTokenIds(choice: CompletionChoice): number[] {
    if (choice.token_ids) return choice.token_ids;
    return (choice.logprobs?.tokens ?? []).map((t) => parseTokenId(t, this.completionsUrl));
  }

  private parseTop(top: Record<string, number> | null | undefined): TokenLogprob[] {
    return Object.entries(top ?? {})
      .map(([token, logprob]) => ({ tokenId: parseTokenId(token, this.completionsUrl), logprob }))
      .sort((a, b) => b.logprob - a.logprob);
  }

  /** vLLM's stop_reason: the stop string, the stop token id, or null for EOS. */
  private stopCause(stopReason: string | number | null | undefined, tokenIds: readonly number[]): StopCause {
    if (typeof stopReason === 'string') return { type: 'stop_string', text: stopReason };
    const last = tokenIds[tokenIds.length - 1] ?? -1;
    if (typeof stopReason === 'number' && !this.info.eosTokenIds.includes(stopReason)) return { type: 'stop_token', tokenId: stopReason };
    return { type: 'eos', tokenId: typeof stopReason === 'number' ? stopReason : last };
  }
}
