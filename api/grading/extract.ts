/**
 * The final answer of a model response: the last \boxed{} / \fbox{} (several boxes in the closing
 * line are one answer list), else the last "final answer is …" / "the answer is …" / "Answer: …",
 * else the whole response when it is one short line, else optionally the last number. Code and
 * tool-output blocks are ignored: a code-integrated response prints intermediate values and may
 * even print "\boxed" from code.
 */

export type AnswerSource = 'boxed' | 'phrase' | 'whole' | 'last_number';

/** Longest one-line response taken whole as its own answer. */
const BARE_ANSWER_MAX = 300;

export interface Extraction {
  answer: string | null;
  source: AnswerSource | null;
  /** The response was cut off (an unclosed code block or \boxed{), or the caller said so. */
  truncated: boolean;
}

/** Fenced blocks (```python, ```output, ...) and tool tags; an unclosed one runs to the end. */
const BLOCK_RE = /```[\s\S]*?(?:```|$)|<(code|output|interpreter|tool_call|tool_response|execution_output)>[\s\S]*?(?:<\/\1>|$)/g;

function stripBlocks(response: string): { text: string; unclosed: boolean } {
  let unclosed = false;
  const text = response.replace(BLOCK_RE, (block, tag: string | undefined) => {
    const closed = tag ? block.endsWith(`</${tag}>`) : block.length >= 6 && block.endsWith('```');
    if (!closed) unclosed = true;
    return '\n';
  });
  return { text, unclosed };
}

interface Box {
  start: number;
  end: number;
  content: string;
}

/**
 * For each `{` the index of its matching `}` (absent when it never closes, as in a truncated
 * response). One pass, so a response full of unclosed `\boxed{` stays linear.
 */
function matchBraces(text: string): Map<number, number> {
  const matches = new Map<number, number>();
  const open: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === '{') open.push(i);
    else if (c === '}' && open.length > 0) matches.set(open.pop()!, i);
  }
  return matches;
}

const BOX_RE = /\\(?:boxed|fbox)(?![A-Za-z])/g;

function findBoxes(text: string): { boxes: Box[]; unclosed: boolean } {
  const boxes: Box[] = [];
  let unclosed = false;
  let braces: Map<number, number> | undefined;
  for (const m of text.matchAll(BOX_RE)) {
    let i = m.index + m[0].length;
    while (text[i] === ' ') i++;
    if (text[i] === '{') {
      braces ??= matchBraces(text);
      const close = braces.get(i);
      if (close !== undefined) boxes.push({ start: m.index, end: close + 1, content: text.slice(i + 1, close).trim() });
      else unclosed = true;
    } else {
      // `\boxed 5`: TeX takes the next token.
      const token = /^[^\s$]+/.exec(text.slice(i))?.[0];
      if (token) boxes.push({ start: m.index, end: i + token.length, content: token });
    }
  }
  return { boxes: boxes.filter((b) => b.content !== ''), unclosed };
}

/** Boxes separated only by "and", commas, math delimiters or `y =` belong to one answer: `\boxed{2} and \boxed{3}`. */
const BETWEEN_BOXES_RE = /^[\s,;$.]*(?:and|or|,|\\text\{\s*(?:and|or)\s*\})?[\s,;$]*(?:[A-Za-z](?:_\{?\w+\}?)?\s*=\s*)?$/i;

function lastBoxedAnswer(text: string, boxes: Box[]): string {
  let first = boxes.length - 1;
  while (first > 0 && BETWEEN_BOXES_RE.test(text.slice(boxes[first - 1]!.end, boxes[first]!.start))) first--;
  return boxes.slice(first).map((b) => b.content).join(', ');
}

const PHRASE_RE = /(?:final\s+answer|the\s+answer)\s*(?:is|:)\s*:?|^[\s*#]*answer\s*\**\s*:\**/gim;

/** The answer after the last "answer is" phrase: its first math span, or the text to the end of the sentence. */
function phraseAnswer(text: string): string | null {
  let last: RegExpExecArray | undefined;
  for (const m of text.matchAll(PHRASE_RE)) last = m;
  if (!last) return null;
  const rest = text.slice(last.index + last[0].length).split('\n', 1)[0]!.trim();
  const math = /^\*{0,2}\s*(?:\$\$?([^$]+)\$\$?|\\\((.+?)\\\)|\\\[(.+?)\\\])/.exec(rest);
  const answer = math ? (math[1] ?? math[2] ?? math[3])! : rest.split(/\.(?:\s|$)|\s+I hope\b/i, 1)[0]!;
  const cleaned = answer.replace(/\*\*/g, '').replace(/[\s.]+$/, '').trim();
  return cleaned === '' ? null : cleaned;
}

const NUMBER_RE = /-?\d+(?:,\d{3})*(?:\.\d+)?(?:\s*\/\s*\d+)?/g;

function lastNumber(text: string): string | null {
  let last: string | null = null;
  for (const m of text.matchAll(NUMBER_RE)) last = m[0];
  return last;
}

export function extractAnswer(response: string, options: { lastNumberFallback: boolean; truncated?: boolean }): Extraction {
  const { text, unclosed } = stripBlocks(response);
  const { boxes, unclosed: unclosedBox } = findBoxes(text);
  if (boxes.length > 0) return { answer: lastBoxedAnswer(text, boxes), source: 'boxed', truncated: false };
  const phrase = phraseAnswer(text);
  if (phrase !== null) return { answer: phrase, source: 'phrase', truncated: false };
  // A cut-off response's last line or number is whatever it was computing, not its answer.
  if (options.truncated || unclosed || unclosedBox) return { answer: null, source: null, truncated: true };
  // A "response" that is one short line is the answer itself (`1/2`, `\frac{1}{2}`, `Evelyn`).
  const whole = text.trim();
  if (whole !== '' && whole.length <= BARE_ANSWER_MAX && !whole.includes('\n')) return { answer: whole, source: 'whole', truncated: false };
  const number = options.lastNumberFallback ? lastNumber(text) : null;
  if (number !== null) return { answer: number, source: 'last_number', truncated: false };
  return { answer: null, source: null, truncated: false };
}

/** An answer given directly may still be wrapped: `\boxed{3}`, `$3$`. */
export function unwrapAnswer(answer: string): string {
  const { boxes } = findBoxes(answer);
  return boxes.length > 0 ? lastBoxedAnswer(answer, boxes) : answer.trim();
}
