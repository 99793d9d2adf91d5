/**
 * Values of scalar expressions: exact rationals (fraction.js, BigInt-backed) where the expression
 * is rational, and floating-point complex values (mathjs) everywhere else, at given variable values.
 * Sizes are capped so that no input can make either path slow: exact powers are refused past
 * EXACT_MAX_BITS, and float results that overflow or underflow make the point unusable.
 */
import Fraction from 'fraction.js';
import * as math from 'mathjs';
import type { Complex } from 'mathjs';
import type { Node } from './ast.ts';
import type { Deadline } from './options.ts';
import { lookupTable } from './lookup.ts';

export type Value = number | Complex;

/** The float path could not produce a trustworthy value (overflow, pole, unsupported node). */
export class NotNumeric extends Error {}
const notNumeric = new NotNumeric('not numeric');

/** Largest exact result accepted, in bits of numerator plus denominator (3^2023 is ~3,200 bits). */
const EXACT_MAX_BITS = 200_000;
const FACTORIAL_MAX = 3_000;

// ---------- exact rationals ----------

const TEN = 10n;

/** "4.5e33", ".35625", "1." → an exact fraction. */
export function fractionOfLiteral(text: string): Fraction {
  const m = /^(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) throw new NotNumeric(`bad number ${text}`);
  const digits = `${m[1] ?? ''}${m[2] ?? ''}` || '0';
  const exp = Number(m[3] ?? 0) - (m[2]?.length ?? 0);
  if (Math.abs(exp) > 10_000) throw new NotNumeric('exponent too large');
  const n = BigInt(digits);
  return exp >= 0 ? new Fraction(n * TEN ** BigInt(exp), 1n) : new Fraction(n, TEN ** BigInt(-exp));
}

const bits = (f: Fraction) => f.n.toString(16).length * 4 + f.d.toString(16).length * 4;

function exactPow(base: Fraction, exp: Fraction): Fraction | undefined {
  if (exp.d !== 1n) return undefined;
  const e = exp.s * exp.n;
  if (e === 0n) return new Fraction(1);
  if (base.n === 0n) return e > 0n ? new Fraction(0) : undefined;
  if (base.n === 1n && base.d === 1n) return base.s < 0n && e % 2n !== 0n ? new Fraction(-1) : new Fraction(1);
  const absE = e < 0n ? -e : e;
  if (absE > 100_000n || Number(absE) * bits(base) > EXACT_MAX_BITS) return undefined;
  return base.pow(new Fraction(e));
}

function exactFactorial(x: Fraction): Fraction | undefined {
  if (x.d !== 1n || x.s < 0n || x.n > BigInt(FACTORIAL_MAX)) return undefined;
  let p = 1n;
  for (let i = 2n; i <= x.n; i++) p *= i;
  return new Fraction(p, 1n);
}

function exactBinom(n: Fraction, k: Fraction): Fraction | undefined {
  if (n.d !== 1n || k.d !== 1n || n.s < 0n || k.s < 0n || k.n > n.n || k.n > BigInt(FACTORIAL_MAX)) return undefined;
  let p = 1n;
  for (let i = 0n; i < k.n; i++) p = (p * (n.n - i)) / (i + 1n);
  return new Fraction(p, 1n);
}

function parseBased(digits: string, base: number): Fraction | undefined {
  let v = 0n;
  for (const c of digits) {
    const d = parseInt(c, 36);
    if (!(d < base)) return undefined;
    v = v * BigInt(base) + BigInt(d);
  }
  return new Fraction(v, 1n);
}

/**
 * The exact rational value of `node` (variables taking their values from `env`), or undefined when
 * it is not rational (π, √2, a variable not in `env`) or too large to compute exactly.
 */
