import { Rng, randomSeed, turnSeed } from '../generation/rng.ts';
import { TokenSampler, resolveSampling, type SampleRequest } from '../generation/sampler.ts';
import { StoppingCriteria, resolveStops } from '../generation/stopping.ts';
import { IncrementalDetokenizer } from '../tokenizer.ts';
import { ContextLengthError } from '../types.ts';
import type { RunOptions, Sequence, SequenceGroup, Tokenizer, TokenLogprob, TurnParams, TurnResult } from '../types.ts';
import type { DecoderSession } from './decoder-session.ts';
import { gatherRows, materialize, viewBytes, type CacheView, type KvBlock } from './kv-cache.ts';

/**
 * The generation engine: a scheduler over one DecoderSession that runs every sequence with a
 * turn in progress, whatever request or group it belongs to.
 *
 * Each loop iteration does at most one prefill forward and one decode forward:
 *  - prefill feeds a sequence's pending tokens (a prompt, or tool output appended after a
 *    turn) in chunks; fresh prompts that fit a chunk are prefilled together, left-padded; the
 *    n samples of a group share their prompt's prefill (one forward, one cache, n views);
 *  - decode feeds one token for each of up to maxBatchSize sequences at once. Rows are
 *    left-padded to a common cache length; the batch is rebuilt only when its membership
 *    changes, so a steady batch feeds each step's `present` back as the next `past` as is.
 * After each forward, every sequence with fresh logits samples its next token with its own
 * RNG and stopping criteria, so sequences finish, leave, and come back (after appending tool
 * output) independently.
 *
 * Cache positions: a sequence's `tokens` are its prompt, generated and appended ids; the first
 * `cached` of them are in its KV cache. A sampled token is pending (not cached) until the next
 * forward, which is why a stopped sequence resumes by feeding [last sampled token, ...appended].
 */

export interface EngineOptions {
  contextLength: number;
  /** Sequences decoded together per forward. */
  maxBatchSize: number;
  /** Tokens per prefill forward (bounds the logits buffer: tokens x vocab floats). */
  prefillChunk: number;
  eosTokenIds: ReadonlySet<number>;
}

export interface EngineStats {
  /** Live (not disposed) sequences. */
  sequences: number;
  /** Sequences with a turn in progress. */
  active: number;
  /** Rows in the current decode batch. */
  batchRows: number;
  /** KV-cache bytes the live sequences' views cover. */
  cacheBytes: number;
}

/** A turn in progress: its sampler, stopping criteria and what it produced so far. */
class Turn {
  readonly tokenIds: number[] = [];
  readonly logprobs: number[] = [];
  readonly topLogprobs: TokenLogprob[][] | undefined;

  constructor(
    readonly sampler: TokenSampler,
    readonly stopping: StoppingCriteria,
    /** Text as it is generated; only stop strings and streaming need it, else text is decoded once at the end. */
    readonly detokenizer: IncrementalDetokenizer | undefined,
    /** What the sampler reports besides the token (logprobs only when asked for). */
    readonly report: SampleRequest,
    readonly options: RunOptions,
    readonly resolve: (result: TurnResult) => void,
    readonly reject: (error: unknown) => void,
    /** Start order; the scheduler serves older turns first. */
    readonly order: number,
  ) {
    this.topLogprobs = report.topLogprobs > 0 ? [] : undefined;
  }
}

class EngineSequence implements Sequence {
  readonly tokens: number[];
  /** Leading tokens whose KV is in `cache`. */
  cached = 0;
  cache: CacheView | null = null;
  /** Logits predicting tokens[cached], when every token is cached and the next one is not sampled yet. */
  nextLogits: Float32Array | null = null;
  turn: Turn | null = null;
  disposed = false;
  /** False once a non-retaining sequence dropped its cache: it cannot continue. */
  continuable = true;
  /** Turns started so far; turn t samples from Rng(turnSeed(seed, t)). */
  turns = 0;

  constructor(
    private readonly engine: GenerationEngine,
    readonly group: EngineGroup,
    readonly index: number,
    prompt: readonly number[],
    readonly seed: number,
    /** Keep the cache when a turn ends (multi-turn); one-shot requests drop it. */
    readonly retain: boolean,
  ) {
    this.tokens = [...prompt];
  }

