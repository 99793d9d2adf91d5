import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttentionKernel } from './attention.ts';

/** Causal attention and its gradients written out per head in float64: the reference for the kernels. */
function reference(q: Float32Array, k: Float32Array, v: Float32Array, dctx: Float32Array, B: number, H: number, L: number, D: number) {
  const ctx = new Float64Array(q.length);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(q.length);
  const dv = new Float64Array(q.length);
  for (let bh = 0; bh < B * H; bh++) {
    const at = (t: number) => (bh * L + t) * D;
    for (let i = 0; i < L; i++) {
      const s = Array.from({ length: i + 1 }, (_, j) => {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[at(i) + d]! * k[at(j) + d]!;
        return dot;
      });
      const max = Math.max(...s);
      const e = s.map((x) => Math.exp(x - max));
      const sum = e.reduce((a, b) => a + b, 0);
      const p = e.map((x) => x / sum);
      const dp = p.map((_, j) => {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += dctx[at(i) + d]! * v[at(j) + d]!;
        return dot;
      });
      const rowdot = p.reduce((a, pj, j) => a + pj * dp[j]!, 0);
      p.forEach((pj, j) => {
        const ds = pj * (dp[j]! - rowdot);
        for (let d = 0; d < D; d++) {
          ctx[at(i) + d]! += pj * v[at(j) + d]!;
          dv[at(j) + d]! += pj * dctx[at(i) + d]!;
          dq[at(i) + d]! += ds * k[at(j) + d]!;
          dk[at(j) + d]! += ds * q[at(i) + d]!;
        }
      });
    }
  }
  return { ctx, dq, dk, dv };
}

function maxDiff(a: Float32Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('AttentionKernel', () => {
  let kernel: AttentionKernel;
  beforeAll(async () => {
    kernel = await AttentionKernel.create(1);
  });
  afterAll(() => kernel.release());

  // 20 takes the whole-square backward; 97 and 130 the split one (odd and even lengths).
  it.each([
    [2, 2, 20, 8],
    [1, 3, 97, 8],
    [2, 2, 130, 4],
  ])('forward and backward equal the reference (B %i, H %i, L %i, D %i)', async (B, H, L, D) => {
    let seed = L;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648 - 0.5;
    };
    const [q, k, v, dctx] = [0, 1, 2, 3].map(() => Float32Array.from({ length: B * H * L * D }, () => 2 * random()));
    const ref = reference(q!, k!, v!, dctx!, B, H, L, D);
    const { ctx, saved } = await kernel.forward(q!, k!, v!, B, H, L, D);
    expect(maxDiff(ctx, ref.ctx)).toBeLessThan(1e-5);
    const grads = await kernel.backward(saved, dctx!, B, H, L, D);
    expect(maxDiff(grads.dq, ref.dq)).toBeLessThan(1e-5);
    expect(maxDiff(grads.dk, ref.dk)).toBeLessThan(1e-5);
    expect(maxDiff(grads.dv, ref.dv)).toBeLessThan(1e-5);
  });
});
