/** Splits a normalised answer (LaTeX or plain text math) into tokens for the parser. */

export type TokenType = 'num' | 'word' | 'cmd' | 'text' | 'env' | 'op' | 'eof';

export interface Token {
  type: TokenType;
  /** num: the digits as written; word: letters; cmd: name without backslash; text: raw content;
   *  env: "begin:name" or "end:name"; op: the operator characters. */
  value: string;
  /** Offsets into the source, so subscripts can be read back verbatim. */
  start: number;
  end: number;
}

export class LexError extends Error {}

const TWO_CHAR_OPS = new Set(['<=', '>=', '!=', '==', '\\\\']);
const ONE_CHAR_OPS = new Set([...'+-*/^_=<>!,;|&\'()[]{}%°:?.']);

/** Reads a `{...}` group starting at `open` (the index of `{`); returns the index after `}`. */
function skipBraces(src: string, open: number): number {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') i++;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i + 1;
  }
  throw new LexError('unbalanced braces');
}

const NUMBER_RE = /\d+(?:\.\d*)?|\.\d+/y;
/** Scientific notation `4.5e33`, `1e-5`; not when a letter or `^` follows (`3e^{2t}` is 3·e^{2t}). */
const EXPONENT_RE = /[eE][+-]?\d+(?![A-Za-z^{(])/y;
const WORD_RE = /[A-Za-z]+/y;
const CMD_RE = /\\([A-Za-z]+)/y;

export function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const push = (type: TokenType, value: string, start: number, end: number) => tokens.push({ type, value, start, end });
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    NUMBER_RE.lastIndex = i;
    const numMatch = /[\d.]/.test(c) ? NUMBER_RE.exec(src) : null;
    if (numMatch) {
      let end = i + numMatch[0].length;
      EXPONENT_RE.lastIndex = end;
      const exp = EXPONENT_RE.exec(src);
      if (exp) end += exp[0].length;
      push('num', src.slice(i, end), i, end);
      i = end;
      continue;
    }
    if (/[A-Za-z]/.test(c)) {
      WORD_RE.lastIndex = i;
      const w = WORD_RE.exec(src)![0];
      push('word', w, i, i + w.length);
      i += w.length;
      continue;
    }
    if (c === '\\') {
      CMD_RE.lastIndex = i;
      const m = CMD_RE.exec(src);
      if (!m) {
        // `\\` (row separator) or an escaped character: `\{`, `\}`, `\|`.
        if (src[i + 1] === '\\') push('op', '\\\\', i, i + 2);
        else push('cmd', src[i + 1] ?? '', i, i + 2);
        i += 2;
        continue;
      }
      const name = m[1]!;
      let end = i + m[0].length;
      if (name === 'text' || name === 'begin' || name === 'end') {
        let open = end;
        while (src[open] === ' ') open++;
        if (src[open] !== '{') throw new LexError(`\\${name} without a {group}`);
        end = skipBraces(src, open);
        const content = src.slice(open + 1, end - 1);
        if (name === 'text') push('text', content, i, end);
        else push('env', `${name}:${content.trim().replace(/\*$/, '')}`, i, end);
      } else {
        push('cmd', name, i, end);
      }
      i = end;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (TWO_CHAR_OPS.has(two)) {
      push('op', two === '==' ? '=' : two, i, i + 2);
      i += 2;
      continue;
    }
    if (ONE_CHAR_OPS.has(c)) {
      push('op', c, i, i + 1);
      i++;
      continue;
    }
    throw new LexError(`unexpected character ${JSON.stringify(c)}`);
  }
  tokens.push({ type: 'eof', value: '', start: src.length, end: src.length });
  return tokens;
}
