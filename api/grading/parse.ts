/**
 * LaTeX (and plain-text math) answers → `Node`. A recursive-descent parser over `lex.ts` tokens,
 * written for what final answers look like rather than for full TeX: implicit multiplication,
 * `\frac12`, mixed numbers, intervals with mixed brackets, `\pm`, matrices, relations, units.
 */
import {
  add, call, div, INF, mul, neg, num, PI, pow, sym,
  type Node, type RelOp,
} from './ast.ts';
import { tokenize, type Token } from './lex.ts';
import { normalizeAnswer, normalizeText } from './normalize.ts';
import { TooComplexError, type Deadline } from './options.ts';
import { lookupTable } from './lookup.ts';

export class ParseError extends Error {}

/** Deepest nesting of groups and operators accepted; deeper input is `too_complex`, never a stack overflow. */
const MAX_DEPTH = 200;

/** Function names, as `\cmd` or as plain words (`sqrt(2)`, `np.arcsin(x)` once `np.` is stripped). */
const FUNCTIONS: Record<string, string> = lookupTable({
  sin: 'sin', cos: 'cos', tan: 'tan', cot: 'cot', sec: 'sec', csc: 'csc',
  arcsin: 'asin', arccos: 'acos', arctan: 'atan', arccot: 'acot', arcsec: 'asec', arccsc: 'acsc',
  asin: 'asin', acos: 'acos', atan: 'atan', sinh: 'sinh', cosh: 'cosh', tanh: 'tanh', coth: 'coth',
  ln: 'ln', log: 'log', lg: 'log10', exp: 'exp', sqrt: 'sqrt', cbrt: 'cbrt', abs: 'abs',
  floor: 'floor', ceil: 'ceil', gcd: 'gcd', lcm: 'lcm', max: 'max', min: 'min',
  binomial: 'binom', factorial: 'factorial',
});
const INVERSE_TRIG: Record<string, string> = lookupTable({ sin: 'asin', cos: 'acos', tan: 'atan', cot: 'acot', sec: 'asec', csc: 'acsc' });

const RELATIONS: Record<string, RelOp> = lookupTable({
  '=': '=', '<': '<', '>': '>', '<=': '<=', '>=': '>=', '!=': '!=',
  le: '<=', leq: '<=', leqslant: '<=', ge: '>=', geq: '>=', geqslant: '>=', lt: '<', gt: '>',
  ne: '!=', neq: '!=', approx: 'approx', simeq: 'approx', equiv: '=', in: 'in',
});

const GREEK = new Set([
  'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'varepsilon', 'zeta', 'eta', 'theta', 'vartheta', 'iota', 'kappa',
  'lambda', 'mu', 'nu', 'xi', 'rho', 'varrho', 'sigma', 'varsigma', 'tau', 'upsilon', 'phi', 'varphi', 'chi', 'psi',
  'omega', 'Gamma', 'Delta', 'Theta', 'Lambda', 'Xi', 'Sigma', 'Upsilon', 'Phi', 'Psi', 'Omega', 'hbar', 'ell',
]);
const DECORATIONS = new Set(['dot', 'ddot', 'hat', 'bar', 'overline', 'vec', 'tilde', 'widehat', 'widetilde', 'underline']);
const MATRIX_ENVS = new Set(['pmatrix', 'bmatrix', 'Bmatrix', 'vmatrix', 'Vmatrix', 'matrix', 'smallmatrix', 'array']);
const CONNECTIVES = new Set(['and', 'or']);
const MULTIPLY_OPS = new Set(['*', 'cdot', 'times', 'ast']);
/** Commands that continue an expression rather than start a factor. */
const NON_FACTOR_CMDS = new Set(['cdot', 'times', 'ast', 'div', 'pm', 'mp', 'cup', 'cap', 'setminus', '}', 'rfloor', 'rceil', 'rvert', 'to', 'rightarrow', 'Rightarrow', 'implies', ...Object.keys(RELATIONS)]);