export function exactValue(node: Node, deadline: Deadline, env?: Map<string, Fraction>): Fraction | undefined {
  deadline.check();
  const ex = (n: Node) => exactValue(n, deadline, env);
  switch (node.kind) {
    case 'num':
      try {
        return fractionOfLiteral(node.text);
      } catch {
        return undefined;
      }
    case 'sym': return env?.get(node.name);
    case 'based': return parseBased(node.digits, node.base);
    case 'neg': return ex(node.arg)?.neg();
    case 'percent': return ex(node.arg)?.div(100);
    case 'add': {
      let sum = new Fraction(0);
      for (const t of node.terms) {
        const v = ex(t);
        if (!v) return undefined;
        sum = sum.add(v);
      }
      return sum;
    }
    case 'mul': {
      let product = new Fraction(1);
      for (const f of node.factors) {
        const v = ex(f);
        if (!v || bits(product) + bits(v) > EXACT_MAX_BITS) return undefined;
        product = product.mul(v);
      }
      return product;
    }
    case 'div': {
      const n = ex(node.num);
      const d = n && ex(node.den);
      return d && d.n !== 0n ? n.div(d) : undefined;
    }
    case 'pow': {
      const b = ex(node.base);
      const e = b && ex(node.exp);
      return e ? exactPow(b, e) : undefined;
    }
    case 'call': {
      const args = node.args.map(ex);
      if (args.some((a) => a === undefined)) return undefined;
      const [a, b] = args as Fraction[];
      switch (node.fn) {
        case 'abs': return a!.abs();
        case 'floor': return a!.floor();
        case 'ceil': return a!.ceil();
        case 'factorial': return exactFactorial(a!);
        case 'binom': return b && exactBinom(a!, b);
        default: return undefined;
      }
    }
    default: return undefined;
  }
}

/** Whether any number in `node` is written with a decimal point or an exponent (an approximation). */
export function hasDecimal(node: Node): boolean {
  if (node.kind === 'num') return /[.eE]/.test(node.text);
  switch (node.kind) {
    case 'add': return node.terms.some(hasDecimal);
    case 'mul': return node.factors.some(hasDecimal);
    case 'neg': case 'percent': case 'degree': return hasDecimal(node.arg);
    case 'div': return hasDecimal(node.num) || hasDecimal(node.den);
    case 'pow': return hasDecimal(node.base) || hasDecimal(node.exp);
    case 'call': return node.args.some(hasDecimal);
    default: return false;
  }
}

// ---------- floating-point complex values ----------

export interface NumericContext {
  deadline: Deadline;
  /** Values of the free variables at this point. */
  env: Map<string, number>;
  /** Largest magnitude that went into an addition or an ARGUMENT_SCALED function: the scale of cancellation error. */
  scale: number;
}

export const magnitude = (v: Value): number => (typeof v === 'number' ? Math.abs(v) : Math.hypot(v.re, v.im));
const isReal = (v: Value): v is number => typeof v === 'number' || Math.abs(v.im) <= 1e-14 * Math.abs(v.re);
const real = (v: Value): number => (typeof v === 'number' ? v : v.re);

/** Rejects NaN and overflow, and underflow of a product of non-zero operands. */
function checked(v: Value, ...operands: Value[]): Value {
  const m = magnitude(v);
  if (!Number.isFinite(m)) throw notNumeric;
  if (m === 0 && operands.length > 0 && operands.every((o) => magnitude(o) !== 0)) throw notNumeric;
  if (typeof v !== 'number' && v.im === 0) return v.re;
  return v;
}

const I = math.complex(0, 1);

function root(x: Value, n: Value): Value {
  // The real cube root of -8 is -2; the principal complex root would be 1 + 1.73i.
  if (typeof x === 'number' && typeof n === 'number' && x < 0 && Number.isInteger(n) && n % 2 === 1) return -Math.pow(-x, 1 / n);
  return math.pow(x, math.divide(1, n) as Value) as Value;
}

const realOnly = (f: (...xs: number[]) => number) => (...xs: Value[]): Value => {
  if (!xs.every(isReal)) throw notNumeric;
  return f(...xs.map(real));
};

const gamma = (x: Value): Value => math.gamma(x as number) as Value;

/** Known functions. Anything else (f(x), \dot{x}, an unknown command) is an opaque function. */
const FUNCTIONS: Record<string, (...args: Value[]) => Value> = lookupTable({
  sqrt: (x) => math.sqrt(x as number) as Value,
  root,
  cbrt: (x) => root(x, 3),
  sin: (x) => math.sin(x as number), cos: (x) => math.cos(x as number), tan: (x) => math.tan(x as number),
  cot: (x) => math.cot(x as number), sec: (x) => math.sec(x as number), csc: (x) => math.csc(x as number),
  asin: (x) => math.asin(x as number), acos: (x) => math.acos(x as number), atan: (x) => math.atan(x as number),
  acot: (x) => math.acot(x as number), asec: (x) => math.asec(x as number), acsc: (x) => math.acsc(x as number),
  sinh: (x) => math.sinh(x as number), cosh: (x) => math.cosh(x as number), tanh: (x) => math.tanh(x as number),
  coth: (x) => math.coth(x as number),
  exp: (x) => math.exp(x as number),
  ln: (x) => math.log(x as number) as Value,
  log: (x, base) => (base === undefined ? math.log(x as number) : math.divide(math.log(x as number), math.log(base as number))) as Value,
  log10: (x) => math.log10(x as number) as Value,
  abs: (x) => magnitude(x),
  floor: realOnly(Math.floor),
  ceil: realOnly(Math.ceil),
  factorial: (x) => gamma(math.add(x, 1) as Value),
  binom: (n, k) => math.divide(gamma(math.add(n, 1) as Value), math.multiply(gamma(math.add(k!, 1) as Value), gamma(math.add(math.subtract(n, k!), 1) as Value))) as Value,
  gcd: realOnly((a, b) => (Number.isInteger(a) && Number.isInteger(b!) ? (math.gcd(a, b!) as number) : NaN)),
  lcm: realOnly((a, b) => (Number.isInteger(a) && Number.isInteger(b!) ? (math.lcm(a, b!) as number) : NaN)),
  max: realOnly(Math.max),
  min: realOnly(Math.min),
});
/** Functions whose rounding error grows with the argument (periodic ones; exp of an imaginary argument). */
const ARGUMENT_SCALED = new Set(['sin', 'cos', 'tan', 'cot', 'sec', 'csc', 'exp']);

