import { TruncationScratch, kthLargest, topK, topP } from './truncation.ts';
import type { Rng } from './rng.ts';
import type { SamplingParams, TokenLogprob } from '../types.ts';

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

/** What a sample() call reports besides the token, as asked for. */
export interface SampleRequest {
  /** Compute the sampled token's logprob (`TokenSampler.logprob`). */
  logprob: boolean;
  /** Alternatives to report (`TokenSampler.topLogprobs`); 0 = none. */
  topLogprobs: number;
}

/**
 * Picks next tokens for one sequence: greedy (temperature 0) or a draw from the processed
 * distribution with the sequence's own seeded RNG, one uniform per token, so a sequence's
 * samples depend only on its seed and its logits, never on what else shares the batch.
 *
 * The reported logprob is taken after temperature and before top-k/top-p: the policy's
 * log-probability at the sampling temperature (see TurnResult.logprobs).
 *
 * Per token it makes one pass to scale the logits and find their maximum and one pass of exp()
 * whose terms serve the draw, the truncation and the logprob's log-sum-exp alike; greedy
 * decoding is an argmax, plus one exp() pass only when a logprob is asked for. Buffers are kept
 * from token to token: greedy decoding, plain sampling and top-k allocate nothing per token;
 * top-p allocates the short list of candidates it sorts, and alternatives their result.
 */
export class TokenSampler {
  /** 1 / temperature; 0 for greedy. */
  private readonly inverseTemperature: number;
  private scaled = new Float32Array(0);
  /** exp(scaled - max), per token. */
  private weights = new Float64Array(0);
  private readonly scratch = new TruncationScratch();
  /** The last sampled token's logprob, when asked for (else NaN). */
  logprob = NaN;
  /** The last sampled token's alternatives, when asked for. */
  topLogprobs: TokenLogprob[] | undefined;

  constructor(
    private readonly params: ResolvedSampling,
    private readonly rng: Rng,
  ) {
    this.inverseTemperature = params.temperature > 0 ? 1 / params.temperature : 0;
  }

  /** `logits`: raw next-token logits (read only). Returns the token id; see `logprob` and `topLogprobs`. */
  sample(logits: Float32Array, request: SampleRequest): number {
    const tokenId = this.inverseTemperature === 0 ? this.greedy(logits, request) : this.draw(logits, request);
    if (request.topLogprobs > 0) {
      const scaled = this.inverseTemperature === 0 ? logits : this.scaled.subarray(0, logits.length);
      this.topLogprobs = this.alternatives(scaled, this.logZ, request.topLogprobs);
    } else {
      this.topLogprobs = undefined;
    }
    return tokenId;
  }

  /** log-sum-exp of the last row's scaled logits, when it was computed (else NaN). */
  private logZ = NaN;

  private greedy(logits: Float32Array, request: SampleRequest): number {
    const tokenId = argmax(logits);
    this.logZ = NaN;
    this.logprob = NaN;
    if (request.logprob || request.topLogprobs > 0) {
      const max = logits[tokenId]!;
      let sum = 0;
      for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
      this.logZ = max + Math.log(sum);
      this.logprob = max - this.logZ;
    }
    return tokenId;
  }

  private draw(logits: Float32Array, request: SampleRequest): number {
    const vocab = logits.length;
    if (this.scaled.length < vocab) {
      this.scaled = new Float32Array(vocab);
      this.weights = new Float64Array(vocab);
    }
    const { scaled, weights, scratch } = this;
    // Scaling rounds to float32, as dividing the logits in place always did.
    const inv = this.inverseTemperature;
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) {
      const v = inv === 1 ? logits[i]! : Math.fround(logits[i]! * inv);
      scaled[i] = v;
      if (v > max) max = v;
    }
    let sum = 0;
    for (let i = 0; i < vocab; i++) {
      const w = Math.exp(scaled[i]! - max);
      weights[i] = w;
      sum += w;
    }
    this.logZ = max + Math.log(sum);
    const u = this.rng.nextFloat();
    const row = scaled.subarray(0, vocab);
    let tokenId: number;
    if (this.params.topK === 0 && this.params.topP >= 1) {
      tokenId = drawFrom(weights, sum, u, row);
    } else {
      let count = topK(row, this.params.topK > 0 ? this.params.topK : vocab, scratch);
      let keptSum = 0;
      for (let j = 0; j < count; j++) keptSum += weights[scratch.kept[j]!]!;
      if (this.params.topP < 1) {
        count = topP(row, weights, keptSum, count, this.params.topP, scratch);
        keptSum = 0;
        for (let j = 0; j < count; j++) keptSum += weights[scratch.kept[j]!]!;
      }
      tokenId = drawFromKept(weights, keptSum, u, scratch.kept, count);
    }
    this.logprob = request.logprob ? scaled[tokenId]! - this.logZ : NaN;
    return tokenId;
  }

  /** The k most likely tokens under log-softmax with normaliser logZ, most likely first. */
  private alternatives(logits: Float32Array, logZ: number, k: number): TokenLogprob[] {
    this.scratch.fit(logits.length);
    const values = this.scratch.values.subarray(0, logits.length);
    values.set(logits);
    const threshold = kthLargest(values, Math.min(k, logits.length));
    const picked: TokenLogprob[] = [];
    for (let i = 0; i < logits.length; i++) {
      if (logits[i]! >= threshold) picked.push({ tokenId: i, logprob: logits[i]! - logZ });
    }
    picked.sort((a, b) => b.logprob - a.logprob || a.tokenId - b.tokenId);
    return picked.slice(0, k);
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

/**
 * Inverse-CDF draw: the first token whose cumulative weight exceeds u * total, in id order
 * (`logits` marks the -Infinity ones, which are never drawn).
 */
function drawFrom(weights: Float64Array, total: number, u: number, logits: Float32Array): number {
  const target = u * total;
  let cumulative = 0;
  let last = -1;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i] === -Infinity) continue;
    cumulative += weights[i]!;
    last = i;
    if (cumulative > target) return i;
  }
  // Rounding can leave the total a hair under the target; the last possible token takes the remainder.
  return last;
}

/** drawFrom over the `count` tokens of `kept` (in id order) only. */
function drawFromKept(weights: Float64Array, total: number, u: number, kept: Int32Array, count: number): number {
  const target = u * total;
  let cumulative = 0;
  for (let j = 0; j < count; j++) {
    cumulative += weights[kept[j]!]!;
    if (cumulative > target) return kept[j]!;
  }
  return kept[count - 1]!;
}