class Parser {
  private pos = 0;
  private depth = 0;
  /** Open `|...|` groups: inside one, `|` closes rather than opening a new factor. */
  private absDepth = 0;

  constructor(
    private readonly src: string,
    private readonly tokens: Token[],
    private readonly deadline: Deadline,
  ) {}

  parse(): Node {
    const node = this.seq(() => this.at('eof'));
    if (!this.at('eof')) this.fail();
    return node;
  }

  // ---- token helpers ----
  private get tok(): Token { return this.tokens[this.pos]!; }
  private at(type: Token['type'], value?: string): boolean {
    return this.tok.type === type && (value === undefined || this.tok.value === value);
  }
  private atOp(value: string): boolean { return this.at('op', value); }
  private atCmd(value: string): boolean { return this.at('cmd', value); }
  private next(): Token {
    this.deadline.check();
    return this.tokens[this.pos++]!;
  }
  private expectOp(value: string): void {
    if (!this.atOp(value)) this.fail(`expected "${value}"`);
    this.pos++;
  }
  private fail(message?: string): never {
    const t = this.tok;
    throw new ParseError(message ?? (t.type === 'eof' ? 'unexpected end of answer' : `unexpected ${JSON.stringify(this.src.slice(t.start, t.end))}`));
  }
  /** Takes the first character of the current num/word token: TeX reads `\frac12` as 1/2. */
  private splitFirstChar(): Token {
    const t = this.tok;
    if (t.value.length === 1) return this.next();
    this.tokens[this.pos] = { ...t, value: t.value.slice(1), start: t.start + 1 };
    return { ...t, value: t.value[0]!, end: t.start + 1 };
  }
  private nested<T>(f: () => T): T {
    if (++this.depth > MAX_DEPTH) throw new TooComplexError(`nesting deeper than ${MAX_DEPTH}`);
    this.deadline.check();
    try {
      return f();
    } finally {
      this.depth--;
    }
  }

  // ---- grammar ----

  /** Items separated by `,` `;` "and" "or" until `done()`; one item stands alone, several form a list. */
  private seq(done: () => boolean): Node {
    const items: Node[] = [];
    for (;;) {
      if (done()) break;
      items.push(this.relation());
      if (!this.separator()) break;
    }
    if (items.length === 0) this.fail();
    return items.length === 1 ? items[0]! : { kind: 'list', items };
  }

  private separator(): boolean {
    if (this.atOp(',') || this.atOp(';')) {
      this.pos++;
      // `19, 46, and 82`: the serial comma's connective separates nothing more.
      if ((this.at('word') && CONNECTIVES.has(this.tok.value.toLowerCase())) || this.atConnectiveText()) this.pos++;
      return true;
    }
    if ((this.at('word') && CONNECTIVES.has(this.tok.value.toLowerCase())) || this.atConnectiveText()) {
      this.pos++;
      if (this.atOp(',')) this.pos++;
      return true;
    }
    return false;
  }

  /** `\text{ and }`, `\text{or}`, `\text{, }` between answers. */
  private atConnectiveText(): boolean {
    return this.at('text') && /^\s*(?:and|or|,)?\s*$/i.test(this.tok.value);
  }

  private relation(): Node {
    const sides = [this.ratio()];
    const ops: RelOp[] = [];
    for (;;) {
      const t = this.tok;
      const op = t.type === 'op' || t.type === 'cmd' ? RELATIONS[t.value] : undefined;
      if (!op) break;
      this.pos++;
      ops.push(op);
      sides.push(this.ratio());
    }
    return ops.length === 0 ? sides[0]! : { kind: 'rel', ops, sides };
  }

  /** `3:5`, `A:B:C`: binds looser than arithmetic, tighter than relations (`A:B = 3:5`). */
  private ratio(): Node {
    const first = this.setExpr();
    if (!this.atOp(':')) return first;
    const items = [first];
    while (this.atOp(':')) {
      this.pos++;
      items.push(this.setExpr());
    }
    return { kind: 'ratio', items };
  }

