import type { ToolCall, Turn } from '../../core/schemas/trajectory.ts';
import { ApiError } from '../errors.ts';
import type { Sequence, TokenEvent, Tokenizer, TurnResult } from '../models/types.ts';
import type { Sandbox } from '../sandbox/index.ts';
import type { ExecStatus, Language } from '../sandbox/types.ts';
import {
  budgetExhaustedFeedback,
  continuationAfterFence,
  executionFeedback,
  noCodeFeedback,
  type Feedback,
  type FeedbackOptions,
} from './feedback.ts';
import { scanFences, stopStringsFor, type FenceEvent } from './fences.ts';
import type { SampleFinishReason, Segment, ToolCallStatus } from './types.ts';

/**
 * One sample's rollout over a Sequence: generate until a code block closes, run it, append the
 * ```output block as ids, resume; until EOS, max_tokens, a full context, the budget, or an abort.
 *
 * Turn boundaries come from stop strings, so they work the same on every backend (the ONNX
 * engine and vLLM-style servers both match stop strings on the turn's decoded text and keep the
 * token that completes one): outside a block the turn stops at the next ```, on a fence's info
 * line at its newline, inside a block at the next ``` — so a turn ends exactly on the token that
 * closes a code block. What the text means is decided by scanning the whole span generated since
 * the last tool output (fences.ts), never by the turn's text alone.
 */

export interface RolloutContext {
  tokenizer: Tokenizer;
  sandbox: Sandbox;
  /** Executions allowed. */
  budget: number;
  /** Model tokens allowed over all turns. */
  maxTokens: number;
  /** Model tokens allowed in one turn (since the last tool output); undefined: no per-turn limit. */
  maxTokensPerTurn?: number;
  temperature: number;
  topP: number;
  feedback: FeedbackOptions;
  toolTimeoutMs?: number;
  signal: AbortSignal;
  /** Who the executions count against in the sandbox's per-caller quotas. */
  caller?: string;
  onDelta: (text: string) => void;
  onSegment: (segment: Segment) => void;
}

/** Everything the rollout produced; filled in as it goes, so a failed or cancelled rollout leaves its partial state. */
export class RolloutState {
  readonly responseIds: number[] = [];
  readonly logprobs: (number | null)[] = [];
  readonly lossMask: (0 | 1)[] = [];
  readonly turns: Turn[] = [];
  readonly toolCalls: ToolCall[] = [];
  readonly segments: Segment[] = [];
  finishReason: SampleFinishReason = 'stop';
  used = 0;
  skipped = 0;
  readonly byStatus: Partial<Record<ExecStatus, number>> = {};
  completionTokens = 0;
  toolTokens = 0;
  generationMs = 0;
  toolMs = 0;
  /** Start of the span generated since the last tool output (index into responseIds). */
  spanStart = 0;
  /** Characters of the current span already streamed as deltas. */
  streamed = 0;

  get text(): string {
    return this.segments.map((s) => s.text).join('');
  }

  pushModel(tokenIds: readonly number[], logprobs: readonly number[]): void {
    for (let i = 0; i < tokenIds.length; i++) {
      this.responseIds.push(tokenIds[i]!);
      this.logprobs.push(logprobs[i]!);
      this.lossMask.push(1);
    }
    this.completionTokens += tokenIds.length;
  }

  /** Closes the span's model tokens from the span start (or the last turn) up to `end` as one turn. */
  pushTurn(kind: Turn['kind'], end: number): number {
    const start = this.turns.at(-1)?.end ?? 0;
    if (end <= start) return -1;
    this.turns.push({ kind, start, end });
    return this.turns.length - 1;
  }
}

/** Where the current model turn began: the end of the last tool output (0 before any). */
function currentTurnStart(state: RolloutState): number {
  for (let i = state.turns.length - 1; i >= 0; i--) if (state.turns[i]!.kind === 'output') return state.turns[i]!.end;
  return 0;
}

