import { describe, expect, it } from 'vitest';
import { TruncationScratch, kthLargest, topK, topP } from './truncation.ts';
import { Rng } from './rng.ts';
import { TokenSampler, argmax, logSumExp, resolveSampling } from './sampler.ts';
import { StoppingCriteria, resolveStops } from './stopping.ts';

const logits = () => new Float32Array([1, 3, 2, 3, -1, 0.5]);

describe('truncation', () => {
  /** Kept token ids of a top-k or top-p step, in id order. */
  const kept = (scratch: TruncationScratch, count: number) => Array.from(scratch.kept.subarray(0, count));
  const weightsOf = (l: Float32Array) => {
    const max = Math.max(...l);
    return Float64Array.from(l, (v) => Math.exp(v - max));
  };
  /** top-p over every finite token, as the sampler runs it without top-k. */
  const nucleus = (l: Float32Array, p: number) => {
    const scratch = new TruncationScratch();
    const weights = weightsOf(l);
    const count = topK(l, l.length, scratch);
    const total = Array.from(scratch.kept.subarray(0, count)).reduce((sum, i) => sum + weights[i]!, 0);
    return kept(scratch, topP(l, weights, total, count, p, scratch));
  };

  it('top-k keeps the k largest (and ties with the k-th)', () => {
    const scratch = new TruncationScratch();
    expect(kept(scratch, topK(logits(), 3, scratch))).toEqual([1, 2, 3]);
    expect(kept(scratch, topK(logits(), 1, scratch))).toEqual([1, 3]);
    expect(kept(scratch, topK(new Float32Array([0, -Infinity, 1]), 5, scratch))).toEqual([0, 2]);
  });
  it('top-p keeps the smallest set reaching p', () => {
    expect(nucleus(new Float32Array([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]), 0.75)).toEqual([0, 1]);
    expect(nucleus(new Float32Array([0, 5, 1]), 0.01)).toEqual([1]);
  });
  it('top-p by selection keeps what sorting the whole vocabulary keeps', () => {
    const rng = new Rng(4);
    for (let trial = 0; trial < 40; trial++) {
      // Peaked and flat rows, with ties, larger than the first selection (64) so it has to widen.
      const spread = [0.3, 3, 8][trial % 3]!;
      const l = Float32Array.from({ length: 50 + rng.nextInt(900) }, () => Math.round(rng.nextNormal() * spread * 4) / 4);
      const p = [0.5, 0.9, 0.99, 1 - 1e-9][trial % 4]!;
      const weights = weightsOf(l);
      const total = weights.reduce((a, b) => a + b, 0);
      const order = Array.from(l.keys()).sort((a, b) => l[b]! - l[a]! || a - b);
      let mass = 0;
      let keep = 0;
      while (keep < order.length) {
        mass += weights[order[keep]!]! / total;
        keep++;
        if (mass >= p) break;
      }
      expect(nucleus(l, p)).toEqual(order.slice(0, keep).sort((a, b) => a - b));
    }
  });
  it('kthLargest selects like a sort would', () => {
    const rng = new Rng(9);
    for (let trial = 0; trial < 50; trial++) {
      const values = Float32Array.from({ length: 1 + rng.nextInt(40) }, () => Math.round(rng.nextNormal() * 3) + 0); // + 0: no -0
      const k = 1 + rng.nextInt(values.length);
      const sorted = Array.from(values).sort((a, b) => b - a);
      expect(kthLargest(Float32Array.from(values), k)).toBe(sorted[k - 1]);
    }
  });
});

