/**
 * A small LaTeX reader for the math a reasoning transcript holds (fractions, roots, powers, \boxed,
 * \binom, Greek letters, relations): text → pieces of plain text and math, math → a tree that
 * render.ts turns into MathML (which Chromium, Firefox and Safari draw natively, offline). Pure, so
 * it is unit-tested without a browser. An unknown command is kept as its own name, never dropped.
 */

export type MathNode =
  | { kind: 'row'; children: MathNode[] }
  | { kind: 'mi' | 'mn' | 'mo' | 'mtext'; text: string }
  | { kind: 'frac'; num: MathNode; den: MathNode; line: boolean }
  | { kind: 'sqrt'; body: MathNode; index: MathNode | null }
  | { kind: 'script'; base: MathNode; sub: MathNode | null; sup: MathNode | null }
  | { kind: 'boxed'; body: MathNode }
  | { kind: 'fenced'; open: string; close: string; body: MathNode };

export type TextPiece = { kind: 'text'; text: string } | { kind: 'math'; tex: string; display: boolean };

const SYMBOLS: Record<string, { kind: 'mi' | 'mo'; text: string }> = {};
const greek = 'alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi varpi rho sigma tau upsilon phi varphi chi psi omega';
const greekChars = 'αβγδϵεζηθϑικλμνξπϖρστυϕφχψω';
greek.split(' ').forEach((name, i) => (SYMBOLS[name] = { kind: 'mi', text: greekChars[i]! }));
const letters: Record<string, string> = { Gamma: 'Γ', Delta: 'Δ', Theta: 'Θ', Lambda: 'Λ', Xi: 'Ξ', Pi: 'Π', Sigma: 'Σ', Phi: 'Φ', Psi: 'Ψ', Omega: 'Ω', infty: '∞', ell: 'ℓ' };
for (const [name, text] of Object.entries(letters)) SYMBOLS[name] = { kind: 'mi', text };
const operators: Record<string, string> = {
  cdot: '·', times: '×', div: '÷', pm: '±', mp: '∓', le: '≤', leq: '≤', ge: '≥', geq: '≥', ne: '≠', neq: '≠',
  approx: '≈', equiv: '≡', sim: '∼', to: '→', rightarrow: '→', Rightarrow: '⇒', implies: '⟹', iff: '⟺', in: '∈',
  notin: '∉', subset: '⊂', subseteq: '⊆', cup: '∪', cap: '∩', sum: '∑', prod: '∏', int: '∫', mid: '∣',
  ldots: '…', cdots: '⋯', dots: '…', circ: '∘', angle: '∠', perp: '⊥', parallel: '∥', lfloor: '⌊', rfloor: '⌋',
  lceil: '⌈', rceil: '⌉', langle: '⟨', rangle: '⟩', '{': '{', '}': '}', '%': '%', '$': '$', '#': '#', '&': '&', '_': '_',
  setminus: '∖', forall: '∀', exists: '∃', partial: '∂', nabla: '∇', neg: '¬', land: '∧', lor: '∨', ast: '∗',
};
for (const [name, text] of Object.entries(operators)) SYMBOLS[name] = { kind: 'mo', text };
/** Named functions, set upright (\gcd(a,b), \log x). */
const FUNCTIONS = new Set(['gcd', 'lcm', 'log', 'ln', 'exp', 'sin', 'cos', 'tan', 'cot', 'sec', 'csc', 'min', 'max', 'lim', 'det', 'deg', 'arcsin', 'arccos', 'arctan', 'mod', 'bmod']);
const SPACES: Record<string, string> = { ',': ' ', ':': ' ', ';': ' ', '!': '', quad: '  ', qquad: '    ', ' ': ' ' };
/** Commands whose only job is styling: their argument is read as is. */
const STYLES = new Set(['mathbf', 'mathit', 'mathbb', 'mathcal', 'boldsymbol', 'displaystyle', 'textstyle', 'left', 'right', 'big', 'Big', 'bigg', 'Bigg', 'bigl', 'bigr', 'Bigl', 'Bigr']);

class Reader {
  private pos = 0;
  constructor(private readonly src: string) {}

  /** A row of atoms until `stop` (a closing brace or bracket) or the end. */
  row(stop?: string): MathNode {
    const children: MathNode[] = [];
    for (;;) {
      this.skipSpace();
      const ch = this.src[this.pos];
      if (ch === undefined || ch === stop) break;
      if (ch === '^' || ch === '_') {
        this.pos++;
        const arg = this.argument();
        const prev = children.pop() ?? { kind: 'mtext', text: '' };
        const base = prev.kind === 'script' && (ch === '^' ? prev.sup === null : prev.sub === null) ? prev : { kind: 'script' as const, base: prev, sub: null, sup: null };
        if (ch === '^') base.sup = arg;
        else base.sub = arg;
        children.push(base);
        continue;
      }
      children.push(this.atom());
    }
    return children.length === 1 ? children[0]! : { kind: 'row', children };
  }

  private skipSpace(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
  }