export async function rollout(seq: Sequence, ctx: RolloutContext, state: RolloutState): Promise<void> {
  const { tokenizer, signal } = ctx;
  const decodeSpan = () => tokenizer.decode(state.responseIds.slice(state.spanStart), { skipSpecialTokens: true });
  let spanText = '';

  for (;;) {
    const turnLeft = ctx.maxTokensPerTurn === undefined ? Infinity : ctx.maxTokensPerTurn - (state.responseIds.length - currentTurnStart(state));
    const left = Math.min(ctx.maxTokens - state.completionTokens, turnLeft);
    if (left <= 0 || seq.remaining <= 0) {
      state.finishReason = 'length';
      break;
    }
    // Tokens streamed by the backend during the turn: all that is known of it if the turn is aborted.
    const partial: TokenEvent[] = [];
    let result: TurnResult;
    const started = performance.now();
    try {
      result = await seq.generate(
        {
          maxTokens: Math.min(left, seq.remaining),
          temperature: ctx.temperature,
          topP: ctx.topP,
          // The trajectory records every model token's logprob.
          logprobs: true,
          stop: stopStringsFor(scanFences(spanText).state),
          includeStopStringInText: true,
        },
        {
          signal,
          onToken: (event) => {
            partial.push(event);
            if (event.text !== '') {
              state.streamed += event.text.length;
              ctx.onDelta(event.text);
            }
          },
        },
      );
    } catch (error) {
      state.generationMs += performance.now() - started;
      if (!signal.aborted) throw error;
      state.pushModel(partial.map((e) => e.tokenId), partial.map((e) => e.logprob!));
      state.finishReason = 'cancelled';
      break;
    }
    state.generationMs += performance.now() - started;
    state.pushModel(result.tokenIds, result.logprobs);
    spanText = decodeSpan();
    if (spanText.length > state.streamed) {
      ctx.onDelta(spanText.slice(state.streamed));
      state.streamed = spanText.length;
    }

    const { event } = scanFences(spanText);
    if (event) {
      const outcome = await handleEvent(seq, ctx, state, spanText, event);
      spanText = '';
      if (outcome !== 'continue') {
        state.finishReason = outcome;
        break;
      }
      continue;
    }
    if (result.finishReason === 'length') {
      state.finishReason = 'length';
      break;
    }
    if (result.stop?.type !== 'stop_string') {
      state.finishReason = 'stop';
      break;
    }
  }
  // Whatever is left when the rollout ends (an answer, an unclosed block) is text.
  const covered = state.turns.at(-1)?.end ?? 0;
  if (covered < state.responseIds.length) {
    const rest = tokenizer.decode(state.responseIds.slice(covered), { skipSpecialTokens: true });
    state.pushTurn('text', state.responseIds.length);
    if (rest !== '') emitSegment(ctx, state, { type: 'text', text: rest });
  }
}

type Outcome = 'continue' | SampleFinishReason;

/** A closed code block (run it, or tell the model the budget is spent) or a self-written output block (cut it). */
async function handleEvent(seq: Sequence, ctx: RolloutContext, state: RolloutState, spanText: string, event: FenceEvent): Promise<Outcome> {
  const spanIds = state.responseIds.slice(state.spanStart);
  const tail = spanText.slice(event.end);

  if (event.type === 'output') {
    state.pushTurn('text', state.responseIds.length);
    emitSegment(ctx, state, { type: 'text', text: spanText });
    const feedback = noCodeFeedback();
    const text = `${tail === '' || tail.endsWith('\n') ? '' : '\n'}${feedback.body}\n\`\`\`\n`;
    return appendOutput(seq, ctx, state, text, feedback, 'no_code', 0) === null ? 'length' : 'continue';
  }

  // The code turn starts at the token holding the opening fence's first backtick.
  const codeStart = state.spanStart + tokenIndexAt(ctx.tokenizer, spanIds, event.start);
  state.pushTurn('text', codeStart);
  const before = spanText.slice(0, event.start);
  if (before !== '') emitSegment(ctx, state, { type: 'text', text: before });
  const codeTurn = state.pushTurn('code', state.responseIds.length);
  emitSegment(ctx, state, { type: 'code', text: spanText.slice(event.start), language: event.language, code: event.code });

  const call: ToolCall = { turn: codeTurn, output_turn: null, language: event.language, code: event.code, status: 'skipped', duration_ms: 0, truncated: false };
  state.toolCalls.push(call);
  let feedback: Feedback;
  if (state.used < ctx.budget) {
    const run = await execute(ctx, event.language, event.code);
    if (run === null) return 'cancelled';
    state.used++;
    state.byStatus[run.status] = (state.byStatus[run.status] ?? 0) + 1;
    state.toolMs += run.duration_ms;
    call.status = run.status;
    call.duration_ms = run.duration_ms;
    feedback = run.feedback;
  } else {
    // Told once; a model that keeps writing code past its budget is stopped.
    state.skipped++;
    if (state.skipped > 1) return 'tool_budget';
    feedback = budgetExhaustedFeedback(ctx.budget);
  }
  call.truncated = feedback.truncated;
  const outputTurn = appendOutput(seq, ctx, state, continuationAfterFence(tail, feedback.body), feedback, call.status, call.duration_ms);
  if (outputTurn === null) return 'length';
  call.output_turn = outputTurn;
  return 'continue';
}