describe('sampler', () => {
  const report = (topLogprobs = 0) => ({ logprob: true, topLogprobs });
  it('greedy takes the argmax and reports the raw log-softmax', () => {
    const s = new TokenSampler(resolveSampling({ temperature: 0 }), new Rng(1));
    const l = new Float32Array([0.1, 2, 0.3]);
    expect(s.sample(l, report(2))).toBe(1);
    expect(s.logprob).toBeCloseTo(2 - logSumExp(l), 10);
    expect(s.topLogprobs!.map((t) => t.tokenId)).toEqual([1, 2]);
    expect(argmax(new Float32Array([1, 5, 5]))).toBe(1);
  });
  it('computes no logprob when none is asked for', () => {
    for (const temperature of [0, 0.8]) {
      const s = new TokenSampler(resolveSampling({ temperature }), new Rng(1));
      const l = new Float32Array([0.1, 2, 0.3]);
      const asked = new TokenSampler(resolveSampling({ temperature }), new Rng(1));
      expect(s.sample(l, { logprob: false, topLogprobs: 0 })).toBe(asked.sample(l, report()));
      expect(s.logprob).toBeNaN();
      expect(s.topLogprobs).toBeUndefined();
    }
  });
  it('reports log softmax(logits / T) before top-k/top-p, whatever the truncation', () => {
    const l = new Float32Array([1, 2, 3, 0]);
    const T = 0.7;
    const scaled = l.map((v) => v / T);
    for (const params of [{ temperature: T }, { temperature: T, topK: 2 }, { temperature: T, topP: 0.5 }]) {
      const s = new TokenSampler(resolveSampling(params), new Rng(5));
      const tokenId = s.sample(l, report());
      expect(s.logprob).toBeCloseTo(scaled[tokenId]! - logSumExp(scaled), 6);
    }
  });
  it('is reproducible for a seed and follows the distribution', () => {
    const l = new Float32Array([0, Math.log(2), Math.log(3), Math.log(4)]);
    const draw = (seed: number) => {
      const s = new TokenSampler(resolveSampling({ temperature: 1 }), new Rng(seed));
      return Array.from({ length: 20_000 }, () => s.sample(l, report()));
    };
    const a = draw(42);
    expect(draw(42)).toEqual(a);
    expect(draw(43)).not.toEqual(a);
    const freq = [0, 1, 2, 3].map((t) => a.filter((x) => x === t).length / a.length);
    [0.1, 0.2, 0.3, 0.4].forEach((p, t) => expect(Math.abs(freq[t]! - p)).toBeLessThan(0.015));
  });
  it('draws within the truncated set with the renormalised distribution', () => {
    // top-p 0.6 keeps tokens 3 and 2 (0.4 + 0.3): they are then drawn 4:3.
    const l = new Float32Array([0, Math.log(2), Math.log(3), Math.log(4)]);
    const s = new TokenSampler(resolveSampling({ temperature: 1, topP: 0.6 }), new Rng(8));
    const draws = Array.from({ length: 20_000 }, () => s.sample(l, report()));
    expect(new Set(draws)).toEqual(new Set([2, 3]));
    expect(Math.abs(draws.filter((x) => x === 3).length / draws.length - 4 / 7)).toBeLessThan(0.015);
  });
  it('never draws a truncated token', () => {
    const s = new TokenSampler(resolveSampling({ temperature: 1.5, topK: 2 }), new Rng(3));
    const l = new Float32Array([5, 4.9, 4.8, 4.7]);
    for (let i = 0; i < 2000; i++) expect(s.sample(l, report())).toBeLessThan(2);
    const masked = new TokenSampler(resolveSampling({ temperature: 1 }), new Rng(3));
    for (let i = 0; i < 2000; i++) expect(masked.sample(new Float32Array([-Infinity, 0, -Infinity]), report())).toBe(1);
  });
  it('validates parameters', () => {
    expect(() => resolveSampling({ temperature: -1 })).toThrow(/temperature/);
    expect(() => resolveSampling({ topP: 0 })).toThrow(/top_p/);
    expect(() => resolveSampling({ topK: 1.5 })).toThrow(/top_k/);
    expect(() => new Rng(0.5)).toThrow(/seed/);
  });
});

describe('stopping criteria', () => {
  const eos = new Set([99]);
  const feed = (criteria: StoppingCriteria, steps: [number, string][]) => {
    let streamed = '';
    for (const [id, text] of steps) {
      const out = criteria.push(id, text);
      streamed += out.text;
      if (out.finish) return { streamed, finish: out.finish, text: criteria.finalText };
    }
    return { streamed, finish: undefined, text: criteria.finalText };
  };

  it('cuts the text exactly at a stop string and streams nothing past it', () => {
    const c = new StoppingCriteria(resolveStops({ maxTokens: 50, stop: ['```\n'] }, 100), eos, 100);
    const r = feed(c, [[1, 'x = 1\n'], [2, 'print(x)'], [3, '\n`'], [4, '``'], [5, '\nmore']]);
    expect(r.finish).toEqual({ finishReason: 'stop', stop: { type: 'stop_string', text: '```\n' } });
    expect(r.text).toBe('x = 1\nprint(x)\n');
    expect(r.streamed).toBe(r.text);
  });

  it('holds back a possible stop-string prefix, then releases it when it is not one', () => {
    const c = new StoppingCriteria(resolveStops({ maxTokens: 50, stop: ['STOP'] }, 100), eos, 100);
    expect(c.push(1, 'abST').text).toBe('ab');
    expect(c.push(2, 'x').text).toBe('STx');
  });

  it('can keep the stop string in the text', () => {
    const c = new StoppingCriteria(resolveStops({ maxTokens: 50, stop: ['b'], includeStopStringInText: true }, 100), eos, 100);
    expect(feed(c, [[1, 'aab c']]).text).toBe('aab');
  });

  it('stops on EOS, stop tokens, token sequences, max tokens and a full context', () => {
    const stopAt = (params: Parameters<typeof resolveStops>[0], steps: [number, string][], contextLeft = 100) =>
      feed(new StoppingCriteria(resolveStops(params, 100), eos, contextLeft), steps).finish;
    const steps: [number, string][] = [[1, 'a'], [2, 'b'], [3, 'c'], [99, ''], [4, 'd']];
    expect(stopAt({ maxTokens: 10 }, steps)).toEqual({ finishReason: 'stop', stop: { type: 'eos', tokenId: 99 } });
    expect(stopAt({ maxTokens: 10, ignoreEos: true }, steps)).toBeUndefined();
    expect(stopAt({ maxTokens: 10, stopTokenIds: [2] }, steps)).toEqual({ finishReason: 'stop', stop: { type: 'stop_token', tokenId: 2 } });
    expect(stopAt({ maxTokens: 10, stopSequences: [[2, 3]] }, steps)).toEqual({ finishReason: 'stop', stop: { type: 'stop_sequence', tokenIds: [2, 3] } });
    expect(stopAt({ maxTokens: 2 }, steps)).toEqual({ finishReason: 'length' });
    expect(stopAt({ maxTokens: 10 }, steps, 3)).toEqual({ finishReason: 'length' });
  });

  it('validates max_tokens and stops', () => {
    expect(() => resolveStops({ maxTokens: 0 }, 10)).toThrow(/max_tokens/);
    expect(() => resolveStops({ maxTokens: 11 }, 10)).toThrow(/max_tokens/);
    expect(() => resolveStops({ maxTokens: 5, stop: [''] }, 10)).toThrow(/stop strings/);
  });
});
