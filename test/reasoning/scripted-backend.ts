import { generateOnce, promptTokenIds } from '../../api/models/generate.ts';
import { resolveStops, StoppingCriteria } from '../../api/models/generation/stopping.ts';
import { IncrementalDetokenizer } from '../../api/models/tokenizer.ts';
import {
  ContextLengthError,
  type GenerateRequest,
  type GenerateResult,
  type GroupRequest,
  type ModelBackend,
  type ModelInfo,
  type RunOptions,
  type Sequence,
  type SequenceGroup,
  type Tokenizer,
  type TurnParams,
  type TurnResult,
} from '../../api/models/types.ts';

/**
 * A ModelBackend that "samples" a predetermined script over a real tokenizer, with the real
 * backend's turn semantics: stop strings are matched on the turn's decoded text by the same
 * StoppingCriteria the ONNX engine uses (the token completing a stop string is kept), EOS ends a
 * turn, appended ids are part of the sequence but never matched, and an abort rejects with the
 * signal's reason while keeping the tokens sampled so far. The loop's exact boundaries can be
 * asserted against it.
 *
 * A script is a list of pieces per sample: a string is forced text (tokenised once, emitted token
 * by token as if sampled), `{ ids }` forced ids, `{ unlessAppended }` text the model would write
 * next unless tool output is appended first (a model about to invent its own ```output block), and
 * `{ sample: k }` hands up to k tokens to an
 * inner real backend (the benchmark's way of running the real model between scripted code blocks).
 * When the script runs out the sequence emits EOS.
 */
export type ScriptPiece = string | { ids: readonly number[] } | { sample: number } | { unlessAppended: string };

export interface ScriptedBackendOptions {
  id?: string;
  contextLength?: number;
  /** A real backend for `{ sample }` pieces; its sequences receive every forced and appended id. */
  inner?: ModelBackend;
  /** Milliseconds to wait before each forced token (to cancel mid-turn in tests). */
  tokenDelayMs?: number;
  /** Log-probability reported for forced token i of a turn. */
  logprob?: (i: number) => number;
}

type Step = { kind: 'ids'; ids: number[]; dropOnAppend: boolean } | { kind: 'sample'; count: number };

export class ScriptedBackend implements ModelBackend {
  readonly info: ModelInfo;
  /** Every turn's parameters, per sample: what the loop asked for. */
  readonly turns: TurnParams[][] = [];
  /** Every append, per sample. */
  readonly appended: number[][][] = [];
  /** The sequences of the last group, to compare what they hold with what was logged. */
  sequences: readonly Sequence[] = [];

  constructor(
    readonly tokenizer: Tokenizer,
    private readonly scripts: (index: number) => readonly ScriptPiece[],
    readonly options: ScriptedBackendOptions = {},
  ) {
    const eos = options.inner?.info.eosTokenIds ?? [...tokenizer.specialTokenIds].filter((id) => tokenizer.idToToken(id) === '<|im_end|>');
    this.info = {
      id: options.id ?? 'scripted',
      backend: 'onnx',
      contextLength: options.contextLength ?? options.inner?.info.contextLength ?? 4096,
      eosTokenIds: eos,
      logprobs: 'sampling',
      maxN: 64,
    };
  }

  generate(request: GenerateRequest, options: RunOptions = {}): Promise<GenerateResult> {
    return generateOnce((r) => this.startGroup(r), request, options);
  }

  startGroup(request: GroupRequest): SequenceGroup {
    const prompt = promptTokenIds(request.prompt, this.tokenizer);
    if (prompt.length >= this.info.contextLength) throw new ContextLengthError(prompt.length + 1, this.info.contextLength);
    const n = request.n ?? 1;
    const innerGroup = this.options.inner?.startGroup({ prompt, n, ...(request.seed !== undefined && { seed: request.seed }) });
    const sequences = Array.from({ length: n }, (_, i) => {
      this.turns[i] = [];
      this.appended[i] = [];
      return new ScriptedSequence(this, i, prompt, this.steps(this.scripts(i)), innerGroup?.sequences[i]);
    });
    this.sequences = sequences;
    return {
      promptTokenIds: prompt,
      sequences,
      dispose: () => {
        for (const s of sequences) s.dispose();
        innerGroup?.dispose();
      },
    };
  }

  async dispose(): Promise<void> {}

  private steps(script: readonly ScriptPiece[]): Step[] {
    return script.map((piece) =>
      typeof piece === 'string'
        ? { kind: 'ids', ids: this.tokenizer.encode(piece, { addSpecialTokens: false }), dropOnAppend: false }
        : 'ids' in piece
          ? { kind: 'ids', ids: [...piece.ids], dropOnAppend: false }
          : 'unlessAppended' in piece
            ? { kind: 'ids', ids: this.tokenizer.encode(piece.unlessAppended, { addSpecialTokens: false }), dropOnAppend: true }
            : { kind: 'sample', count: piece.sample },
    );
  }
}

