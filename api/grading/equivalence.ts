/**
 * Gold-first, asymmetric comparison of two parsed answers by category: text and choice letters,
 * relations, tuples and intervals, sets and bare lists, unions, matrices, and scalars
 * (delegated to scalar.ts). The gold decides what kind of answer is expected.
 */
import { add, div, freeSymbols, INF, isScalar, mul, neg, show, some, type Node, type NodeOf, type RelOp } from './ast.ts';
import { isKnownFunction } from './evaluate.ts';
import { normalizeText } from './normalize.ts';
import { TooComplexError } from './options.ts';
import { compareScalars, proportional, type CompareContext } from './scalar.ts';

export type EqualReason =
  | 'equal_identical' | 'equal_numeric' | 'equal_symbolic' | 'equal_set' | 'equal_tuple' | 'equal_interval'
  | 'equal_matrix' | 'equal_relation' | 'equal_text' | 'equal_choice';

export interface Verdict {
  equal: boolean;
  reason: EqualReason | 'not_equal' | 'inconclusive';
}

const MAX_ITEMS = 256;
const MAX_PM_EXPANSION = 64;

const yes = (reason: EqualReason): Verdict => ({ equal: true, reason });
const NO: Verdict = { equal: false, reason: 'not_equal' };
const INCONCLUSIVE: Verdict = { equal: false, reason: 'inconclusive' };

/**
 * Compares `pred` against `gold`. `predText` is the pred's normalised string, used when the gold is
 * prose or a choice letter, which the pred may write in any way (`(C)`, `\textbf{C}`, `C) 12`).
 */
export function compareAnswers(gold: Node, pred: Node, predText: string, ctx: CompareContext): Verdict {
  if (gold.kind === 'choice') return choiceLetter(pred, predText) === gold.letter ? yes('equal_choice') : NO;
  if (gold.kind === 'text') return normalizeText(predText) === gold.text ? yes('equal_text') : NO;
  return compare(unwrap(gold), unwrap(pred), ctx);
}

function choiceLetter(pred: Node, text: string): string | undefined {
  if (pred.kind === 'choice') return pred.letter;
  if (pred.kind === 'sym' && /^[A-E]$/.test(pred.name)) return pred.name;
  const plain = text.replace(/\\text(?:bf)?\{([^{}]*)\}/g, '$1').trim();
  return /^\(?([A-E])\)?(?=[\s.:,)]|$)/.exec(plain)?.[1];
}

// ---------- shapes ----------

/** `x`, `m_max`, `f(x)`: a left-hand side that only names what the right-hand side is. */
function isNamingSide(node: Node): boolean {
  if (node.kind === 'sym') return true;
  return node.kind === 'call' && !isKnownFunction(node.fn) && node.args.every((a) => a.kind === 'sym' || a.kind === 'num');
}

const STATES_VALUE = (op: RelOp) => op === '=' || op === 'approx';

/** `x = 3`, `f(x) = 2x`, `x \approx 0.56`: a definition whose right-hand side is the answer. */
function definition(node: Node): { name: string; value: Node } | undefined {
  if (node.kind !== 'rel' || node.ops.length !== 1 || !STATES_VALUE(node.ops[0]!) || !isNamingSide(node.sides[0]!)) return undefined;
  if (some(node.sides[1]!, (n) => n.kind === 'rel')) return undefined;
  return { name: show(node.sides[0]!), value: node.sides[1]! };
}

/**
 * A left-hand side that names the quantity asked for rather than posing an equation: letters
 * (`x`, `AB`, `a+b`, `\frac{x}{y}`), `|PQ|`, `\sin\theta`, `f(3)`, a tuple `(a, b)`, a ratio `A:B`.
 * Never a number (`x + 1 = 3` and `2x = 6` are equations to solve, whose right side is not the
 * answer) and never a bare negation (`-x = 3` says x = -3).
 */