interface Run {
  status: ExecStatus;
  duration_ms: number;
  feedback: Feedback;
}

/** Runs the code; null when the rollout was cancelled meanwhile. Problems with the code itself become feedback. */
async function execute(ctx: RolloutContext, language: Language, code: string): Promise<Run | null> {
  try {
    const result = await untilAborted(
      ctx.sandbox.execute({ language, code, timeoutMs: ctx.toolTimeoutMs, maxOutputBytes: ctx.feedback.maxBytes, caller: ctx.caller }, ctx.signal),
      ctx.signal,
    );
    if (ctx.signal.aborted) return null;
    return { status: result.status, duration_ms: result.duration_ms, feedback: executionFeedback(result, ctx.feedback) };
  } catch (error) {
    if (ctx.signal.aborted) return null;
    // The snippet cannot run here (language unavailable, code too large): the model should learn that, like any error.
    // A busy sandbox (429 over the caller's share, 503) is no fault of the code: the request fails with it.
    if (error instanceof ApiError && ((error.status < 500 && error.status !== 429) || error.status === 501)) {
      return { status: 'error', duration_ms: 0, feedback: { body: error.message, truncated: false } };
    }
    throw error;
  }
}

/** Tokenises and appends the output text; returns its turn index, or null when it does not fit in the context. */
function appendOutput(
  seq: Sequence,
  ctx: RolloutContext,
  state: RolloutState,
  text: string,
  feedback: Feedback,
  status: ToolCallStatus | 'no_code',
  durationMs: number,
): number | null {
  const ids = ctx.tokenizer.encode(neutralizeSpecialTokens(ctx.tokenizer, text), { addSpecialTokens: false });
  // Room for the output and at least one more model token.
  if (ids.length >= seq.remaining) return null;
  seq.append(ids);
  for (const id of ids) {
    state.responseIds.push(id);
    state.logprobs.push(null);
    state.lossMask.push(0);
  }
  state.toolTokens += ids.length;
  const turn = state.pushTurn('output', state.responseIds.length);
  state.spanStart = state.responseIds.length;
  state.streamed = 0;
  const seen = ctx.tokenizer.decode(ids, { skipSpecialTokens: false });
  ctx.onDelta(seen);
  emitSegment(ctx, state, { type: 'output', text: seen, status, output: feedback.body, truncated: feedback.truncated, duration_ms: durationMs });
  return turn;
}

function emitSegment(ctx: RolloutContext, state: RolloutState, segment: Segment): void {
  state.segments.push(segment);
  ctx.onSegment(segment);
}

/** Index of the token whose text covers character `offset` of the decoded ids (binary search over decoded prefixes). */
function tokenIndexAt(tokenizer: Tokenizer, ids: readonly number[], offset: number): number {
  let lo = 0;
  let hi = ids.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (tokenizer.decode(ids.slice(0, mid + 1), { skipSpecialTokens: true }).length > offset) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

const specialStrings = new WeakMap<Tokenizer, string[]>();

/**
 * Breaks special-token strings (`<|im_end|>`, ...) in tool output with a zero-width space: code that
 * prints one must not be able to end the assistant turn or forge a message once its output is tokenised.
 */
function neutralizeSpecialTokens(tokenizer: Tokenizer, text: string): string {
  let strings = specialStrings.get(tokenizer);
  if (!strings) {
    strings = [...tokenizer.specialTokenIds].map((id) => tokenizer.idToToken(id) ?? '').filter((s) => s.length > 1);
    specialStrings.set(tokenizer, strings);
  }
  for (const s of strings) if (text.includes(s)) text = text.split(s).join(`${s[0]}\u200b${s.slice(1)}`);
  return text;
}

/**
 * Settles with `promise`, or rejects as soon as `signal` aborts. Executors that stop running code on
 * abort (Python) settle at once anyway; one that lets a run finish on its own (QuickJS on Node
 * checks the signal only before starting) must not hold a cancelled rollout until its timeout.
 */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