class ScriptedSequence implements Sequence {
  readonly tokens: number[];
  private running = false;
  private disposed = false;
  /** Ids the inner sequence has not been given yet. */
  private innerPending: number[] = [];

  constructor(
    private readonly backend: ScriptedBackend,
    readonly index: number,
    private readonly prompt: readonly number[],
    private readonly steps: Step[],
    private readonly inner: Sequence | undefined,
  ) {
    this.tokens = [...prompt];
  }

  get tokenIds(): readonly number[] {
    return this.tokens;
  }

  get promptLength(): number {
    return this.prompt.length;
  }

  get remaining(): number {
    return this.backend.info.contextLength - this.tokens.length;
  }

  append(ids: readonly number[]): void {
    if (this.running) throw new Error('cannot append while a turn is running');
    if (ids.length > this.remaining) throw new ContextLengthError(this.tokens.length + ids.length, this.backend.info.contextLength, 'appended tokens');
    this.tokens.push(...ids);
    this.innerPending.push(...ids);
    this.backend.appended[this.index]!.push([...ids]);
    while (this.steps[0]?.kind === 'ids' && this.steps[0].dropOnAppend) this.steps.shift();
  }

  async generate(params: TurnParams, options: RunOptions = {}): Promise<TurnResult> {
    if (this.disposed) throw new Error('sequence has been disposed');
    if (this.running) throw new Error('a turn is already running on this sequence');
    this.backend.turns[this.index]!.push(params);
    const { tokenizer, info } = this.backend;
    const stops = resolveStops(params, info.contextLength);
    options.signal?.throwIfAborted();
    if (this.remaining <= 0) return { tokenIds: [], logprobs: [], text: '', finishReason: 'length' };
    this.running = true;
    try {
      const detokenizer = new IncrementalDetokenizer(tokenizer, this.tokens);
      const stopping = new StoppingCriteria(stops, new Set(stops.ignoreEos ? [] : info.eosTokenIds), this.remaining, () => detokenizer.flush());
      const tokenIds: number[] = [];
      const logprobs: number[] = [];
      const push = (id: number, logprob: number) => {
        this.tokens.push(id);
        tokenIds.push(id);
        logprobs.push(logprob);
        const outcome = stopping.push(id, detokenizer.push(id));
        options.onToken?.({ index: this.index, tokenId: id, logprob, text: outcome.text });
        return outcome.finish;
      };
      const done = (finish: NonNullable<ReturnType<typeof push>>): TurnResult => ({
        tokenIds,
        logprobs,
        text: stopping.finalText,
        finishReason: finish.finishReason,
        ...(finish.stop && { stop: finish.stop }),
      });
      for (;;) {
        const step = this.steps[0];
        if (step === undefined) {
          const eos = info.eosTokenIds[0];
          if (eos === undefined) throw new Error('scripted backend: the script ran out and the tokenizer has no <|im_end|>');
          return done(push(eos, -0.01)!);
        }
        if (step.kind === 'ids') {
          while (step.ids.length > 0) {
            if (this.backend.options.tokenDelayMs) await new Promise((r) => setTimeout(r, this.backend.options.tokenDelayMs));
            if (options.signal?.aborted) throw options.signal.reason;
            const id = step.ids.shift()!;
            this.innerPending.push(id);
            const finish = push(id, this.backend.options.logprob?.(tokenIds.length) ?? -0.1 - (tokenIds.length % 7) / 10);
            if (step.ids.length === 0) this.steps.shift();
            if (finish) return done(finish);
          }
          continue;
        }
        // Real sampling for up to step.count tokens, under this turn's stop strings.
        const inner = this.inner;
        if (!inner) throw new Error('scripted backend: a { sample } piece needs options.inner');
        if (this.innerPending.length > 0) inner.append(this.innerPending.splice(0));
        const budget = Math.min(step.count, stops.maxTokens - tokenIds.length);
        // The inner sequence already holds its tokens: all of them are replayed here, under this turn's stopping criteria.
        const result = await inner.generate({ ...params, maxTokens: Math.max(1, budget) }, { ...(options.signal && { signal: options.signal }) });
        step.count -= result.tokenIds.length;
        if (step.count <= 0) this.steps.shift();
        let finish: ReturnType<typeof push> | undefined;
        for (let i = 0; i < result.tokenIds.length; i++) finish = push(result.tokenIds[i]!, result.logprobs[i]!) ?? finish;
        if (finish) return done(finish);
        if (result.finishReason === 'stop') return done({ finishReason: 'stop', ...(result.stop && { stop: result.stop }) });
      }
    } finally {
      this.running = false;
    }
  }

  dispose(): void {
    this.disposed = true;
  }
}