function isNamingExpression(node: Node, top = true): boolean {
  const named = (n: Node) => isNamingExpression(n, false);
  switch (node.kind) {
    case 'sym': return true;
    case 'call':
      return isKnownFunction(node.fn) ? node.args.every(named) : node.args.every((a) => a.kind === 'num' || named(a));
    case 'tuple': case 'list': case 'ratio': return node.items.every(named);
    case 'add': return node.terms.every(named);
    case 'mul': return node.factors.every(named);
    case 'div': return named(node.num) && named(node.den);
    case 'neg': return !top && named(node.arg);
    default: return false;
  }
}

/**
 * What a chain of `=` and `\approx` states as the answer: its last side, and the exact side
 * before the first `\approx` (`\frac{\sqrt2}{2} \approx 0.707`). Only when the chain starts from a
 * name (`x = 2+2+1 = 5`, `(a,b) = (4,1)`, `|PQ| = 6`) or from a constant (`\sqrt{9} = 3`).
 */
function statedValues(rel: NodeOf<'rel'>): Node[] | undefined {
  if (!rel.ops.every(STATES_VALUE)) return undefined;
  const first = rel.sides[0]!;
  const constant = isScalar(first) && freeSymbols(first).size === 0;
  if (!constant && !isNamingExpression(first)) return undefined;
  if (rel.sides.some((side, i) => i > 0 && some(side, (n) => n.kind === 'rel'))) return undefined;
  const values = [rel.sides[rel.sides.length - 1]!];
  const approx = rel.ops.indexOf('approx');
  if (approx > 0 || (approx === 0 && constant)) values.push(rel.sides[approx]!);
  return values;
}

/** Strips what only restates the question: `x \in S` → S; `x = 1, x = 2` and `x = 1, 2` → 1, 2. */
function unwrap(node: Node): Node {
  if (node.kind === 'rel' && node.ops.length === 1 && node.ops[0] === 'in' && isNamingSide(node.sides[0]!)) return node.sides[1]!;
  if (node.kind === 'list') {
    const defs = node.items.map(definition);
    const first = defs[0];
    if (first && defs.every((d) => d?.name === first.name)) return { kind: 'list', items: defs.map((d) => d!.value) };
    if (first && node.items.slice(1).every((i) => i.kind !== 'rel')) return { kind: 'list', items: [first.value, ...node.items.slice(1)] };
  }
  return node;
}

/** `1 ± √2` stands for two values; expands every ± in a scalar into the list of its values. */
function expandPm(node: Node): Node[] {
  if (!some(node, (n) => n.kind === 'pm')) return [node];
  const visit = (n: Node): Node[] => {
    if (n.kind === 'pm') {
      const lefts = visit(n.left);
      const rights = visit(n.right);
      const values = lefts.flatMap((l) => rights.flatMap((r) => [add(l, r), add(l, neg(r))]));
      if (values.length > MAX_PM_EXPANSION) throw new TooComplexError('too many ± combinations');
      return values;
    }
    if (n.kind === 'add' || n.kind === 'mul') {
      const parts = n.kind === 'add' ? n.terms : n.factors;
      let combos: Node[][] = [[]];
      for (const part of parts) {
        const vs = visit(part);
        combos = combos.flatMap((c) => vs.map((v) => [...c, v]));
        if (combos.length > MAX_PM_EXPANSION) throw new TooComplexError('too many ± combinations');
      }
      return combos.map((c) => (n.kind === 'add' ? { kind: 'add', terms: c } : { kind: 'mul', factors: c }));
    }
    if (n.kind === 'neg') return visit(n.arg).map(neg);
    if (n.kind === 'div') return visit(n.num).flatMap((a) => visit(n.den).map((b): Node => ({ kind: 'div', num: a, den: b })));
    return [n];
  };
  return visit(node);
}

/** The members of a collection answer, with ± expanded; a scalar with ± is a collection too. */
function members(node: Node): Node[] | undefined {
  if (node.kind === 'set' || node.kind === 'list') {
    if (node.items.length > MAX_ITEMS) throw new TooComplexError(`more than ${MAX_ITEMS} items`);
    return node.items.flatMap(expandPm);
  }
  if (node.kind === 'pm' || (isScalar(node) && some(node, (n) => n.kind === 'pm'))) return expandPm(node);
  return undefined;
}

