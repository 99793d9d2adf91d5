/**
 * Reading an answer out of prose, as Math-Verify does when there is no box: math spans (`$…$`,
 * `\(…\)`, `\[…\]`, `$$…$$`), numbers, and whether a piece of text is prose or a bare answer.
 * Every function here is one pass over its input (no regex that can backtrack across a long run),
 * because responses can be hundreds of kilobytes.
 */
import { isUnitWord } from './normalize.ts';
import { MATH_WORDS } from './parse.ts';

export interface Span {
  start: number;
  end: number;
  content: string;
}

/** Short English words that a line of bare math never contains ("is", "of", "so"); `in` and `or` are math. */
const SHORT_PROSE_WORDS = new Set(['is', 'of', 'so', 'we', 'it', 'be', 'at', 'to', 'an', 'as', 'if', 'by', 'on', 'us', 'he', 'do', 'no', 'am', 'my', 'me', 'up']);
/** Words that belong to a math answer: functions and constants, connectives, units, percent and degree words. */
const ANSWER_WORDS = new Set([...MATH_WORDS, 'and', 'or', 'mod', 'pmod', 'percent', 'percentage', 'pct', 'degree', 'degrees']);

function isProseWord(word: string): boolean {
  const lower = word.toLowerCase();
  if (ANSWER_WORDS.has(lower) || isUnitWord(word)) return false;
  // Point and figure names: ABC, PQRS.
  if (word.length <= 4 && word === word.toUpperCase()) return false;
  return word.length >= 3 || SHORT_PROSE_WORDS.has(word);
}

/** Text groups (their words are part of the answer), commands (`\frac`), and plain words. */
const WORD_SCAN_RE = /\\(?:text|mbox|textbf|textit|textrm|mathrm|operatorname)\s*\{[^{}]*\}|\\[A-Za-z]+|[A-Za-z]+/g;

/** Index of the first prose word of `text` ("The smallest $k$ is 19" → 0), or -1 when it is bare math. */
export function firstProseWord(text: string): number {
  for (const m of text.matchAll(WORD_SCAN_RE)) {
    // Letters right after a digit are variables of a product (`2abc`), not a word.
    if (m[0][0] !== '\\' && !/\d/.test(text[m.index - 1] ?? '') && isProseWord(m[0])) return m.index;
  }
  return -1;
}

/**
 * Every math span, left to right: `$…$` (within one line, not opened right after a digit, as in
 * "5$"), `$$…$$`, `\(…\)` and `\[…\]`; `\$` is a dollar sign. Linear: each search for a closer
 * starts where the previous one stopped, and a closer found missing is not searched for again.
 */
export function mathSpans(text: string): Span[] {
  const spans: Span[] = [];
  const missing = new Set<string>();
  const find = (closer: string, from: number): number => {
    if (missing.has(closer)) return -1;
    const at = text.indexOf(closer, from);
    if (at < 0) missing.add(closer);
    return at;
  };
  let lineEnd = -1;
  const endOfLine = (i: number): number => {
    if (lineEnd < i) {
      lineEnd = text.indexOf('\n', i);
      if (lineEnd < 0) lineEnd = text.length;
    }
    return lineEnd;
  };
  const span = (start: number, contentStart: number, close: number, closerLength: number) => {
    spans.push({ start, end: close + closerLength, content: text.slice(contentStart, close) });
    return close + closerLength;
  };
  const special = /[\\$]/g;
  let i = 0;
  while (i < text.length) {
    special.lastIndex = i;
    const m = special.exec(text);
    if (!m) break;
    i = m.index;
    const next = text[i + 1];
    if (text[i] === '\\') {
      const close = next === '(' ? find('\\)', i + 2) : next === '[' ? find('\\]', i + 2) : -1;
      i = close >= 0 ? span(i, i + 2, close, 2) : i + 2;
    } else if (next === '$') {
      const close = find('$$', i + 2);
      i = close >= 0 ? span(i, i + 2, close, 2) : i + 2;
    } else {
      const close = /\d/.test(text[i - 1] ?? '') ? -1 : closingDollar(text, i + 1);
      i = close > i + 1 && close < endOfLine(i) ? span(i, i + 1, close, 1) : i + 1;
    }
  }
  return spans;
}

/** The next `$` that is not `\$`, or -1. */
function closingDollar(text: string, from: number): number {
  let at = text.indexOf('$', from);
  while (at > 0 && text[at - 1] === '\\') at = text.indexOf('$', at + 1);
  return at;
}

/**
 * What may stand between two answers of one list: spacing (`\quad`, `\ `, `~`), commas and
 * semicolons, "and"/"or" (plain or in `\text{}`), math delimiters, and a `y =` naming the next one.
 */
const GAP_TOKEN_RE = /[\s,;.$&~]+|\\[,;:! ]|\\q?quad(?![A-Za-z])|\\hspace\*?\{[^{}]*\}|\\text\{\s*(?:and|or|,|;)?\s*\}|\\[()[\]]|(?:and|or)(?![A-Za-z])|[A-Za-z](?:_\{?\w+\}?)?\s*=/y;

/** Whether `gap`, the text between two boxes or spans, joins them into one answer list. */
export function joinsAnswers(gap: string): boolean {
  for (let i = 0; i < gap.length; ) {
    GAP_TOKEN_RE.lastIndex = i;
    const m = GAP_TOKEN_RE.exec(gap);
    if (!m) return false;
    i += m[0].length;
  }
  return true;
}

/** The contents of `items[last]` and of the items before it that `joinsAnswers` joins to it, as one list. */
export function joinedContents(text: string, items: Span[], last: number): string {
  let first = last;
  while (first > 0 && joinsAnswers(text.slice(items[first - 1]!.end, items[first]!.start))) first--;
  return items.slice(first, last + 1).map((s) => s.content.trim()).join(', ');
}

const NUMBER_RE = /-?\d+(?:,\d{3})*(?:\.\d+)?(?:\s*\/\s*\d+)?/g;

export function lastNumber(text: string): string | null {
  let last: string | null = null;
  for (const m of text.matchAll(NUMBER_RE)) last = m[0];
  return last;
}

export interface MathItem {
  answer: string;
  source: 'math_span' | 'last_number';
}

/**
 * The last math item of a text: its last math span that is not prose (several joined by "and"
 * form one list), unless a number comes after it (`numbers`). A span of prose, such as the text
 * between two dollar amounts, is not math.
 */
export function lastMathItem(text: string, numbers: boolean): MathItem | null {
  const spans = mathSpans(text).filter((s) => s.content.trim() !== '' && firstProseWord(s.content) < 0);
  const last = spans.length - 1;
  const number = numbers ? lastNumber(last >= 0 ? text.slice(spans[last]!.end) : text) : null;
  if (number !== null) return { answer: number, source: 'last_number' };
  return last >= 0 ? { answer: joinedContents(text, spans, last), source: 'math_span' } : null;
}