  private setExpr(): Node {
    let node = this.sum();
    for (;;) {
      if (this.atCmd('cup')) {
        this.pos++;
        const right = this.sum();
        node = { kind: 'union', parts: [...(node.kind === 'union' ? node.parts : [node]), right] };
      } else if (this.atCmd('cap') || this.atCmd('setminus')) {
        const fn = this.next().value;
        node = call(fn, node, this.sum());
      } else {
        return node;
      }
    }
  }

  private sum(): Node {
    return this.nested(() => {
      let terms: Node[] = [];
      if (this.atOp('-')) {
        this.pos++;
        terms.push(neg(this.product()));
      } else if (this.atCmd('pm') || this.atCmd('mp')) {
        this.pos++;
        terms.push({ kind: 'pm', left: num('0'), right: this.product() });
      } else {
        if (this.atOp('+')) this.pos++;
        terms.push(this.product());
      }
      for (;;) {
        if (this.atOp('+')) {
          this.pos++;
          terms.push(this.product());
        } else if (this.atOp('-')) {
          this.pos++;
          terms.push(neg(this.product()));
        } else if (this.atCmd('pm') || this.atCmd('mp')) {
          const sign = this.next().value === 'pm' ? 1 : -1;
          const right = this.product();
          terms = [{ kind: 'pm', left: add(...terms), right: sign > 0 ? right : neg(right) }];
        } else {
          return add(...terms);
        }
      }
    });
  }

  private product(): Node {
    let factors: Node[] = [this.unary()];
    for (;;) {
      const t = this.tok;
      if ((t.type === 'op' && t.value === '*') || (t.type === 'cmd' && MULTIPLY_OPS.has(t.value))) {
        this.pos++;
        factors.push(this.unary());
      } else if (this.atOp('/') || this.atCmd('div')) {
        this.pos++;
        factors = [div(mul(...factors), this.unary())];
      } else if (t.type === 'text' && !this.atConnectiveText()) {
        // \text{...} after a quantity annotates it (a unit, "cm", "sq units"): it is not part of the value.
        this.pos++;
        if (this.atOp('^')) {
          this.pos++;
          this.script();
        }
      } else if (this.startsFactor()) {
        const factor = this.postfix();
        const last = factors.length - 1;
        if (isMixedNumber(factors[last]!, factor)) factors[last] = add(factors[last]!, factor);
        else factors.push(factor);
      } else {
        return mul(...factors);
      }
    }
  }

  private startsFactor(): boolean {
    const t = this.tok;
    switch (t.type) {
      case 'num': return true;
      case 'env': return t.value.startsWith('begin:');
      case 'word': return !CONNECTIVES.has(t.value.toLowerCase());
      case 'cmd': return !NON_FACTOR_CMDS.has(t.value);
      case 'op': return t.value === '(' || t.value === '[' || t.value === '{' || (t.value === '|' && this.absDepth === 0);
      default: return false;
    }
  }

  private unary(): Node {
    return this.nested(() => {
      if (this.atOp('-')) {
        this.pos++;
        return neg(this.unary());
      }
      if (this.atOp('+')) {
        this.pos++;
        return this.unary();
      }
      if (this.atCmd('pm')) {
        this.pos++;
        return { kind: 'pm', left: num('0'), right: this.unary() };
      }
      return this.postfix();
    });
  }

  private postfix(): Node {
    let node = this.primary();
    for (;;) {
      if (this.atOp('^')) {
        this.pos++;
        node = pow(node, this.script());
      } else if (this.atOp('_')) {
        this.pos++;
        node = this.subscripted(node, this.rawScript());
      } else if (this.atOp('!')) {
        this.pos++;
        node = call('factorial', node);
      } else if (this.atOp('%')) {
        this.pos++;
        node = { kind: 'percent', arg: node };
      } else if (this.atOp('°')) {
        this.pos++;
        node = { kind: 'degree', arg: node };
      } else if (this.atOp("'")) {
        this.pos++;
        node = node.kind === 'sym' ? sym(`${node.name}'`) : call('prime', node);
      } else {
        return node;
      }
    }
  }