// ---------- comparison ----------

/** The reason reported when two answers of this kind parse identically. */
function identicalReason(node: Node): EqualReason {
  switch (node.kind) {
    case 'tuple': return node.open === '[' || node.close === ']' ? 'equal_interval' : 'equal_tuple';
    case 'set': case 'list': case 'empty': case 'pm': return 'equal_set';
    case 'union': return 'equal_interval';
    case 'matrix': return 'equal_matrix';
    case 'rel': return 'equal_relation';
    case 'text': return 'equal_text';
    case 'choice': return 'equal_choice';
    default: return freeSymbols(node).size > 0 ? 'equal_symbolic' : 'equal_numeric';
  }
}

/** Equal when `gold` equals one of `values`; inconclusive when one of them could not be decided. */
function equalsOneOf(gold: Node, values: Node[], ctx: CompareContext): Verdict {
  let verdict = NO;
  for (const value of values) {
    const v = compare(gold, value, ctx);
    if (v.equal) return v;
    if (v.reason === 'inconclusive') verdict = v;
  }
  return verdict;
}

function compare(gold: Node, pred: Node, ctx: CompareContext): Verdict {
  ctx.deadline.check();
  if (show(gold) === show(pred)) return yes(identicalReason(gold));
  gold = foldMatrices(gold);
  pred = foldMatrices(pred);

  // A definition in the gold: x = 3 against 3, f(x) = 2x against 2x.
  const gDef = definition(gold);
  if (gDef && pred.kind !== 'rel') return compare(gDef.value, pred, ctx);
  // What the pred's chain states: x = 3, \sqrt{9} = 3, (a,b) = (4,1), x = \sqrt2/2 \approx 0.707.
  if (pred.kind === 'rel') {
    const stated = statedValues(pred);
    if (stated && gold.kind !== 'rel') return equalsOneOf(gold, stated, ctx);
    if (stated && gDef && gDef.name === show(pred.sides[0]!)) return equalsOneOf(gDef.value, stated, ctx);
  }

  // One-variable inequalities joined by "or" against a union of intervals.
  if (gold.kind === 'union' && pred.kind === 'list') {
    const union = inequalityUnion(pred);
    if (union) return compare(gold, union, ctx);
  }
  if (pred.kind === 'union' && gold.kind === 'list') {
    const union = inequalityUnion(gold);
    if (union) return compare(union, pred, ctx);
  }
  if (gold.kind === 'ratio' || pred.kind === 'ratio') return compareRatios(gold, pred, ctx);

  if (gold.kind === 'rel') {
    if (pred.kind === 'rel') return compareRelations(gold, pred, ctx);
    const interval = relationToInterval(gold);
    return interval && pred.kind === 'tuple' ? compare(interval, pred, ctx) : NO;
  }
  if (pred.kind === 'rel') {
    const interval = relationToInterval(pred);
    return interval && gold.kind === 'tuple' ? compare(gold, interval, ctx) : NO;
  }

  const goldMembers = members(gold);
  if (goldMembers) {
    const predMembers = members(pred) ?? (pred.kind === 'tuple' ? pred.items : isScalar(pred) ? [pred] : undefined);
    return predMembers && matchUnordered(goldMembers, predMembers, ctx) ? yes('equal_set') : NO;
  }

  switch (gold.kind) {
    case 'based': return compareBased(gold, pred, ctx);
    case 'tuple': return compareTuple(gold, pred, ctx);
    case 'union':
      return pred.kind === 'union' && matchUnordered(gold.parts, pred.parts, ctx) ? yes('equal_interval') : NO;
    case 'matrix': return compareMatrix(gold, pred, ctx);
    case 'empty': return pred.kind === 'empty' ? yes('equal_set') : NO;
    case 'text': case 'choice':
      return NO;
    default: {
      if (!isScalar(gold)) return NO;
      // A one-element collection in the pred: {5} for 5.
      const single = pred.kind === 'set' || pred.kind === 'list' ? pred.items : undefined;
      if (single?.length === 1) return compare(gold, single[0]!, ctx);
      if (!isScalar(pred)) return NO;
      const v = compareScalars(gold, pred, ctx);
      if (v === 'numeric') return yes('equal_numeric');
      if (v === 'symbolic') return yes('equal_symbolic');
      return v === 'inconclusive' ? INCONCLUSIVE : NO;
    }
  }
}

