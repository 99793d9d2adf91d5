/**
 * IEEE half (F16) and bfloat16 (BF16) ↔ float32 conversions for checkpoint weights (Node 20 has no
 * Float16Array). Widening is exact; narrowing to half rounds to nearest, ties to even, as numpy and
 * torch do, with overflow to ±Infinity and gradual underflow to subnormals.
 */

let halfTable: Float32Array | undefined;

/** float32 value of every half bit pattern (256 KiB, built once). */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) halfTable[h] = sign * mantissa * 2 ** -24;
    else if (exponent === 31) halfTable[h] = mantissa ? NaN : sign * Infinity;
    else halfTable[h] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  return halfTable;
}

export function halfToFloat32(half: Uint16Array): Float32Array {
  const table = halfToFloatTable();
  const out = new Float32Array(half.length);
  for (let i = 0; i < half.length; i++) out[i] = table[half[i]!]!;
  return out;
}

export function bfloat16ToFloat32(bf16: Uint16Array): Float32Array {
  const bits = new Uint32Array(bf16.length);
  for (let i = 0; i < bf16.length; i++) bits[i] = bf16[i]! << 16;
  return new Float32Array(bits.buffer);
}

export function float32ToHalf(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i]!;
    const sign = (x >>> 16) & 0x8000;
    const exponent = (x >>> 23) & 0xff;
    let mantissa = x & 0x7fffff;
    if (exponent === 0xff) {
      out[i] = sign | 0x7c00 | (mantissa ? 0x200 : 0); // NaN stays NaN, Inf stays Inf
      continue;
    }
    const e = exponent - 127 + 15;
    if (e >= 31) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      // Subnormal half (or zero): shift the mantissa with its implicit bit, rounding to nearest even.
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mantissa |= 0x800000;
      const shift = 14 - e;
      const half = mantissa >>> shift;
      const rest = mantissa & ((1 << shift) - 1);
      const midpoint = 1 << (shift - 1);
      out[i] = sign | (half + (rest > midpoint || (rest === midpoint && half & 1) ? 1 : 0));
      continue;
    }
    const half = (e << 10) | (mantissa >>> 13);
    const rest = mantissa & 0x1fff;
    // A carry out of the mantissa correctly bumps the exponent (and can reach Infinity).
    out[i] = sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
  }
  return out;
}