export const isKnownFunction = (name: string): boolean => name in FUNCTIONS;

/** A deterministic hash of `s` into [0, 1): FNV-1a with a final mix. */
export function unitHash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  h = Math.imul(h ^ (h >>> 15), 2246822507);
  return ((h ^ (h >>> 13)) >>> 0) / 4294967296;
}

/** A fixed smooth function per name: the same opaque f(x) on both sides gives the same value. */
function opaque(name: string, args: Value[]): Value {
  let acc: Value = unitHash(name) + 0.5;
  args.forEach((a, i) => {
    acc = math.add(acc, math.multiply(0.3 + unitHash(`${name}#${i}`), math.sin(math.add(math.multiply(a, 0.7 + i * 0.13), unitHash(name) * 3) as number))) as Value;
  });
  return acc;
}

export function numericValue(node: Node, ctx: NumericContext): Value {
  ctx.deadline.check();
  const ev = (n: Node) => numericValue(n, ctx);
  switch (node.kind) {
    case 'num': {
      const v = Number(node.text);
      if (!Number.isFinite(v)) throw notNumeric;
      return v;
    }
    case 'based': {
      const v = parseBased(node.digits, node.base);
      if (!v) throw notNumeric;
      return v.valueOf();
    }
    case 'sym': {
      const v = ctx.env.get(node.name);
      if (v === undefined) throw notNumeric;
      return v;
    }
    case 'const':
      if (node.name === 'pi') return Math.PI;
      if (node.name === 'e') return Math.E;
      if (node.name === 'i') return I;
      throw notNumeric;
    case 'neg': return math.unaryMinus(ev(node.arg)) as Value;
    case 'percent': return math.divide(ev(node.arg), 100) as Value;
    case 'degree': return math.multiply(ev(node.arg), Math.PI / 180) as Value;
    case 'add': {
      let sum: Value = 0;
      for (const t of node.terms) {
        const v = ev(t);
        ctx.scale = Math.max(ctx.scale, magnitude(v));
        sum = math.add(sum, v) as Value;
      }
      return checked(sum);
    }
    case 'mul': {
      let product: Value = 1;
      for (const f of node.factors) {
        const v = ev(f);
        product = checked(math.multiply(product, v) as Value, product, v);
      }
      return product;
    }
    case 'div': {
      const n = ev(node.num);
      const d = ev(node.den);
      if (magnitude(d) === 0) throw notNumeric;
      return checked(math.divide(n, d) as Value, n);
    }
    case 'pow': {
      const b = ev(node.base);
      const e = ev(node.exp);
      if (magnitude(b) === 0 && real(e) <= 0) throw notNumeric;
      return checked(math.pow(b, e) as Value, b);
    }
    case 'call': {
      const args = node.args.map(ev);
      const f = FUNCTIONS[node.fn];
      if (ARGUMENT_SCALED.has(node.fn)) ctx.scale = Math.max(ctx.scale, ...args.map(magnitude));
      return checked(f ? f(...args) : opaque(node.fn, args));
    }
    default: throw notNumeric;
  }
}

/** |a - b| within relTol of the larger magnitude, plus a cancellation allowance relative to `scale`. */
export function close(a: Value, b: Value, relTol: number, scale = 0): boolean {
  const diff = magnitude(math.subtract(a, b) as Value);
  return diff <= relTol * Math.max(magnitude(a), magnitude(b)) + 1e-12 * scale;
}