  /** One atom, or a braced group. */
  private argument(): MathNode {
    this.skipSpace();
    const ch = this.src[this.pos];
    if (ch === '{') return this.group('{', '}');
    if (ch === undefined) return { kind: 'row', children: [] };
    if (/\d/.test(ch)) {
      this.pos++;
      return { kind: 'mn', text: ch };
    }
    return this.atom();
  }

  private group(open: string, close: string): MathNode {
    if (this.src[this.pos] === open) this.pos++;
    const body = this.row(close);
    if (this.src[this.pos] === close) this.pos++;
    return body;
  }

  private atom(): MathNode {
    const ch = this.src[this.pos]!;
    if (ch === '{') return this.group('{', '}');
    if (ch === '\\') return this.command();
    const number = /^\d+(?:\.\d+)?/.exec(this.src.slice(this.pos));
    if (number) {
      this.pos += number[0].length;
      return { kind: 'mn', text: number[0] };
    }
    this.pos++;
    if (/[A-Za-z]/.test(ch)) return { kind: 'mi', text: ch };
    if (ch === '*') return { kind: 'mo', text: '∗' };
    if (ch === '-') return { kind: 'mo', text: '−' };
    if (ch === "'") return { kind: 'mo', text: '′' };
    return { kind: 'mo', text: ch };
  }

  private command(): MathNode {
    this.pos++; // the backslash
    const name = /^[A-Za-z]+/.exec(this.src.slice(this.pos))?.[0] ?? this.src[this.pos] ?? '';
    this.pos += name.length;
    if (name === 'frac' || name === 'dfrac' || name === 'tfrac') return { kind: 'frac', num: this.argument(), den: this.argument(), line: true };
    if (name === 'binom' || name === 'dbinom' || name === 'tbinom') {
      return { kind: 'fenced', open: '(', close: ')', body: { kind: 'frac', num: this.argument(), den: this.argument(), line: false } };
    }
    if (name === 'sqrt') {
      this.skipSpace();
      const index = this.src[this.pos] === '[' ? this.group('[', ']') : null;
      return { kind: 'sqrt', body: this.argument(), index };
    }
    if (name === 'boxed' || name === 'fbox') return { kind: 'boxed', body: this.argument() };
    if (name === 'text' || name === 'textrm' || name === 'mathrm' || name === 'operatorname' || name === 'textbf' || name === 'mbox') {
      return { kind: 'mtext', text: this.rawGroup() };
    }
    if (name === 'pmod') return { kind: 'row', children: [{ kind: 'mo', text: '(' }, { kind: 'mtext', text: 'mod ' }, this.argument(), { kind: 'mo', text: ')' }] };
    if (STYLES.has(name)) return { kind: 'row', children: [] };
    if (FUNCTIONS.has(name)) return { kind: 'mtext', text: name === 'bmod' ? 'mod' : name };
    if (name in SPACES) return { kind: 'mtext', text: SPACES[name]! };
    const symbol = SYMBOLS[name];
    if (symbol) return { ...symbol };
    return { kind: 'mtext', text: `\\${name}` };
  }

  /** A braced group's text as is (for \text{...}). */
  private rawGroup(): string {
    this.skipSpace();
    if (this.src[this.pos] !== '{') return '';
    let depth = 0;
    const start = this.pos + 1;
    for (; this.pos < this.src.length; this.pos++) {
      const ch = this.src[this.pos];
      if (ch === '{') depth++;
      else if (ch === '}' && --depth === 0) break;
    }
    const text = this.src.slice(start, this.pos);
    this.pos++;
    return text;
  }
}

export function parseLatex(tex: string): MathNode {
  return new Reader(tex).row();
}

/**
 * Splits prose into text and math: `$…$`, `$$…$$`, `\(…\)`, `\[…\]`, and a bare `\boxed{…}` (models
 * often write the final answer outside math delimiters). A `$` not closed on the same piece stays text
 * (a price, a shell prompt).
 */
export function splitMath(text: string): TextPiece[] {
  const pieces: TextPiece[] = [];
  const pattern = /\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\]|\\\(([\s\S]+?)\\\)|\$([^$\n]+?)\$|(\\boxed\{)/g;
  let last = 0;
  for (let m = pattern.exec(text); m; m = pattern.exec(text)) {
    let end = pattern.lastIndex;
    let tex: string;
    let display = false;
    if (m[5]) {
      // \boxed{...}: find the matching brace.
      let depth = 1;
      let i = end;
      for (; i < text.length && depth > 0; i++) {
        if (text[i] === '{') depth++;
        else if (text[i] === '}') depth--;
      }
      if (depth > 0) continue;
      end = i;
      tex = text.slice(m.index, end);
      pattern.lastIndex = end;
    } else {
      tex = (m[1] ?? m[2] ?? m[3] ?? m[4])!;
      display = m[1] !== undefined || m[2] !== undefined;
    }
    if (m.index > last) pieces.push({ kind: 'text', text: text.slice(last, m.index) });
    pieces.push({ kind: 'math', tex, display });
    last = end;
  }
  if (last < text.length) pieces.push({ kind: 'text', text: text.slice(last) });
  return pieces;
}
