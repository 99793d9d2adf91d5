import type { FinishReason, StopCause, StopParams } from '../types.ts';

export interface StopDecision {
  finishReason: FinishReason;
  stop?: StopCause;
}

export interface StepOutcome {
  /** Text that is now final and may be streamed. */
  text: string;
  /** Set when this token ends the turn. */
  finish?: StopDecision;
}

/** Validated stop parameters with defaults applied. */
export interface ResolvedStops {
  maxTokens: number;
  stop: readonly string[];
  stopTokenIds: ReadonlySet<number>;
  stopSequences: readonly (readonly number[])[];
  ignoreEos: boolean;
  includeStopStringInText: boolean;
}

export function resolveStops(params: StopParams, maxTokensLimit: number): ResolvedStops {
  const { maxTokens } = params;
  if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > maxTokensLimit) {
    throw new RangeError(`max_tokens must be an integer in [1, ${maxTokensLimit}], got ${maxTokens}`);
  }
  const stop = params.stop ?? [];
  if (stop.some((s) => s.length === 0)) throw new RangeError('stop strings must not be empty');
  const stopSequences = params.stopSequences ?? [];
  if (stopSequences.some((s) => s.length === 0)) throw new RangeError('stop sequences must not be empty');
  return {
    maxTokens,
    stop,
    stopTokenIds: new Set(params.stopTokenIds ?? []),
    stopSequences,
    ignoreEos: params.ignoreEos ?? false,
    includeStopStringInText: params.includeStopStringInText ?? false,
  };
}

/**
 * Decides, token by token, when a turn ends: EOS, stop tokens, stop token sequences, stop
 * strings, max_tokens, or a full context. Only this turn's tokens and text are matched, so
 * tool output appended before the turn (which often holds "```") cannot stop it.
 *
 * Stop strings are matched on decoded text; the token whose text completes the match ends the
 * turn and stays in the token list (it was sampled and the model has to see it), while the text
 * is cut where the stop string starts. Text that could still turn into a stop string is held
 * back from streaming until it cannot.
 */
export class StoppingCriteria {
  private generated = 0;
  private readonly tokens: number[] = [];
  private text = '';
  private released = 0;
  private readonly longestStop: number;

  constructor(
    private readonly stops: ResolvedStops,
    private readonly eosTokenIds: ReadonlySet<number>,
    /** Tokens the sequence can still take before its context is full. */
    private contextLeft: number,
    /** Text the decoder still holds (an incomplete character) when the turn ends other than on a stop string. */
    private readonly flush: () => string = () => '',
  ) {
    this.longestStop = Math.max(0, ...stops.stop.map((s) => s.length));
  }

  /** Feeds a sampled token and the text it decoded to (possibly ''). */
  push(tokenId: number, text: string): StepOutcome {
    this.generated++;
    this.contextLeft--;
    this.tokens.push(tokenId);
    const searchFrom = Math.max(0, this.text.length - this.longestStop + 1);
    this.text += text;

    if (!this.stops.ignoreEos && this.eosTokenIds.has(tokenId)) return this.finish({ finishReason: 'stop', stop: { type: 'eos', tokenId } });
    if (this.stops.stopTokenIds.has(tokenId)) return this.finish({ finishReason: 'stop', stop: { type: 'stop_token', tokenId } });
    for (const seq of this.stops.stopSequences) {
      if (this.endsWith(seq)) return this.finish({ finishReason: 'stop', stop: { type: 'stop_sequence', tokenIds: seq } });
    }
    let earliest: { at: number; stop: string } | undefined;
    for (const stop of this.stops.stop) {
      const at = this.text.indexOf(stop, searchFrom);
      if (at >= 0 && (!earliest || at < earliest.at)) earliest = { at, stop };
    }
    if (earliest) {
      this.text = this.text.slice(0, earliest.at + (this.stops.includeStopStringInText ? earliest.stop.length : 0));
      return this.finish({ finishReason: 'stop', stop: { type: 'stop_string', text: earliest.stop } });
    }
    if (this.generated >= this.stops.maxTokens || this.contextLeft <= 0) return this.finish({ finishReason: 'length' });
    return { text: this.release(this.text.length - this.heldBack()) };
  }

  /** The turn's final text (valid once a StepOutcome carried `finish`). */
  get finalText(): string {
    return this.text;
  }

  private finish(decision: StopDecision): StepOutcome {
    if (decision.stop?.type !== 'stop_string') this.text += this.flush();
    return { text: this.release(this.text.length), finish: decision };
  }

  private release(upTo: number): string {
    if (upTo <= this.released) return '';
    const out = this.text.slice(this.released, upTo);
    this.released = upTo;
    return out;
  }

  /** Length of the longest suffix of the text that is a proper prefix of some stop string. */
  private heldBack(): number {
    for (let len = Math.min(this.longestStop - 1, this.text.length); len > 0; len--) {
      const suffix = this.text.slice(this.text.length - len);
      if (this.stops.stop.some((s) => s.startsWith(suffix))) return len;
    }
    return 0;
  }

  private endsWith(seq: readonly number[]): boolean {
    if (seq.length > this.tokens.length) return false;
    const offset = this.tokens.length - seq.length;
    return seq.every((id, i) => this.tokens[offset + i] === id);
  }
}