/**
 * `52_8` asks for base-8 digits: the pred may drop the subscript (`52`) but not convert to
 * decimal (`42`); another based numeral is compared by value (`101010_2`).
 */
function compareBased(gold: NodeOf<'based'>, pred: Node, ctx: CompareContext): Verdict {
  if (pred.kind === 'num') return pred.text === gold.digits ? yes('equal_numeric') : NO;
  if (pred.kind !== 'based') return NO;
  return compareScalars(gold, pred, ctx) === 'numeric' ? yes('equal_numeric') : NO;
}

/** Each gold member equals a distinct pred member, in any order; the same number of each. */
function matchUnordered(gold: Node[], pred: Node[], ctx: CompareContext): boolean {
  if (gold.length !== pred.length) return false;
  if (gold.length > MAX_ITEMS) throw new TooComplexError(`more than ${MAX_ITEMS} items`);
  const used = new Array<boolean>(pred.length).fill(false);
  // Identical members first, in linear time: long lists are usually the same items reordered.
  const byKey = new Map<string, number[]>();
  pred.forEach((p, j) => byKey.set(show(p), [...(byKey.get(show(p)) ?? []), j]));
  const rest: Node[] = [];
  for (const g of gold) {
    const j = byKey.get(show(g))?.find((k) => !used[k]);
    if (j === undefined) rest.push(g);
    else used[j] = true;
  }
  for (const g of rest) {
    const i = pred.findIndex((p, j) => !used[j] && compare(g, p, ctx).equal);
    if (i < 0) return false;
    used[i] = true;
  }
  return true;
}

function matchOrdered(gold: Node[], pred: Node[], ctx: CompareContext): boolean {
  return gold.length === pred.length && gold.every((g, i) => compare(g, pred[i]!, ctx).equal);
}

const isInfinite = (n: Node): boolean => (n.kind === 'const' && n.name === 'inf') || (n.kind === 'neg' && isInfinite(n.arg));

/** An interval end at ±∞ is open however it is written. */
function brackets(t: NodeOf<'tuple'>): [string, string] {
  const first = t.items[0]!;
  const last = t.items[t.items.length - 1]!;
  return [isInfinite(first) ? '(' : t.open, isInfinite(last) ? ')' : t.close];
}

function compareTuple(gold: NodeOf<'tuple'>, pred: Node, ctx: CompareContext): Verdict {
  const interval = gold.open === '[' || gold.close === ']';
  if (pred.kind === 'tuple') {
    const [go, gc] = brackets(gold);
    const [po, pc] = brackets(pred);
    if (go !== po || gc !== pc) return NO;
    return matchOrdered(gold.items, pred.items, ctx) ? yes(interval ? 'equal_interval' : 'equal_tuple') : NO;
  }
  // A point written without parentheses, `1, 2` for (1, 2); never for a bracketed interval.
  if (pred.kind === 'list' && !interval) return matchOrdered(gold.items, pred.items, ctx) ? yes('equal_tuple') : NO;
  if (pred.kind === 'matrix') {
    const vector = pred.rows.length === 1 ? pred.rows[0]! : pred.rows.every((r) => r.length === 1) ? pred.rows.map((r) => r[0]!) : undefined;
    return vector && matchOrdered(gold.items, vector, ctx) ? yes('equal_tuple') : NO;
  }
  return NO;
}

