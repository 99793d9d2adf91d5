import { parseLatex, splitMath, type MathNode } from './math.ts';

/**
 * DOM helpers. Everything the server sends is put into the page as text nodes (never as HTML), so a
 * transcript or a problem cannot inject markup or script.
 */

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | ((event: Event) => void)>;

/** `h('button', { class: 'x', onclick: f }, 'Run')`; attributes set to false/undefined are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.replace(/^on/, ''), value);
    else if (name === 'value' && 'value' in el) (el as HTMLInputElement).value = String(value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) if (child !== null && child !== undefined && child !== false) parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
}

/** The elements of a list that are there (leaves out null and false). */
export function present<T>(items: (T | null | undefined | false)[]): T[] {
  return items.filter((x): x is T => x !== null && x !== undefined && x !== false);
}

export function clear(el: Element): void {
  el.replaceChildren();
}

const SVG_NS = 'http://www.w3.org/2000/svg';
const MATHML_NS = 'http://www.w3.org/1998/Math/MathML';

export function svg(tag: string, attrs: Record<string, string | number> = {}, ...children: Child[]): SVGElement {
  const el = document.createElementNS(SVG_NS, tag) as SVGElement;
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  append(el, ...children);
  return el;
}

function ml(tag: string, ...children: Child[]): Element {
  const el = document.createElementNS(MATHML_NS, tag);
  append(el, ...children);
  return el;
}

function mathml(node: MathNode): Element {
  switch (node.kind) {
    case 'row':
      return ml('mrow', ...node.children.map(mathml));
    case 'mi':
    case 'mn':
    case 'mo':
    case 'mtext':
      return ml(node.kind, node.text);
    case 'frac': {
      const el = ml('mfrac', mathml(node.num), mathml(node.den));
      if (!node.line) el.setAttribute('linethickness', '0');
      return el;
    }
    case 'sqrt':
      return node.index ? ml('mroot', mathml(node.body), mathml(node.index)) : ml('msqrt', mathml(node.body));
    case 'script': {
      const base = mathml(node.base);
      if (node.sub && node.sup) return ml('msubsup', base, mathml(node.sub), mathml(node.sup));
      return node.sup ? ml('msup', base, mathml(node.sup)) : ml('msub', base, mathml(node.sub!));
    }
    case 'boxed': {
      // MathML Core has no <menclose>: a row with a CSS border.
      const el = ml('mrow', mathml(node.body));
      el.setAttribute('class', 'boxed');
      return el;
    }
    case 'fenced':
      return ml('mrow', ml('mo', node.open), mathml(node.body), ml('mo', node.close));
  }
}

/** A `<math>` element for a LaTeX string; its source is kept as the title (hover, copy). */
export function renderMath(tex: string, display = false): Element {
  const el = ml('math', mathml(parseLatex(tex)));
  if (display) el.setAttribute('display', 'block');
  el.setAttribute('title', tex);
  return el;
}

/** Prose with its LaTeX drawn as math, as a fragment of text nodes and `<math>` elements. */
export function renderProse(text: string): DocumentFragment {
  const fragment = document.createDocumentFragment();
  for (const piece of splitMath(text)) fragment.appendChild(piece.kind === 'text' ? document.createTextNode(piece.text) : renderMath(piece.tex, piece.display));
  return fragment;
}

/** 1234 → "1,234"; fractions as percentages where asked. */
export const fmt = {
  int: (n: number | null | undefined) => (n === null || n === undefined ? '—' : Math.round(n).toLocaleString('en-US')),
  num: (n: number | null | undefined, digits = 3) => (n === null || n === undefined || !Number.isFinite(n) ? '—' : Number(n.toPrecision(digits)).toString()),
  pct: (n: number | null | undefined) => (n === null || n === undefined ? '—' : `${(n * 100).toFixed(1)}%`),
  ms: (n: number | null | undefined) => (n === null || n === undefined ? '—' : n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(1)} s`),
  time: (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : '—'),
  eta: (s: number | null | undefined) => (s === null || s === undefined ? '—' : s < 60 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`),
};