  /** An exponent: `{...}`, a whole digit run (`2^2023` means 2^{2023} in every answer we have seen), a letter, a command, a signed script. */
  private script(): Node {
    return this.nested(() => {
      const t = this.tok;
      if (t.type === 'op' && (t.value === '-' || t.value === '+')) {
        this.pos++;
        return t.value === '-' ? neg(this.script()) : this.script();
      }
      if (t.type === 'op' && t.value === '{') return this.braced();
      if (t.type === 'op' && t.value === '(') return this.primary();
      if (t.type === 'num') return num(this.next().value);
      if (t.type === 'word') return this.word(this.splitFirstChar().value);
      if (t.type === 'cmd') return this.primary();
      return this.fail('expected an exponent');
    });
  }

  /** A subscript read back verbatim (`x_{0}` → "0", `M_{\odot}` → "\odot"), for naming. */
  private rawScript(): string {
    const t = this.tok;
    if (t.type === 'op' && t.value === '{') {
      const start = t.end;
      let depth = 0;
      while (!this.at('eof')) {
        const u = this.next();
        if (u.type === 'op' && u.value === '{') depth++;
        else if (u.type === 'op' && u.value === '}' && --depth === 0) {
          return this.src.slice(start, u.start).replace(/\\text\{([^}]*)\}/g, '$1').replace(/[\s{}]/g, '');
        }
      }
      this.fail('unbalanced braces');
    }
    if (t.type === 'num' || t.type === 'word') return this.splitFirstChar().value;
    if (t.type === 'cmd') return `\\${this.next().value}`;
    return this.fail('expected a subscript');
  }

  private subscripted(base: Node, sub: string): Node {
    if (base.kind === 'num' && /^\d+$/.test(base.text) && /^\d+$/.test(sub)) {
      const b = Number(sub);
      if (b < 2 || b > 36) this.fail(`base ${b} out of range`);
      return { kind: 'based', digits: base.text, base: b };
    }
    if (base.kind === 'sym') return sym(`${base.name}_${sub}`);
    if (base.kind === 'const') return sym(`${base.name}_${sub}`);
    return call('sub', base, sym(sub));
  }

  private primary(): Node {
    return this.nested(() => {
      const t = this.tok;
      switch (t.type) {
        case 'num': return num(this.next().value);
        case 'word': return this.applied(this.wordToken());
        case 'cmd': return this.applied(this.command());
        case 'env': return this.environment();
        case 'text': return { kind: 'text', text: this.next().value.trim() };
        case 'op': return this.group();
        default: return this.fail();
      }
    });
  }

  /**
   * `f(x)`, `I(0)`, `u(t)`, `\theta(t)`: a letter directly followed by parentheses holding only
   * letters and numbers is a function application (`f(x) = 2x`), evaluated as an opaque function.
   * Anything else, `n(n+1)`, is a product.
   */
  private applied(node: Node): Node {
    if (node.kind !== 'sym' || !this.atOp('(') || this.tok.start !== this.tokens[this.pos - 1]!.end) return node;
    let i = this.pos + 1;
    for (; ; i++) {
      const t = this.tokens[i]!;
      if (t.type === 'op' && t.value === ')') break;
      const simple = t.type === 'num' || (t.type === 'word' && t.value.length === 1) || (t.type === 'op' && t.value === ',') || (t.type === 'cmd' && GREEK.has(t.value));
      if (!simple) return node;
    }
    if (i === this.pos + 1) return node;
    this.pos++;
    const inner = this.seq(() => this.atOp(')'));
    this.expectOp(')');
    return call(node.name, ...(inner.kind === 'list' ? inner.items : [inner]));
  }

  private group(): Node {
    const open = this.next().value;
    if (open === '(' || open === '[') {
      const node = this.seq(() => this.atOp(')') || this.atOp(']'));
      if (!this.atOp(')') && !this.atOp(']')) this.fail(`expected a closing bracket for "${open}"`);
      const close = this.next().value as ')' | ']';
      if (node.kind !== 'list') {
        // One item in brackets is grouping, `(x+1)`, whichever bracket closes it.
        return node;
      }
      return { kind: 'tuple', open, close, items: node.items };
    }
    if (open === '{') return this.bracedRest();
    if (open === '|') {
      this.absDepth++;
      try {
        const inner = this.sum();
        this.expectOp('|');
        return call('abs', inner);
      } finally {
        this.absDepth--;
      }
    }
    this.pos--;
    return this.fail();
  }

  /** `{ ... }`: grouping, or a set when it holds several items (plain-text `{1, 2}`). */
  private braced(): Node {
    this.expectOp('{');
    return this.bracedRest();
  }

  private bracedRest(): Node {
    const saveAbs = this.absDepth;
    this.absDepth = 0;
    const node = this.seq(() => this.atOp('}'));
    this.absDepth = saveAbs;
    this.expectOp('}');
    return node.kind === 'list' ? { kind: 'set', items: node.items } : node;
  }

  /** One TeX argument: a `{group}`, or a single character/command (`\frac12`, `\sqrt2`, `\frac\pi2`). */
  private argument(): Node {
    const t = this.tok;
    if (t.type === 'op' && t.value === '{') return this.braced();
    if (t.type === 'num' || t.type === 'word') {
      const c = this.splitFirstChar().value;
      return t.type === 'num' ? num(c) : this.word(c);
    }
    if (t.type === 'cmd') return this.primary();
    return this.fail('expected an argument');
  }

  private wordToken(): Node {
    const w = this.tok.value;
    const lower = w.toLowerCase();
    if (FUNCTIONS[lower] && w.length > 1) {
      this.pos++;
      return this.applyFunction(lower);
    }
    if (lower === 'pi') return (this.pos++, PI);
    if (lower === 'inf' || lower === 'infty' || lower === 'infinity' || w === 'oo') return (this.pos++, INF);
    // Juxtaposed letters are a product (`ab` = a·b); take one and leave the rest for the product loop.
    return this.word(this.splitFirstChar().value);
  }

  private word(letter: string): Node {
    if (letter === 'e') return { kind: 'const', name: 'e' };
    if (letter === 'i') return { kind: 'const', name: 'i' };
    return sym(letter);
  }

  private command(): Node {
    const name = this.next().value;
    switch (name) {
      case 'frac': {
        const n = this.argument();
        return div(n, this.argument());
      }
      case 'binom': {
        const n = this.argument();
        return call('binom', n, this.argument());
      }
      case 'sqrt': {
        if (this.atOp('[')) {
          this.pos++;
          const index = this.sum();
          this.expectOp(']');
          return call('root', this.argument(), index);
        }
        return call('sqrt', this.argument());
      }
      case 'pi': return PI;
      case 'infty': case 'infin': return INF;
      case 'emptyset': case 'varnothing': return { kind: 'empty' };
      case 'imath': return { kind: 'const', name: 'i' };
      case '{': {
        const saveAbs = this.absDepth;
        this.absDepth = 0;
        if (this.atCmd('}')) {
          this.pos++;
          return { kind: 'empty' };
        }
        const builder = this.atSetBuilder();
        const node = this.seq(() => this.atCmd('}'));
        this.absDepth = saveAbs;
        if (!this.atCmd('}')) this.fail('expected "\\}"');
        this.pos++;
        if (builder) return node;
        return { kind: 'set', items: node.kind === 'list' ? node.items : [node] };
      }
      case 'lfloor': case 'lceil': {
        const inner = this.sum();
        const close = name === 'lfloor' ? 'rfloor' : 'rceil';
        if (!this.atCmd(close)) this.fail(`expected "\\${close}"`);
        this.pos++;
        return call(name === 'lfloor' ? 'floor' : 'ceil', inner);
      }
      case 'lvert': case 'vert': case '|': {
        const inner = this.sum();
        if (!(this.atCmd('rvert') || this.atCmd('vert') || this.atCmd('|'))) this.fail('expected a closing "|"');
        this.pos++;
        return call('abs', inner);
      }
      case 'mathbb': {
        const set = this.argument();
        return sym(`mathbb_${set.kind === 'sym' ? set.name : '?'}`);
      }
      case 'dots': case 'ldots': case 'cdots': return sym('...');
      default:
        if (FUNCTIONS[name]) return this.applyFunction(name);
        if (GREEK.has(name)) return sym(name);
        if (DECORATIONS.has(name)) {
          const arg = this.argument();
          return arg.kind === 'sym' ? sym(`${name}(${arg.name})`) : call(name, arg);
        }
        // An unknown command: an opaque function of its {arguments}, or an opaque symbol.
        if (this.atOp('{')) {
          const args = [this.braced()];
          while (this.atOp('{')) args.push(this.braced());
          return call(`\\${name}`, ...args);
        }
        return sym(`\\${name}`);
    }
  }

  /**
   * `\{x \mid 0 < x < 1\}`, `\{x : x > 2\}`, `\{x \in \mathbb{R} \mid …\}`: set-builder notation
   * stands for its condition, so the set compares as the relation (and interval) it describes.
   * When the set opens that way, moves past the variable and its bar and returns true.
   */
  private atSetBuilder(): boolean {
    const token = (i: number): Token => this.tokens[Math.min(i, this.tokens.length - 1)]!;
    const is = (i: number, type: Token['type'], ...values: string[]) => token(i).type === type && values.includes(token(i).value);
    const t = this.tok;
    if (!((t.type === 'word' && t.value.length === 1) || (t.type === 'cmd' && GREEK.has(t.value)))) return false;
    let i = this.pos + 1;
    if (is(i, 'cmd', 'in')) {
      // `\in \mathbb{R}`, `\in \mathbb R`, `\in S`: one set between the variable and the bar.
      i += is(i + 1, 'cmd', 'mathbb') ? (is(i + 2, 'op', '{') ? 5 : 3) : 2;
    }
    if (!(is(i, 'cmd', 'mid', '|', 'vert') || is(i, 'op', ':', '|'))) return false;
    this.pos = i + 1;
    return true;
  }

  /**
   * `\sin x`, `\sin^2 x`, `\sin^{-1} x`, `\log_2 n`, `\log(x)`, `sqrt(2)`, `gcd(a, b)`. Without
   * parentheses the argument is the run of juxtaposed factors up to the next function or operator
   * (`\sin 2x` is sin(2x); `\sin x \cos x` is sin(x)·cos(x)).
   */
  private applyFunction(word: string): Node {
    let fn = FUNCTIONS[word]!;
    let base: Node | undefined;
    let power: Node | undefined;
    if (this.atOp('_')) {
      this.pos++;
      base = this.script();
    }
    if (this.atOp('^')) {
      this.pos++;
      power = this.script();
      if (power.kind === 'neg' && power.arg.kind === 'num' && power.arg.text === '1' && INVERSE_TRIG[word]) {
        fn = INVERSE_TRIG[word]!;
        power = undefined;
      }
    }
    let args: Node[];
    if (this.atOp('(')) {
      this.pos++;
      const inner = this.seq(() => this.atOp(')'));
      this.expectOp(')');
      args = inner.kind === 'list' ? inner.items : [inner];
    } else if (this.atOp('{')) {
      args = [this.braced()];
    } else {
      const factors = [this.unaryFactor()];
      while (this.startsFactor() && !this.atFunction()) factors.push(this.postfix());
      args = [mul(...factors)];
    }
    let node = base ? call('log', args[0]!, base) : call(fn, ...args);
    if (power) node = pow(node, power);
    return node;
  }

  private unaryFactor(): Node {
    if (this.atOp('-')) {
      this.pos++;
      return neg(this.postfix());
    }
    return this.postfix();
  }

  private atFunction(): boolean {
    const t = this.tok;
    return (t.type === 'cmd' || t.type === 'word') && FUNCTIONS[t.type === 'word' ? t.value.toLowerCase() : t.value] !== undefined && t.value.length > 1;
  }

  private environment(): Node {
    const env = this.next().value.slice('begin:'.length);
    if (!MATRIX_ENVS.has(env)) this.fail(`unsupported environment ${env}`);
    // array's column spec, {cc}
    if (env === 'array' && this.atOp('{')) this.rawScript();
    const rows: Node[][] = [[]];
    const endToken = `end:${env}`;
    while (!this.at('env', endToken)) {
      if (this.at('eof')) this.fail(`missing \\end{${env}}`);
      if (this.atOp('&')) {
        this.pos++;
        continue;
      }
      if (this.atOp('\\\\')) {
        this.pos++;
        rows.push([]);
        continue;
      }
      rows[rows.length - 1]!.push(this.relation());
    }
    this.pos++;
    const filled = rows.filter((r) => r.length > 0);
    if (filled.length === 0 || filled.some((r) => r.length !== filled[0]!.length)) this.fail('ragged matrix');
    return { kind: 'matrix', rows: filled };
  }
}

