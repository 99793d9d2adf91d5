/**
 * The parsed form of an answer: scalar expressions plus the structures answers come in
 * (tuples and intervals, sets, bare lists, matrices, relations, text, choice letters).
 */

/** `approx` is `\approx`: it states a value like `=`, but only roughly (`\frac{\sqrt2}{2} \approx 0.707`). */
export type RelOp = '=' | 'approx' | '!=' | '<' | '<=' | '>' | '>=' | 'in';

export type Node =
  /** A number as written (digits, optional point, optional exponent): kept as text so precision is known. */
  | { kind: 'num'; text: string }
  /** `52_8`: digits in a base. */
  | { kind: 'based'; digits: string; base: number }
  | { kind: 'sym'; name: string }
  | { kind: 'const'; name: 'pi' | 'e' | 'i' | 'inf' }
  | { kind: 'add'; terms: Node[] }
  | { kind: 'neg'; arg: Node }
  | { kind: 'mul'; factors: Node[] }
  | { kind: 'div'; num: Node; den: Node }
  | { kind: 'pow'; base: Node; exp: Node }
  /** Known functions (sqrt, root, sin, log, factorial, binom, abs, floor, ...) and opaque ones. */
  | { kind: 'call'; fn: string; args: Node[] }
  /** `a ± b` (sign '+') or `a ∓ b` (sign '-'): stands for two values. */
  | { kind: 'pm'; left: Node; right: Node }
  | { kind: 'percent'; arg: Node }
  | { kind: 'degree'; arg: Node }
  /** A chain `a op b op c`; `sides.length === ops.length + 1`. */
  | { kind: 'rel'; ops: RelOp[]; sides: Node[] }
  /** Parenthesised or bracketed sequence: an ordered tuple, a point, or an interval `[1,2)`. */
  | { kind: 'tuple'; open: '(' | '['; close: ')' | ']'; items: Node[] }
  | { kind: 'set'; items: Node[] }
  /** Bare comma-separated answers (`1, -2`): compared without regard to order. */
  | { kind: 'list'; items: Node[] }
  /** `3:5`, `a:b:c`: equal to another ratio when proportional, and a two-part ratio to its quotient. */
  | { kind: 'ratio'; items: Node[] }
  | { kind: 'matrix'; rows: Node[][] }
  | { kind: 'union'; parts: Node[] }
  | { kind: 'text'; text: string }
  | { kind: 'choice'; letter: string }
  | { kind: 'empty' };

export type Kind = Node['kind'];
export type NodeOf<K extends Kind> = Extract<Node, { kind: K }>;

export const num = (text: string): Node => ({ kind: 'num', text });
export const sym = (name: string): Node => ({ kind: 'sym', name });
export const call = (fn: string, ...args: Node[]): Node => ({ kind: 'call', fn, args });
export const neg = (arg: Node): Node => (arg.kind === 'neg' ? arg.arg : { kind: 'neg', arg });
export const add = (...terms: Node[]): Node =>
  terms.length === 1 ? terms[0]! : { kind: 'add', terms: terms.flatMap((t) => (t.kind === 'add' ? t.terms : [t])) };
export const mul = (...factors: Node[]): Node =>
  factors.length === 1 ? factors[0]! : { kind: 'mul', factors: factors.flatMap((f) => (f.kind === 'mul' ? f.factors : [f])) };
export const div = (n: Node, d: Node): Node => ({ kind: 'div', num: n, den: d });
export const pow = (base: Node, exp: Node): Node => ({ kind: 'pow', base, exp });
export const PI: Node = { kind: 'const', name: 'pi' };
export const INF: Node = { kind: 'const', name: 'inf' };

/** Kinds that denote a single (possibly complex or symbolic) value. */
const SCALAR_KINDS = new Set<Kind>(['num', 'based', 'sym', 'const', 'add', 'neg', 'mul', 'div', 'pow', 'call', 'percent', 'degree']);
export const isScalar = (node: Node): boolean => SCALAR_KINDS.has(node.kind);

/** Whether `node` or anything below it satisfies `test`. */
export function some(node: Node, test: (n: Node) => boolean): boolean {
  if (test(node)) return true;
  return children(node).some((c) => some(c, test));
}

export function children(node: Node): Node[] {
  switch (node.kind) {
    case 'add': return node.terms;
    case 'mul': return node.factors;
    case 'neg': case 'percent': case 'degree': return [node.arg];
    case 'div': return [node.num, node.den];
    case 'pow': return [node.base, node.exp];
    case 'call': return node.args;
    case 'pm': return [node.left, node.right];
    case 'rel': return node.sides;
    case 'tuple': case 'set': case 'list': case 'ratio': return node.items;
    case 'matrix': return node.rows.flat();
    case 'union': return node.parts;
    default: return [];
  }
}

/** Free variable names, sorted. */
export function freeSymbols(node: Node, into = new Set<string>()): Set<string> {
  if (node.kind === 'sym') into.add(node.name);
  for (const c of children(node)) freeSymbols(c, into);
  return into;
}

export function countNodes(node: Node): number {
  let n = 1;
  for (const c of children(node)) n += countNodes(c);
  return n;
}

const ATOMS = new Set<Kind>(['num', 'based', 'sym', 'const', 'call', 'tuple', 'set', 'matrix', 'text', 'choice', 'empty']);
const wrap = (n: Node): string => (ATOMS.has(n.kind) ? show(n) : `(${show(n)})`);

/** A canonical, unambiguous rendering; equal renderings mean identical parses. */
export function show(node: Node): string {
  switch (node.kind) {
    case 'num': return node.text;
    case 'based': return `${node.digits}_${node.base}`;
    case 'sym': return node.name;
    case 'const': return node.name === 'inf' ? 'oo' : node.name;
    case 'add':
      return node.terms.map((t, i) => (t.kind === 'neg' ? `${i ? ' - ' : '-'}${wrap(t.arg)}` : `${i ? ' + ' : ''}${t.kind === 'add' ? wrap(t) : show(t)}`)).join('');
    case 'neg': return `-${wrap(node.arg)}`;
    case 'mul': return node.factors.map(wrap).join('*');
    case 'div': return `${wrap(node.num)}/${wrap(node.den)}`;
    case 'pow': return `${wrap(node.base)}^${wrap(node.exp)}`;
    case 'call': return `${node.fn}(${node.args.map(show).join(', ')})`;
    case 'pm': return `${wrap(node.left)} ± ${wrap(node.right)}`;
    case 'percent': return `${wrap(node.arg)}%`;
    case 'degree': return `${wrap(node.arg)}°`;
    case 'rel': return node.sides.map((s, i) => (i ? ` ${node.ops[i - 1] === 'approx' ? '≈' : node.ops[i - 1]} ${show(s)}` : show(s))).join('');
    case 'tuple': return `${node.open}${node.items.map(show).join(', ')}${node.close}`;
    case 'set': return `{${node.items.map(show).join(', ')}}`;
    case 'list': return node.items.map(show).join(', ');
    case 'ratio': return node.items.map(wrap).join(':');
    case 'matrix': return `[${node.rows.map((r) => `[${r.map(show).join(', ')}]`).join(', ')}]`;
    case 'union': return node.parts.map(show).join(' ∪ ');
    case 'text': return `"${node.text}"`;
    case 'choice': return `(${node.letter})`;
    case 'empty': return '∅';
  }
}