/**
 * `3:5` against `6:10` (proportional) or, for two parts, against its quotient `\frac{3}{5}`; a
 * scalar gold against a two-part ratio likewise.
 */
function compareRatios(gold: Node, pred: Node, ctx: CompareContext): Verdict {
  const quotient = (r: NodeOf<'ratio'>) => (r.items.length === 2 ? div(r.items[0]!, r.items[1]!) : undefined);
  if (gold.kind === 'ratio' && pred.kind === 'ratio') {
    if (gold.items.length !== pred.items.length) return NO;
    // Proportional: every part over the first agrees (a zero first part makes the quotients unusable, so not equal).
    const [g0, p0] = [gold.items[0]!, pred.items[0]!];
    const parts = gold.items.slice(1).map((g, i) => compare(div(g, g0), div(pred.items[i + 1]!, p0), ctx));
    return parts.every((v) => v.equal) ? parts[0]! : NO;
  }
  if (gold.kind === 'ratio') {
    const q = quotient(gold);
    return q && isScalar(pred) ? compare(q, pred, ctx) : NO;
  }
  const q = quotient(pred as NodeOf<'ratio'>);
  return q && isScalar(gold) ? compare(gold, q, ctx) : NO;
}

const hasMatrix = (node: Node) => some(node, (n) => n.kind === 'matrix');

/** `-M`, `\frac13 M`, `M / 2`, `M + N` as the one matrix they make; anything else unchanged. */
function foldMatrices(node: Node): Node {
  if (node.kind !== 'neg' && node.kind !== 'mul' && node.kind !== 'div' && node.kind !== 'add') return node;
  return (hasMatrix(node) && matrixValue(node)) || node;
}

const mapEntries = (m: NodeOf<'matrix'>, f: (entry: Node) => Node): NodeOf<'matrix'> => ({ kind: 'matrix', rows: m.rows.map((r) => r.map(f)) });

function matrixValue(node: Node): NodeOf<'matrix'> | undefined {
  switch (node.kind) {
    case 'matrix': return node;
    case 'neg': {
      const m = matrixValue(node.arg);
      return m && mapEntries(m, neg);
    }
    case 'mul': {
      // A scalar multiple: exactly one matrix factor, every other factor a scalar.
      const matrices = node.factors.filter(hasMatrix);
      const m = matrices.length === 1 ? matrixValue(matrices[0]!) : undefined;
      const scalars = node.factors.filter((f) => !hasMatrix(f));
      if (!m || !scalars.every(isScalar)) return undefined;
      const factor = mul(...scalars);
      return mapEntries(m, (e) => mul(factor, e));
    }
    case 'div': {
      const m = matrixValue(node.num);
      return m && isScalar(node.den) && !hasMatrix(node.den) ? mapEntries(m, (e) => div(e, node.den)) : undefined;
    }
    case 'add': {
      const terms = node.terms.map(matrixValue);
      const [first] = terms;
      if (!first || !terms.every((t) => t && t.rows.length === first.rows.length && t.rows.every((r, i) => r.length === first.rows[i]!.length))) return undefined;
      return { kind: 'matrix', rows: first.rows.map((row, i) => row.map((_, j) => add(...terms.map((t) => t!.rows[i]![j]!)))) };
    }
    default: return undefined;
  }
}

function compareMatrix(gold: NodeOf<'matrix'>, pred: Node, ctx: CompareContext): Verdict {
  if (pred.kind === 'matrix') {
    const sameShape = gold.rows.length === pred.rows.length && gold.rows.every((r, i) => r.length === pred.rows[i]!.length);
    return sameShape && matchOrdered(gold.rows.flat(), pred.rows.flat(), ctx) ? yes('equal_matrix') : NO;
  }
  // A column or row vector may be written as a tuple.
  const isVector = gold.rows.length === 1 || gold.rows.every((r) => r.length === 1);
  if (isVector && (pred.kind === 'tuple' || pred.kind === 'list')) {
    return matchOrdered(gold.rows.flat(), pred.items, ctx) ? yes('equal_matrix') : NO;
  }
  return NO;
}