/** `1\frac{4}{5}` is the mixed number 9/5, not 1·4/5. */
function isMixedNumber(left: Node, right: Node): boolean {
  const isInt = (n: Node) => n.kind === 'num' && /^\d+$/.test(n.text);
  return isInt(left) && right.kind === 'div' && isInt(right.num) && isInt(right.den);
}

const CHOICE_RE = /^\(?\s*([A-E])\s*\)?$/;
const EMPTY_RE = /^(?:no\s+(?:real\s+)?(?:solutions?|roots?|answer)|none|empty\s*set|\\emptyset|\\varnothing|\\\{\s*\\\}|\{\s*\})$/i;
/** Function and constant words that make a letters-only answer math rather than prose. */
export const MATH_WORDS: ReadonlySet<string> = new Set([...Object.keys(FUNCTIONS), 'pi', 'inf', 'infty', 'infinity', 'oo']);

/** Answers that are words (`\text{Evelyn}`, `east`) or letters of a multiple choice. */
function classifyText(s: string): Node | undefined {
  const plain = s.replace(/\\text(?:bf)?\{([^{}]*)\}/g, '$1').replace(/\\textbf|\\text/g, '').trim();
  const choice = CHOICE_RE.exec(plain);
  if (choice && (plain.startsWith('(') || s.includes('\\text') || s === choice[1])) return { kind: 'choice', letter: choice[1]! };
  if (EMPTY_RE.test(plain)) return { kind: 'empty' };
  if (/^[A-Za-z][A-Za-z\s'-]*$/.test(plain)) {
    const words = plain.split(/[\s'-]+/);
    const prose = words.some((w) => w.length >= 3 && !MATH_WORDS.has(w.toLowerCase()));
    if (prose || s.includes('\\text')) return { kind: 'text', text: normalizeText(plain) };
  }
  return undefined;
}

export interface Parsed {
  node: Node;
  /** The normalised string the node came from. */
  normalized: string;
}

/** Parses one answer string. Throws ParseError (or LexError), TooComplexError, TimeoutError. */
export function parseAnswer(answer: string, deadline: Deadline): Parsed {
  const normalized = normalizeAnswer(answer);
  if (normalized === '') throw new ParseError('empty answer');
  const asText = classifyText(normalized);
  if (asText) return { node: asText, normalized };
  const node = new Parser(normalized, tokenize(normalized), deadline).parse();
  return { node, normalized };
}
