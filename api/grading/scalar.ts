/**
 * Equality of two scalar expressions: exactly for rationals, numerically for constants, and at
 * seeded random points (plus a mathjs simplification fallback) for expressions with variables.
 */
import FractionClass, { type Fraction } from 'fraction.js';
import { simplify } from 'mathjs';
import { countNodes, div, freeSymbols, mul, num, PI, some, type Node } from './ast.ts';
import {
  close, exactValue, fractionOfLiteral, hasDecimal, isKnownFunction, magnitude, NotNumeric, numericValue, unitHash,
  type NumericContext, type Value,
} from './evaluate.ts';
import type { Deadline } from './options.ts';

export interface CompareContext {
  deadline: Deadline;
  relTol: number;
  points: number;
}

/** How two scalars were found equal, or why not. */
export type ScalarVerdict = 'numeric' | 'symbolic' | 'not_equal' | 'inconclusive';

/**
 * A decimal written with at least this many significant digits stands for every value that
 * rounds to it: 0.3333 is 1/3, 3.1416 is π; 0.33, 3.14 and the truncation 0.6666 of 2/3 are not.
 */
const MIN_APPROXIMATION_DIGITS = 4;
/** Expressions larger than this are not handed to mathjs.simplify, whose run time cannot be interrupted. */
const SIMPLIFY_MAX_NODES = 60;
/** Valid points needed before an identity is accepted. */
const MIN_VALID_POINTS = 3;

/** `x%` may mean x or x/100; `x°` may mean x or x·π/180 (the same angle in radians). */
function readings(node: Node): Node[] {
  if (node.kind === 'percent') return [node.arg, div(node.arg, num('100'))];
  if (node.kind === 'degree') return [node.arg, mul(node.arg, div(PI, num('180')))];
  return [node];
}

/** +1 for ∞, -1 for -∞, 0 for anything else. */
function infinitySign(node: Node): number {
  if (node.kind === 'const' && node.name === 'inf') return 1;
  if (node.kind === 'neg') return -infinitySign(node.arg);
  if (node.kind === 'add' && node.terms.length === 1) return infinitySign(node.terms[0]!);
  return 0;
}

export function compareScalars(gold: Node, pred: Node, ctx: CompareContext): ScalarVerdict {
  const gInf = infinitySign(gold);
  const pInf = infinitySign(pred);
  if (gInf !== 0 || pInf !== 0) return gInf === pInf ? 'numeric' : 'not_equal';
  let verdict: ScalarVerdict = 'not_equal';
  for (const g of readings(gold)) {
    for (const p of readings(pred)) {
      const v = compareOne(g, p, ctx);
      if (v === 'numeric' || v === 'symbolic') return v;
      if (v === 'inconclusive') verdict = v;
    }
  }
  return verdict;
}

function compareOne(gold: Node, pred: Node, ctx: CompareContext): ScalarVerdict {
  const names = [...freeSymbols(pred, freeSymbols(gold))].sort();
  return names.length === 0 ? compareConstants(gold, pred, ctx) : compareAtPoints(gold, pred, names, ctx);
}

function compareConstants(gold: Node, pred: Node, ctx: CompareContext): ScalarVerdict {
  const ge = exactValue(gold, ctx.deadline);
  const pe = ge && exactValue(pred, ctx.deadline);
  if (ge && pe) {
    if (ge.equals(pe)) return 'numeric';
    // Two exact rationals written without decimals are equal only when identical: 10^20 + 1 is not 10^20.
    if (!hasDecimal(gold) && !hasDecimal(pred)) return 'not_equal';
  }
  const g = evaluateAt(gold, new Map(), ctx.deadline);
  const p = evaluateAt(pred, new Map(), ctx.deadline);
  if (!g || !p) return 'inconclusive';
  if (close(g.value, p.value, ctx.relTol, Math.max(g.scale, p.scale))) return 'numeric';
  // A rounded gold (Minerva's 0.5613) accepts a more precise pred; a rounded pred is accepted only
  // when the gold has no exact decimal form to round (1/3, π): .35625 is not 0.3562.
  if (approximates(gold, p.value)) return 'numeric';
  if (!(ge && terminates(ge)) && approximates(pred, g.value)) return 'numeric';
  return 'not_equal';
}