  get tokenIds(): readonly number[] {
    return this.tokens;
  }

  get promptLength(): number {
    return this.group.promptTokenIds.length;
  }

  get remaining(): number {
    return this.engine.options.contextLength - this.tokens.length;
  }

  get pending(): number {
    return this.tokens.length - this.cached;
  }

  /** Still sharing the group's prompt prefill (nothing sampled or appended yet). */
  get atPrompt(): boolean {
    return this.tokens.length === this.promptLength;
  }

  append(ids: readonly number[]): void {
    this.checkUsable();
    if (this.turn) throw new Error('cannot append while a turn is running');
    if (ids.length > this.remaining) throw new ContextLengthError(this.tokens.length + ids.length, this.engine.options.contextLength, 'appended tokens');
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.engine.vocabSize) throw new RangeError(`token id ${id} is outside the vocabulary [0, ${this.engine.vocabSize})`);
    }
    if (ids.length === 0) return;
    this.tokens.push(...ids);
    this.nextLogits = null;
  }

  generate(params: TurnParams, options: RunOptions = {}): Promise<TurnResult> {
    try {
      this.checkUsable();
      if (this.turn) throw new Error('a turn is already running on this sequence');
      return this.engine.startTurn(this, params, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.engine.release(this);
  }

  private checkUsable(): void {
    if (this.disposed) throw new Error('sequence has been disposed');
    if (!this.continuable) throw new Error('sequence cannot continue: it was created for a one-shot request');
  }
}

class EngineGroup implements SequenceGroup {
  readonly sequences: EngineSequence[];

  constructor(
    engine: GenerationEngine,
    readonly promptTokenIds: readonly number[],
    n: number,
    seed: number,
    retain: boolean,
  ) {
    this.sequences = Array.from({ length: n }, (_, i) => new EngineSequence(engine, this, i, promptTokenIds, seed + i, retain));
  }

  dispose(): void {
    for (const s of this.sequences) s.dispose();
  }
}

interface DecodeBatch {
  rows: EngineSequence[];
  block: KvBlock;
  padLeft: number[];
}

/** A row of a prefill forward: the sequence fed, and its group siblings that share the result. */
interface PrefillRow {
  seq: EngineSequence;
  followers: EngineSequence[];
  tokens: number[];
}

export class GenerationEngine {
  private readonly live = new Set<EngineSequence>();
  private batch: DecodeBatch = { rows: [], block: { batch: 0, length: 0, data: [] }, padLeft: [] };
  private running: Promise<void> | null = null;
  private disposed = false;
  private turnCounter = 0;
  readonly vocabSize: number;

  constructor(
    private readonly session: DecoderSession,
    private readonly tokenizer: Tokenizer,
    readonly options: EngineOptions,
  ) {
    this.vocabSize = session.layout.vocabSize;
  }

  createGroup(promptTokenIds: readonly number[], n: number, seed: number | undefined, retain: boolean): SequenceGroup {
    if (this.disposed) throw new Error('the model has been disposed');
    if (promptTokenIds.length === 0) throw new RangeError('the prompt is empty');
    // The prompt must leave room for at least one generated token.
    if (promptTokenIds.length >= this.options.contextLength) throw new ContextLengthError(promptTokenIds.length + 1, this.options.contextLength);
    for (const id of promptTokenIds) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new RangeError(`prompt token id ${id} is outside the vocabulary [0, ${this.vocabSize})`);
    }
    const group = new EngineGroup(this, promptTokenIds, n, seed ?? randomSeed(), retain);
    for (const s of group.sequences) this.live.add(s);
    return group;
  }

  stats(): EngineStats {
    let active = 0;
    let cacheBytes = 0;
    // The n samples of a prompt share one view until they diverge: count it once.
    const counted = new Set<CacheView>();
    for (const s of this.live) {
      if (s.turn) active++;
      if (s.cache && !counted.has(s.cache)) cacheBytes += viewBytes(this.session.layout, s.cache);
      if (s.cache) counted.add(s.cache);
    }
    return { sequences: this.live.size, active, batchRows: this.batch.rows.length, cacheBytes };
  }

  startTurn(seq: EngineSequence, params: TurnParams, options: RunOptions): Promise<TurnResult> {
    if (this.disposed) throw new Error('the model has been disposed');
    const sampling = resolveSampling(params);
    const stops = resolveStops(params, this.options.contextLength);
    const topLogprobs = params.topLogprobs ?? 0;
    if (!Number.isInteger(topLogprobs) || topLogprobs < 0 || topLogprobs > 20) throw new RangeError(`top logprobs must be an integer in [0, 20], got ${topLogprobs}`);
    options.signal?.throwIfAborted();
    const rng = new Rng(turnSeed(seq.seed, seq.turns++));
    if (seq.remaining <= 0) return Promise.resolve({ tokenIds: [], logprobs: [], text: '', finishReason: 'length' });
    return new Promise<TurnResult>((resolve, reject) => {
      // Decoding token by token costs more than a small model's forward; do it only when needed.
      const detokenizer = stops.stop.length > 0 || options.onToken ? new IncrementalDetokenizer(this.tokenizer, seq.tokens) : undefined;
      const stopping = new StoppingCriteria(stops, stops.ignoreEos ? new Set() : this.options.eosTokenIds, seq.remaining, () => detokenizer?.flush() ?? '');
      // An abort wakes the loop, which ends the turn; the listener goes with the turn, so a
      // long-lived signal shared by many turns does not collect them.
      const { signal } = options;
      const onAbort = () => this.kick();
      signal?.addEventListener('abort', onAbort, { once: true });
      const settled = <T>(f: (value: T) => void) => (value: T) => {
        signal?.removeEventListener('abort', onAbort);
        f(value);
      };
      seq.turn = new Turn(new TokenSampler(sampling, rng), stopping, detokenizer, { logprob: params.logprobs ?? true, topLogprobs }, options, settled(resolve), settled(reject), this.turnCounter++);
      this.kick();
    });
  }

  /** Called by EngineSequence.dispose. */
  release(seq: EngineSequence): void {
    this.live.delete(seq);
    seq.turn?.reject(new Error('sequence has been disposed'));
    seq.turn = null;
    seq.nextLogits = null;
    if (!this.batch.rows.includes(seq)) seq.cache = null;
    // The batch drops the row (and its cache) on the next sync.
    this.kick();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const s of this.live) {
      s.turn?.reject(new Error('the model has been disposed'));
      s.turn = null;
    }
    await this.running;
    for (const s of this.live) {
      s.disposed = true;
      s.cache = null;
      s.nextLogits = null;
    }
    this.live.clear();
    this.batch = { rows: [], block: { batch: 0, length: 0, data: [] }, padLeft: [] };
  }

  private kick(): void {
    if (this.running || this.disposed) return;
    // Start on the next macrotask, so requests submitted together (Promise.all over prompts)
    // are all queued before the first prefill is chosen, and share it or its batch.
    this.running = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.loop())
      .catch((error: unknown) => {
        // The loop handles forward errors per turn; anything reaching here is a bug. Fail every turn rather than hang.
        for (const s of this.live) this.fail(s, error);
      })
      .finally(() => {
        this.running = null;
        if ([...this.live].some((s) => s.turn)) this.kick();
      });
  }

  private async loop(): Promise<void> {
    while (!this.disposed) {
      this.settle();
      let ran = false;
      const prefill = this.pickPrefill();
      if (prefill.length > 0) {
        await this.runPrefill(prefill);
        ran = true;
        this.settle();
      }
      this.syncBatch(this.pickDecodeRows());
      if (this.batch.rows.length > 0) {
        await this.runDecode();
        ran = true;
      }
      if (!ran) return;
    }
  }

  /** Ends aborted turns, then samples a token for every turn whose logits are ready. */
  private settle(): void {
    for (const seq of this.live) {
      const turn = seq.turn;
      if (!turn) continue;
      if (turn.options.signal?.aborted) {
        this.fail(seq, turn.options.signal.reason);
        continue;
      }
      if (seq.nextLogits) this.sampleNext(seq, turn, seq.nextLogits);
      else if (seq.pending === 0) this.fail(seq, new Error('internal error: sequence has neither logits nor pending tokens'));
    }
  }

  private sampleNext(seq: EngineSequence, turn: Turn, logits: Float32Array): void {
    const { sampler, report } = turn;
    const tokenId = sampler.sample(logits, report);
    seq.tokens.push(tokenId);
    seq.nextLogits = null;
    turn.tokenIds.push(tokenId);
    if (report.logprob) turn.logprobs.push(sampler.logprob);
    if (turn.topLogprobs) turn.topLogprobs.push(sampler.topLogprobs ?? []);
    const outcome = turn.stopping.push(tokenId, turn.detokenizer?.push(tokenId) ?? '');
    try {
      turn.options.onToken?.({
        index: seq.index,
        tokenId,
        ...(report.logprob && { logprob: sampler.logprob }),
        ...(sampler.topLogprobs && { topLogprobs: sampler.topLogprobs }),
        text: outcome.text,
      });
    } catch (error) {
      this.fail(seq, error);
      return;
    }
    if (!outcome.finish) return;
    seq.turn = null;
    turn.resolve({
      tokenIds: turn.tokenIds,
      logprobs: turn.logprobs,
      ...(turn.topLogprobs ? { topLogprobs: turn.topLogprobs } : {}),
      text: turn.detokenizer ? turn.stopping.finalText : this.tokenizer.decode(turn.tokenIds, { skipSpecialTokens: true }),
      finishReason: outcome.finish.finishReason,
      ...(outcome.finish.stop ? { stop: outcome.finish.stop } : {}),
    });
  }

  private fail(seq: EngineSequence, error: unknown): void {
    const turn = seq.turn;
    if (!turn) return;
    seq.turn = null;
    turn.reject(error);
  }

  /** Active sequences by turn start, oldest first. */
  private activeSequences(): EngineSequence[] {
    return [...this.live].filter((s) => s.turn).sort((a, b) => a.turn!.order - b.turn!.order);
  }

  /**
   * The next prefill forward: fresh prompts that fit one chunk, batched (one row per group), or
   * else the oldest sequence with more than one pending token, alone, for one chunk.
   */
  private pickPrefill(): PrefillRow[] {
    const waiting = this.activeSequences().filter((s) => s.pending > 1);
    if (waiting.length === 0) return [];
    const { prefillChunk, maxBatchSize } = this.options;
    const rowFor = (seq: EngineSequence, count: number): PrefillRow => ({
      seq,
      // Siblings still at the prompt with the same cache take the same result.
      followers: seq.atPrompt ? seq.group.sequences.filter((s) => s !== seq && !s.disposed && s.atPrompt && s.cached === seq.cached) : [],
      tokens: seq.tokens.slice(seq.cached, seq.cached + count),
    });
    const fresh: PrefillRow[] = [];
    const groups = new Set<EngineGroup>();
    let longest = 0;
    for (const seq of waiting) {
      if (seq.cached > 0 || seq.pending > prefillChunk || (seq.atPrompt && groups.has(seq.group))) continue;
      const width = Math.max(longest, seq.pending);
      if (fresh.length >= maxBatchSize || width * (fresh.length + 1) > prefillChunk) break;
      longest = width;
      groups.add(seq.group);
      fresh.push(rowFor(seq, seq.pending));
    }
    if (fresh.length > 1) return fresh;
    const first = waiting[0]!;
    return [rowFor(first, Math.min(first.pending, prefillChunk))];
  }

  private async runPrefill(rows: PrefillRow[]): Promise<void> {
    const layout = this.session.layout;
    const batch = rows.length;
    const seqLen = Math.max(...rows.map((r) => r.tokens.length));
    // Batched rows are all fresh (no cache); a single row continues from its own cache.
    const { block: past } = gatherRows(layout, batch === 1 ? [rows[0]!.seq.cache] : rows.map(() => null));
    const total = past.length + seqLen;
    const inputIds = new BigInt64Array(batch * seqLen);
    const positionIds = new BigInt64Array(batch * seqLen);
    const attentionMask = new BigInt64Array(batch * total);
    rows.forEach((row, r) => {
      const pad = seqLen - row.tokens.length;
      const start = row.seq.cached;
      attentionMask.fill(1n, r * total, r * total + past.length);
      for (let j = 0; j < row.tokens.length; j++) {
        inputIds[r * seqLen + pad + j] = BigInt(row.tokens[j]!);
        positionIds[r * seqLen + pad + j] = BigInt(start + j);
        attentionMask[r * total + past.length + pad + j] = 1n;
      }
    });
    let out;
    try {
      out = await this.session.forward({ batch, seqLen, inputIds, positionIds, attentionMask, past });
    } catch (error) {
      for (const row of rows) for (const s of [row.seq, ...row.followers]) this.fail(s, new Error(`inference failed: ${(error as Error).message}`));
      return;
    }
    const vocab = layout.vocabSize;
    rows.forEach((row, r) => {
      const pad = seqLen - row.tokens.length;
      const cached = row.seq.cached + row.tokens.length;
      const cache: CacheView = { block: out.present, row: r, start: pad, length: cached };
      const last = (r * seqLen + seqLen - 1) * vocab;
      const done = cached === row.seq.tokens.length;
      for (const s of [row.seq, ...row.followers]) {
        if (s.disposed) continue;
        s.cached = cached;
        s.cache = cache;
        s.nextLogits = done ? out.logits.subarray(last, last + vocab) : null;
      }
    });
  }

  /** Up to maxBatchSize sequences with one pending token; current rows keep their place. */
  private pickDecodeRows(): EngineSequence[] {
    const eligible = (s: EngineSequence) => !s.disposed && s.turn !== null && s.pending === 1;
    const rows = this.batch.rows.filter(eligible);
    for (const s of this.activeSequences()) {
      if (rows.length >= this.options.maxBatchSize) break;
      if (eligible(s) && !rows.includes(s)) rows.push(s);
    }
    return rows;
  }

  /** Makes `rows` the decode batch, regrouping caches only if the membership changed. */
  private syncBatch(rows: EngineSequence[]): void {
    const old = this.batch.rows;
    if (rows.length === old.length && rows.every((s, i) => s === old[i])) return;
    const layout = this.session.layout;
    for (const s of old) {
      if (rows.includes(s) || !s.cache) continue;
      if (s.disposed) s.cache = null;
      else if (s.retain) s.cache = materialize(layout, s.cache);
      else {
        s.cache = null;
        s.continuable = false;
      }
    }
    const { block, padLeft } = gatherRows(layout, rows.map((s) => s.cache));
    rows.forEach((s, r) => (s.cache = { block, row: r, start: padLeft[r]!, length: s.cached }));
    this.batch = { rows, block, padLeft };
  }

  private async runDecode(): Promise<void> {
    const { rows, block, padLeft } = this.batch;
    const batch = rows.length;
    const total = block.length + 1;
    const inputIds = new BigInt64Array(batch);
    const positionIds = new BigInt64Array(batch);
    const attentionMask = new BigInt64Array(batch * total).fill(1n);
    rows.forEach((s, r) => {
      inputIds[r] = BigInt(s.tokens[s.cached]!);
      positionIds[r] = BigInt(s.cached);
      attentionMask.fill(0n, r * total, r * total + padLeft[r]!);
    });
    let out;
    try {
      out = await this.session.forward({ batch, seqLen: 1, inputIds, positionIds, attentionMask, past: block });
    } catch (error) {
      for (const s of rows) this.fail(s, new Error(`inference failed: ${(error as Error).message}`));
      return;
    }
    const vocab = this.session.layout.vocabSize;
    this.batch = { rows, block: out.present, padLeft };
    rows.forEach((s, r) => {
      s.cached += 1;
      s.cache = { block: out.present, row: r, start: padLeft[r]!, length: s.cached };
      if (!s.disposed) s.nextLogits = out.logits.subarray(r * vocab, (r + 1) * vocab);
    });
  }
}