// ---------- relations ----------

const FLIP: Partial<Record<RelOp, RelOp>> = { '>': '<', '>=': '<=' };

/** `a > b > c` → `c < b < a`, so each relation has one spelling. */
function ascending(rel: NodeOf<'rel'>): NodeOf<'rel'> {
  if (!rel.ops.every((op) => FLIP[op])) return rel;
  return { kind: 'rel', ops: rel.ops.map((op) => FLIP[op]!).reverse(), sides: [...rel.sides].reverse() };
}

const difference = (a: Node, b: Node): Node => add(a, neg(b));

/** `≈` states a value as `=` does; two relations compare by what they state. */
const exactOps = (rel: NodeOf<'rel'>): NodeOf<'rel'> =>
  rel.ops.includes('approx') ? { ...rel, ops: rel.ops.map((op) => (op === 'approx' ? '=' : op)) } : rel;

function compareRelations(goldRel: NodeOf<'rel'>, predRel: NodeOf<'rel'>, ctx: CompareContext): Verdict {
  const gold = ascending(exactOps(goldRel));
  const pred = ascending(exactOps(predRel));
  if (gold.ops.join() !== pred.ops.join()) return NO;
  if (matchOrdered(gold.sides, pred.sides, ctx)) return yes('equal_relation');
  if (gold.sides.length !== 2) return NO;
  const [gl, gr] = gold.sides as [Node, Node];
  const [pl, pr] = pred.sides as [Node, Node];
  const symmetric = gold.ops[0] === '=' || gold.ops[0] === '!=';
  if (symmetric && compare(gl, pr, ctx).equal && compare(gr, pl, ctx).equal) return yes('equal_relation');
  if (!isScalar(gl) || !isScalar(gr) || !isScalar(pl) || !isScalar(pr)) return NO;
  return proportional(difference(gl, gr), difference(pl, pr), ctx, !symmetric) ? yes('equal_relation') : NO;
}

/**
 * `x > 2` → (2, ∞); `1 <= x < 3` → [1, 3); `|x| < 1` → (-1, 1): a one-variable inequality as the
 * interval it describes.
 */
function relationToInterval(rel: NodeOf<'rel'>): NodeOf<'tuple'> | undefined {
  const r = ascending(rel);
  if (!r.ops.every((op) => op === '<' || op === '<=')) return undefined;
  const opens = (op: RelOp) => (op === '<' ? '(' : '[');
  const closes = (op: RelOp) => (op === '<' ? ')' : ']');
  const [a, b, c] = r.sides;
  if (r.sides.length === 3 && b!.kind === 'sym') {
    return { kind: 'tuple', open: opens(r.ops[0]!), close: closes(r.ops[1]!), items: [a!, c!] };
  }
  if (r.sides.length !== 2) return undefined;
  const isAbsOfVariable = a!.kind === 'call' && a!.fn === 'abs' && a!.args.length === 1 && a!.args[0]!.kind === 'sym';
  if (isAbsOfVariable && freeSymbols(b!).size === 0) return { kind: 'tuple', open: opens(r.ops[0]!), close: closes(r.ops[0]!), items: [neg(b!), b!] };
  if (a!.kind === 'sym' && b!.kind !== 'sym') return { kind: 'tuple', open: '(', close: closes(r.ops[0]!), items: [neg(INF), b!] };
  if (b!.kind === 'sym' && a!.kind !== 'sym') return { kind: 'tuple', open: opens(r.ops[0]!), close: ')', items: [a!, INF] };
  return undefined;
}

/** `x < -1 \text{ or } x > 1` → (-∞, -1) ∪ (1, ∞): a list of one-variable inequalities as the union it describes. */
function inequalityUnion(list: NodeOf<'list'>): NodeOf<'union'> | undefined {
  const parts = list.items.map((item) => (item.kind === 'rel' ? relationToInterval(item) : undefined));
  return parts.every((p) => p !== undefined) ? { kind: 'union', parts: parts as Node[] } : undefined;
}