/** Whether a rational has a finite decimal expansion (its reduced denominator is 2^a·5^b). */
function terminates(f: Fraction): boolean {
  let d = f.d;
  while (d % 2n === 0n) d /= 2n;
  while (d % 5n === 0n) d /= 5n;
  return d === 1n;
}

function evaluateAt(node: Node, env: Map<string, number>, deadline: Deadline): { value: Value; scale: number } | undefined {
  const ctx: NumericContext = { deadline, env, scale: 0 };
  try {
    return { value: numericValue(node, ctx), scale: ctx.scale };
  } catch (e) {
    if (e instanceof NotNumeric) return undefined;
    throw e;
  }
}

/** Precision of a bare decimal literal (optionally negated): significant digits and the unit of its last digit. */
function literalPrecision(node: Node): { digits: number; unit: number; value: number } | undefined {
  let sign = 1;
  if (node.kind === 'neg') {
    sign = -1;
    node = node.arg;
  }
  if (node.kind !== 'num' || !node.text.includes('.')) return undefined;
  const m = /^(\d*)\.(\d*)(?:[eE]([+-]?\d+))?$/.exec(node.text);
  if (!m) return undefined;
  const digits = `${m[1]}${m[2]}`.replace(/^0+/, '').length;
  const unit = 10 ** (Number(m[3] ?? 0) - m[2]!.length);
  return { digits, unit, value: sign * Number(node.text) };
}

/** Whether the decimal literal `node` is `other` rounded at its last written digit. */
function approximates(node: Node, other: Value): boolean {
  const lit = literalPrecision(node);
  if (!lit || lit.digits < MIN_APPROXIMATION_DIGITS || typeof other !== 'number') return false;
  return Math.abs(lit.value - other) <= (lit.unit / 2) * (1 + 1e-9);
}

// ---------- expressions with variables ----------

/**
 * Variable values at point `k`: rationals p/64 in [0.3, 2.7], deterministic so that a grade is
 * reproducible, and exact so that polynomial identities are checked exactly. Variables are
 * positive, as answers assume (lengths, masses, counts: √(4r²) is 2r, log x² is 2 log x). With
 * `negative`, the values are negated, to tell |x| from x.
 */
function pointEnv(names: string[], k: number, negative = false): { exact: Map<string, Fraction>; float: Map<string, number> } {
  const exact = new Map<string, Fraction>();
  const float = new Map<string, number>();
  for (const name of names) {
    const sixtyFourths = (negative ? -1 : 1) * (19 + Math.floor(154 * unitHash(`${name}@${k}`)));
    exact.set(name, new FractionClass(sixtyFourths, 64));
    float.set(name, sixtyFourths / 64);
  }
  return { exact, float };
}

const hasAbs = (node: Node) => some(node, (n) => n.kind === 'call' && n.fn === 'abs');

function compareAtPoints(gold: Node, pred: Node, names: string[], ctx: CompareContext): ScalarVerdict {
  const signs = hasAbs(gold) || hasAbs(pred) ? [false, true] : [false];
  let valid = 0;
  for (const negative of signs) {
    for (let k = 0; k < ctx.points; k++) {
      ctx.deadline.check();
      const env = pointEnv(names, k, negative);
      const equal = equalAtPoint(gold, pred, env, ctx);
      if (equal === false) return 'not_equal';
      if (equal) valid++;
    }
  }
  if (valid >= Math.min(MIN_VALID_POINTS, ctx.points)) return 'symbolic';
  return simplifiesToZero(gold, pred, ctx.deadline) ? 'symbolic' : 'inconclusive';
}

