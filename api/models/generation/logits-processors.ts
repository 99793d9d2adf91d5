/**
 * Logits processors, in the spirit of transformers.js's LogitsProcessorList: each rewrites one
 * row of next-token logits in place. Temperature scales; top-k and top-p truncate by setting
 * the dropped logits to -Infinity. They run in that order (as in HF and vLLM).
 */
export interface LogitsProcessor {
  process(logits: Float32Array): void;
}

/** Divides the logits by the temperature (> 0). */
export class TemperatureProcessor implements LogitsProcessor {
  constructor(readonly temperature: number) {
    if (!(temperature > 0)) throw new RangeError(`temperature must be > 0, got ${temperature}`);
  }

  process(logits: Float32Array): void {
    if (this.temperature === 1) return;
    const inv = 1 / this.temperature;
    for (let i = 0; i < logits.length; i++) logits[i]! *= inv;
  }
}

/**
 * Keeps the k largest logits. Ties with the k-th value are kept too (as HF does), so the kept
 * set never depends on the order of equal values.
 */
export class TopKProcessor implements LogitsProcessor {
  private scratch = new Float32Array(0);

  constructor(readonly k: number) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`top_k must be a positive integer, got ${k}`);
  }

  process(logits: Float32Array): void {
    if (this.k >= logits.length) return;
    if (this.scratch.length !== logits.length) this.scratch = new Float32Array(logits.length);
    this.scratch.set(logits);
    const threshold = kthLargest(this.scratch, this.k);
    for (let i = 0; i < logits.length; i++) if (logits[i]! < threshold) logits[i] = -Infinity;
  }
}

/**
 * Nucleus sampling: keeps the most likely tokens until their probability mass reaches p (the
 * token that crosses p is kept; at least one token always is).
 */
export class TopPProcessor implements LogitsProcessor {
  constructor(readonly p: number) {
    if (!(p > 0 && p <= 1)) throw new RangeError(`top_p must be in (0, 1], got ${p}`);
  }

  process(logits: Float32Array): void {
    if (this.p >= 1) return;
    // Only finite logits are candidates (top-k may already have dropped most of them).
    const order: number[] = [];
    let max = -Infinity;
    for (let i = 0; i < logits.length; i++) {
      const v = logits[i]!;
      if (v === -Infinity) continue;
      order.push(i);
      if (v > max) max = v;
    }
    let total = 0;
    for (const i of order) total += Math.exp(logits[i]! - max);
    order.sort((a, b) => logits[b]! - logits[a]! || a - b);
    let mass = 0;
    let keep = 0;
    while (keep < order.length) {
      mass += Math.exp(logits[order[keep]!]! - max) / total;
      keep++;
      if (mass >= this.p) break;
    }
    for (let j = keep; j < order.length; j++) logits[order[j]!] = -Infinity;
  }
}

/** The k-th largest value of `values` (1-based), by quickselect; reorders `values`. */
export function kthLargest(values: Float32Array, k: number): number {
  let lo = 0;
  let hi = values.length - 1;
  const target = k - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i]! > pivot) i++;
      while (values[j]! < pivot) j--;
      if (i <= j) {
        const t = values[i]!;
        values[i] = values[j]!;
        values[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  return values[target]!;
}
