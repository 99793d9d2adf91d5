/**
 * Gold-first, asymmetric comparison of two parsed answers by category: text and choice letters,
 * relations, tuples and intervals, sets and bare lists, unions, matrices, and scalars
 * (delegated to scalar.ts). The gold decides what kind of answer is expected.
 */
import { add, freeSymbols, INF, isScalar, neg, show, some, type Node, type NodeOf, type RelOp } from './ast.ts';
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

/** `x = 3`, `f(x) = 2x`: a definition whose right-hand side is the answer. */
function definition(node: Node): { name: string; value: Node } | undefined {
  if (node.kind !== 'rel' || node.ops.length !== 1 || node.ops[0] !== '=' || !isNamingSide(node.sides[0]!)) return undefined;
  if (some(node.sides[1]!, (n) => n.kind === 'rel')) return undefined;
  return { name: show(node.sides[0]!), value: node.sides[1]! };
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

function compare(gold: Node, pred: Node, ctx: CompareContext): Verdict {
  ctx.deadline.check();
  if (show(gold) === show(pred)) return yes(identicalReason(gold));

  // A definition on either side: x = 3 against 3, f(x) = 2x against 2x.
  const gDef = definition(gold);
  const pDef = definition(pred);
  if (gDef && pred.kind !== 'rel') return compare(gDef.value, pred, ctx);
  if (pDef && gold.kind !== 'rel') return compare(gold, pDef.value, ctx);
  if (gDef && pDef && gDef.name === pDef.name) return compare(gDef.value, pDef.value, ctx);

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

function compareRelations(goldRel: NodeOf<'rel'>, predRel: NodeOf<'rel'>, ctx: CompareContext): Verdict {
  const gold = ascending(goldRel);
  const pred = ascending(predRel);
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

/** `x > 2` → (2, ∞); `1 <= x < 3` → [1, 3): a one-variable inequality as the interval it describes. */
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
  if (a!.kind === 'sym' && b!.kind !== 'sym') return { kind: 'tuple', open: '(', close: closes(r.ops[0]!), items: [neg(INF), b!] };
  if (b!.kind === 'sym' && a!.kind !== 'sym') return { kind: 'tuple', open: opens(r.ops[0]!), close: ')', items: [a!, INF] };
  return undefined;
}