/** Equality at one point: exact when both sides are rational there, else in floating point; undefined when unusable. */
function equalAtPoint(gold: Node, pred: Node, env: ReturnType<typeof pointEnv>, ctx: CompareContext): boolean | undefined {
  const ge = exactValue(gold, ctx.deadline, env.exact);
  const pe = ge && exactValue(pred, ctx.deadline, env.exact);
  if (ge && pe && (ge.equals(pe) || (!hasDecimal(gold) && !hasDecimal(pred)))) return ge.equals(pe);
  const g = evaluateAt(gold, env.float, ctx.deadline);
  const p = g && evaluateAt(pred, env.float, ctx.deadline);
  if (!g || !p) return undefined;
  return close(g.value, p.value, ctx.relTol, Math.max(g.scale, p.scale));
}

/**
 * Whether `a - b` at the points is a fixed non-zero multiple of `c - d` (an equation and a
 * rearrangement of it: y = 2x + 1 and 2x + 1 - y = 0). `positive` requires the factor to be > 0,
 * as for inequalities, where multiplying by a negative number flips the direction.
 */
export function proportional(left: Node, right: Node, ctx: CompareContext, positive: boolean): boolean {
  const names = [...freeSymbols(right, freeSymbols(left))].sort();
  if (names.length === 0) return false;
  let ratio: Value | undefined;
  let valid = 0;
  for (let k = 0; k < ctx.points; k++) {
    const env = pointEnv(names, k).float;
    const a = evaluateAt(left, env, ctx.deadline);
    const b = a && evaluateAt(right, env, ctx.deadline);
    if (!a || !b || magnitude(a.value) === 0 || magnitude(b.value) === 0) continue;
    const r = typeof a.value === 'number' && typeof b.value === 'number' ? a.value / b.value : undefined;
    if (r === undefined || !Number.isFinite(r)) continue;
    if (ratio === undefined) ratio = r;
    else if (!close(ratio, r, ctx.relTol * 10)) return false;
    valid++;
  }
  return ratio !== undefined && valid >= Math.min(MIN_VALID_POINTS, ctx.points) && (!positive || (ratio as number) > 0);
}

// ---------- mathjs simplification fallback ----------

/** The mathjs spelling of `node`, variables and opaque functions renamed to valid identifiers. */
function mathjsText(node: Node, names: Map<string, string>): string {
  const rename = (name: string, prefix: string) => {
    if (!names.has(name)) names.set(name, `${prefix}${names.size}`);
    return names.get(name)!;
  };
  const t = (n: Node) => `(${mathjsText(n, names)})`;
  switch (node.kind) {
    case 'num': return fractionOfLiteral(node.text).toString();
    case 'sym': return rename(node.name, 'v');
    case 'const': return node.name === 'inf' ? 'Infinity' : node.name;
    case 'neg': return `-${t(node.arg)}`;
    case 'add': return node.terms.map(t).join(' + ');
    case 'mul': return node.factors.map(t).join(' * ');
    case 'div': return `${t(node.num)} / ${t(node.den)}`;
    case 'pow': return `${t(node.base)} ^ ${t(node.exp)}`;
    case 'percent': return `${t(node.arg)} / 100`;
    case 'degree': return `${t(node.arg)} * pi / 180`;
    case 'call': {
      const fn = isKnownFunction(node.fn)
        ? ({ root: 'nthRoot', ln: 'log', binom: 'combinations' } as Record<string, string>)[node.fn] ?? node.fn
        : rename(node.fn, 'f');
      return `${fn}(${node.args.map((a) => mathjsText(a, names)).join(', ')})`;
    }
    default: throw new NotNumeric(`no mathjs form for ${node.kind}`);
  }
}

const HUGE_EXPONENT = (n: Node) => n.kind === 'pow' && n.exp.kind === 'num' && n.exp.text.length > 3;

/** Symbolic fallback for when no random point was usable (overflow everywhere, say). */
function simplifiesToZero(gold: Node, pred: Node, deadline: Deadline): boolean {
  if (countNodes(gold) + countNodes(pred) > SIMPLIFY_MAX_NODES || some(gold, HUGE_EXPONENT) || some(pred, HUGE_EXPONENT)) return false;
  deadline.checkNow();
  try {
    const names = new Map<string, string>();
    const result = simplify(`(${mathjsText(gold, names)}) - (${mathjsText(pred, names)})`);
    return result.toString() === '0';
  } catch {
    return false;
  } finally {
    deadline.checkNow();
  }
}
