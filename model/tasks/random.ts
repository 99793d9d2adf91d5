import type { Rng } from '../../api/models/generation/rng.ts';

/** Seeded draws for the task generator (integers as BigInt, so no size is ever approximate). */
export class Draw {
  constructor(private readonly rng: Rng) {}

  /** Uniform integer in [lo, hi] (both safe integers). */
  int(lo: number, hi: number): number {
    return lo + this.rng.nextInt(hi - lo + 1);
  }

  /** A uniformly random integer with exactly `digits` decimal digits (no leading zero). */
  digits(digits: number): bigint {
    let text = String(1 + this.rng.nextInt(9));
    for (let i = 1; i < digits; i++) text += String(this.rng.nextInt(10));
    return BigInt(text);
  }

  /** An integer whose digit count is drawn uniformly from [lo, hi]. */
  sized(lo: number, hi: number): bigint {
    return this.digits(this.int(lo, hi));
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.rng.nextInt(items.length)]!;
  }

  chance(p: number): boolean {
    return this.rng.nextFloat() < p;
  }

  /** Index drawn with probability proportional to `weights`. */
  weighted(weights: readonly number[]): number {
    const total = weights.reduce((a, b) => a + b, 0);
    let r = this.rng.nextFloat() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i]!;
      if (r < 0) return i;
    }
    return weights.length - 1;
  }
}
