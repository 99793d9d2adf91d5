/**
 * xoshiro128** (Blackman & Vigna): a small, fast, seedable PRNG whose 32-bit arithmetic maps
 * directly onto JavaScript's `Math.imul` and `>>>`. The 128-bit state is expanded from the seed
 * with splitmix32, so neighbouring seeds (s, s+1, ...) give unrelated streams.
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    // Fold both halves of a 53-bit seed into splitmix32's counter.
    let x = (seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32) | 0, 0x85ebca6b);
    const splitmix32 = () => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = splitmix32();
    this.s1 = splitmix32();
    this.s2 = splitmix32();
    this.s3 = splitmix32();
  }

  /** Next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal (Box-Muller; one of the pair is discarded to keep the stream simple). */
  nextNormal(): number {
    const u = 1 - this.nextFloat(); // (0, 1], so log(u) is finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.nextFloat());
  }

  /** Uniform integer in [0, n). */
  nextInt(n: number): number {
    return Math.floor(this.nextFloat() * n);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Seed of turn t of a sequence seeded s (a turn: one generate call, between tool outputs). Every
 * backend draws a turn's tokens from a fresh Rng(turnSeed(s, t)), so a turn depends only on its
 * sequence's seed, its index and the tokens so far: a remote server that gets one request per turn
 * (api/models/openai) samples exactly what the in-process engine samples. Turn 0 uses s itself, so
 * one-turn runs match `n` single runs with seeds s..s+n-1.
 */
export function turnSeed(seed: number, turn: number): number {
  return turn === 0 ? seed : (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + turn * 0x27d4eb2d) >>> 0;
}

/** A fresh random seed for requests that do not give one. */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}
