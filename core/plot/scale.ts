/** Axis arithmetic: "nice" tick positions, their labels, and linear value → pixel maps. */

export interface Ticks {
  /** Axis domain, widened to whole steps so the first and last tick sit on the axis ends. */
  min: number;
  max: number;
  step: number;
  values: number[];
}

/** The nearest of 1, 2, 2.5, 5 × 10^k at or above `x` (the spacings people read easily). */
function niceStep(x: number): number {
  const exponent = Math.floor(Math.log10(x));
  const base = 10 ** exponent;
  const fraction = x / base;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10;
  return nice * base;
}

/**
 * About `target` evenly spaced ticks covering [min, max] at a nice step. A degenerate range
 * (min == max) is widened around the value so a flat series still gets an axis.
 */
export function niceTicks(min: number, max: number, target = 5): Ticks {
  if (!Number.isFinite(min) || !Number.isFinite(max)) throw new RangeError(`axis range must be finite, got [${min}, ${max}]`);
  if (min > max) [min, max] = [max, min];
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const step = niceStep((max - min) / Math.max(1, target));
  // Round to the step's decimals so that 0.1 + 0.2 style drift does not leak into labels.
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  const round = (v: number) => Number(v.toFixed(Math.min(decimals, 15)));
  const lo = round(Math.floor(min / step + 1e-9) * step);
  const hi = round(Math.ceil(max / step - 1e-9) * step);
  const values: number[] = [];
  for (let i = 0; lo + i * step <= hi + step * 1e-9; i++) values.push(round(lo + i * step));
  return { min: lo, max: hi, step, values };
}

/** Labels for tick values with as many decimals as the step has (0.25 → 2, 5 → 0); large values get thousands separators. */
export function formatTick(value: number, step: number): string {
  const stepText = String(Number(step.toPrecision(6)));
  const decimals = stepText.includes('e') ? Math.min(12, Math.ceil(-Math.log10(step))) : (stepText.split('.')[1]?.length ?? 0);
  const text = Math.abs(value) >= 10_000 && decimals === 0 ? Math.round(value).toLocaleString('en-US') : value.toFixed(decimals);
  return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
}

/** A linear map from [d0, d1] to [r0, r1]. */
export function linear(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}
