/**
 * Top-k and top-p (nucleus) truncation of one row of temperature-scaled logits, as HF and vLLM
 * apply them (top-k first, then top-p on what is left). Both produce the kept tokens as a list
 * of indices in increasing order, written into a caller-owned buffer, so the sampler allocates
 * nothing per token; neither sorts the whole vocabulary when the kept set is small.
 */

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

/** Buffers the truncation steps reuse from token to token (grown to the vocabulary once). */
export class TruncationScratch {
  values = new Float32Array(0);
  kept = new Int32Array(0);

  fit(vocab: number): void {
    if (this.values.length < vocab) {
      this.values = new Float32Array(vocab);
      this.kept = new Int32Array(vocab);
    }
  }
}

/**
 * Writes the tokens whose logit is at least the k-th largest into `scratch.kept` (ties with the
 * k-th value are kept too, as HF does, so the kept set never depends on the order of equal
 * values) and returns how many there are. `-Infinity` logits are never kept.
 */
export function topK(logits: Float32Array, k: number, scratch: TruncationScratch): number {
  scratch.fit(logits.length);
  const kept = scratch.kept;
  let count = 0;
  if (k >= logits.length) {
    for (let i = 0; i < logits.length; i++) if (logits[i] !== -Infinity) kept[count++] = i;
    return count;
  }
  const values = scratch.values.subarray(0, logits.length);
  values.set(logits);
  const threshold = kthLargest(values, k);
  for (let i = 0; i < logits.length; i++) if (logits[i]! >= threshold && logits[i] !== -Infinity) kept[count++] = i;
  return count;
}

/**
 * Nucleus sampling over the `count` tokens of `scratch.kept` (increasing order): keeps the most
 * likely ones until their probability mass reaches p (the token that crosses p is kept; at
 * least one always is), ties broken by the lower id. `weights[i]` is exp(logits[i] - max) and
 * `total` their sum over the kept tokens, in increasing order. Rewrites `scratch.kept` to the
 * tokens kept, in increasing order, and returns how many there are.
 *
 * The most likely tokens are found by selection, not by sorting every candidate: a threshold
 * that admits `want` of them is found by quickselect, only those are sorted, and `want` grows
 * 4x until they hold mass p. The order they are visited in, and so the arithmetic, is the one a
 * full sort would give.
 */
export function topP(logits: Float32Array, weights: Float64Array, total: number, count: number, p: number, scratch: TruncationScratch): number {
  const kept = scratch.kept;
  const byLogit = (a: number, b: number) => logits[b]! - logits[a]! || a - b;
  for (let want = 64; ; want *= 4) {
    let head: number[];
    if (want >= count) {
      head = Array.from(kept.subarray(0, count)).sort(byLogit);
    } else {
      const values = scratch.values.subarray(0, count);
      for (let j = 0; j < count; j++) values[j] = logits[kept[j]!]!;
      const threshold = kthLargest(values, want);
      head = [];
      for (let j = 0; j < count; j++) if (logits[kept[j]!]! >= threshold) head.push(kept[j]!);
      head.sort(byLogit);
    }
    let mass = 0;
    let take = 0;
    while (take < head.length) {
      mass += weights[head[take]!]! / total;
      take++;
      if (mass >= p) break;
    }
    // Every token outside `head` is less likely than all of it: if the mass was reached (or
    // nothing is outside), the kept set is a prefix of `head`.
    if (mass >= p || head.length === count) {
      const chosen = head.slice(0, take).sort((a, b) => a - b);
      kept.set(chosen);
      return chosen.length;
    }
  }
}
