import { describe, expect, it } from 'vitest';
import { bfloat16ToFloat32, float32ToHalf, halfToFloat32 } from './float16.ts';

describe('half and bfloat16 conversions', () => {
  it('widens half bit patterns exactly (normals, subnormals, zeros, infinities, NaN)', () => {
    const bits = Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0400, 0x0001, 0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00]);
    const values = Array.from(halfToFloat32(bits));
    expect(values.slice(0, 9)).toEqual([1, -2, 65504, 2 ** -14, 2 ** -24, 0, -0, Infinity, -Infinity]);
    expect(values[9]).toBeNaN();
  });

  it('widens bfloat16 as the top half of a float32', () => {
    expect(Array.from(bfloat16ToFloat32(Uint16Array.from([0x3f80, 0xc040, 0x3e20])))).toEqual([1, -3, 0.15625]);
  });

  it('narrows to half rounding to nearest, ties to even, with overflow and gradual underflow', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [1 + 2 ** -11, 0x3c00], // tie, stays even
      [1 + 3 * 2 ** -11, 0x3c02], // tie, rounds up to even
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
      [65504, 0x7bff],
      [65520, 0x7c00], // rounds past the largest half: Infinity
      [1e6, 0x7c00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // tie with zero, even
      [3 * 2 ** -26, 0x0001],
      [-0, 0x8000],
      [-Infinity, 0xfc00],
    ];
    const half = float32ToHalf(Float32Array.from(cases, ([x]) => x));
    expect(Array.from(half, (h) => h.toString(16))).toEqual(cases.map(([, h]) => h.toString(16)));
    expect(halfToFloat32(float32ToHalf(Float32Array.from([NaN])))[0]).toBeNaN();
  });

  it('round-trips every finite half exactly', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i).filter((h) => (h & 0x7c00) !== 0x7c00);
    expect(Array.from(float32ToHalf(halfToFloat32(all)))).toEqual(Array.from(all));
  });
});
