import { afterAll, describe, expect, it } from 'vitest';
import { Gemm, jsGemm } from './gemm.ts';

function random(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5);
}

/** C = op(A) op(B) by definition, in float64. */
function reference(a: Float32Array, b: Float32Array, m: number, k: number, n: number, ta: boolean, tb: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (ta ? a[p * m + i]! : a[i * k + p]!) * (tb ? b[j * k + p]! : b[p * n + j]!);
      out.push(s);
    }
  }
  return out;
}

describe('Gemm', () => {
  let gemm: Gemm;
  afterAll(() => gemm?.release());

  for (const [ta, tb] of [[false, false], [false, true], [true, false]] as const) {
    for (const [m, k, n] of [[3, 4, 5], [40, 48, 36]] as const) {
      it(`computes op(A)op(B) transA=${ta} transB=${tb} ${m}x${k}x${n} (${m * k * n < 1 << 15 ? 'js' : 'onnxruntime'})`, async () => {
        gemm ??= await Gemm.create(1);
        const a = random(m * k, 1);
        const b = random(k * n, 2);
        const c = await gemm.mul(a, b, m, k, n, ta, tb);
        const expected = reference(a, b, m, k, n, ta, tb);
        expect(c.length).toBe(m * n);
        c.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 4));
      });
    }
  }

  it('reads subarray views at their offset', async () => {
    gemm ??= await Gemm.create(1);
    const backing = random(10 + 40 * 48, 3);
    const a = backing.subarray(10);
    const b = random(48 * 36, 4);
    const c = await gemm.mul(a, b, 40, 48, 36);
    const expected = jsGemm(a, b, 40, 48, 36, false, false);
    c.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 4));
  });

  it('multiplies by a constant weight both ways, and picks up new values after weightsChanged', async () => {
    gemm ??= await Gemm.create(1);
    const [m, rows, cols] = [40, 36, 48];
    const w = random(rows * cols, 5);
    const x = random(m * cols, 6);
    const dy = random(m * rows, 7);
    const close = (got: Float32Array, want: number[]) => got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 4));
    close(await gemm.timesWeightT('w', w, rows, cols, x, m), reference(x, w, m, cols, rows, false, true));
    close(await gemm.timesWeight('w', w, rows, cols, dy, m), reference(dy, w, m, rows, cols, false, false));
    w.fill(0.5);
    await gemm.weightsChanged();
    close(await gemm.timesWeightT('w', w, rows, cols, x, m), reference(x, w, m, cols, rows, false, true));
  });

  it('rejects mismatched shapes', async () => {
    gemm ??= await Gemm.create(1);
    await expect(gemm.mul(new Float32Array(5), new Float32Array(6), 2, 3, 2)).rejects.toThrow(/gemm shapes/);
  });
});
