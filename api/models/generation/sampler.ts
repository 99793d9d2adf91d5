import { TemperatureProcessor, TopKProcessor, TopPProcessor, kthLargest, type LogitsProcessor } from './logits-processors.ts';
import type { Rng } from './rng.ts';
import type { SamplingParams, TokenLogprob } from '../types.ts';

export interface SampledToken {
  tokenId: number;
  /** log softmax(logits / T)[tokenId]; T = 1 for greedy. */
  logprob: number;
  topLogprobs?: TokenLogprob[];
}

/** Validated sampling parameters with defaults applied. */
export interface ResolvedSampling {
  temperature: number;
  topP: number;
  topK: number;
}

export function resolveSampling(params: SamplingParams): ResolvedSampling {
  const temperature = params.temperature ?? 1;
  const topP = params.topP ?? 1;
  const topK = params.topK ?? 0;
  if (!(Number.isFinite(temperature) && temperature >= 0)) throw new RangeError(`temperature must be >= 0, got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`top_p must be in (0, 1], got ${topP}`);
  if (!(Number.isInteger(topK) && topK >= 0)) throw new RangeError(`top_k must be a non-negative integer, got ${topK}`);
  return { temperature, topP, topK };
}

/**
 * Picks next tokens for one sequence: greedy (temperature 0) or a draw from the processed
 * distribution with the sequence's own seeded RNG, one uniform per token, so a sequence's
 * samples depend only on its seed and its logits, never on what else shares the batch.
 *
 * The reported logprob is taken after temperature and before top-k/top-p: the policy's
 * log-probability at the sampling temperature (see TurnResult.logprobs).
 */
export class TokenSampler {
  private readonly temperature: TemperatureProcessor | undefined;
  private readonly truncation: LogitsProcessor[] = [];
  private scaled = new Float32Array(0);
  private processed = new Float32Array(0);

  constructor(
    params: ResolvedSampling,
    private readonly rng: Rng,
  ) {
    if (params.temperature > 0) {
      this.temperature = new TemperatureProcessor(params.temperature);
      if (params.topK > 0) this.truncation.push(new TopKProcessor(params.topK));
      if (params.topP < 1) this.truncation.push(new TopPProcessor(params.topP));
    }
  }

  /** `logits`: raw next-token logits (read only). `topLogprobs`: alternatives to report (0 = none). */
  sample(logits: Float32Array, topLogprobs: number): SampledToken {
    let scaled = logits;
    if (this.temperature) {
      if (this.scaled.length !== logits.length) this.scaled = new Float32Array(logits.length);
      this.scaled.set(logits);
      this.temperature.process(this.scaled);
      scaled = this.scaled;
    }
    const logZ = logSumExp(scaled);
    let tokenId: number;
    if (!this.temperature) {
      tokenId = argmax(logits);
    } else if (this.truncation.length === 0) {
      tokenId = drawCategorical(scaled, this.rng.nextFloat());
    } else {
      if (this.processed.length !== scaled.length) this.processed = new Float32Array(scaled.length);
      this.processed.set(scaled);
      for (const p of this.truncation) p.process(this.processed);
      tokenId = drawCategorical(this.processed, this.rng.nextFloat());
    }
    const result: SampledToken = { tokenId, logprob: scaled[tokenId]! - logZ };
    if (topLogprobs > 0) result.topLogprobs = topAlternatives(scaled, logZ, topLogprobs);
    return result;
  }
}

/** Index of the largest value (the first one on ties). */
export function argmax(values: Float32Array): number {
  let best = 0;
  let max = values[0]!;
  for (let i = 1; i < values.length; i++) {
    if (values[i]! > max) {
      max = values[i]!;
      best = i;
    }
  }
  return best;
}

/** log(sum(exp(values))), computed stably in double precision. */
export function logSumExp(values: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i]! > max) max = values[i]!;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += Math.exp(values[i]! - max);
  return max + Math.log(sum);
}

/** Inverse-CDF draw from softmax(logits) with a uniform u in [0, 1); -Infinity logits are never drawn. */
export function drawCategorical(logits: Float32Array, u: number): number {
  const logZ = logSumExp(logits);
  let cumulative = 0;
  let last = -1;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i] === -Infinity) continue;
    cumulative += Math.exp(logits[i]! - logZ);
    last = i;
    if (cumulative > u) return i;
  }
  // Rounding can leave the total a hair under u; the last possible token takes the remainder.
  return last;
}

/** The k most likely tokens under log-softmax with normaliser logZ, most likely first. */
function topAlternatives(logits: Float32Array, logZ: number, k: number): TokenLogprob[] {
  const threshold = kthLargest(Float32Array.from(logits), Math.min(k, logits.length));
  const picked: TokenLogprob[] = [];
  for (let i = 0; i < logits.length; i++) {
    if (logits[i]! >= threshold) picked.push({ tokenId: i, logprob: logits[i]! - logZ });
  }
  picked.sort((a, b) => b.logprob - a.logprob || a.tokenId - b.tokenId);
  return picked.slice(0, k);
}
