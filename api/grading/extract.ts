/**
 * The final answer of a model response, read the way Math-Verify reads one (mode `math-verify`):
 * code and tool-output blocks are removed first (a code-integrated response prints intermediate
 * values and may even print "\boxed" from code); then the last \boxed{} / \fbox{} (boxes joined by
 * "and", commas or spacing are one answer list), unless a "final answer is …" follows it; else the
 * last "final answer is …" / "the answer is …" / "Answer: …"; else the last line when it is bare
 * math; else the last math span or (option) the last number. The paper's seed evaluation (mode
 * `cir-paper`) reads the last box anywhere and the last number of the last line: `paperAnswers`.
 * Every step is linear in the length of the response.
 */
import { undoDoubleEscaping } from './normalize.ts';
import { firstProseWord, joinedContents, joinsAnswers, lastMathItem, lastNumber, mathSpans, type Span } from './prose.ts';

export type AnswerSource = 'boxed' | 'phrase' | 'whole' | 'last_line' | 'math_span' | 'last_number';

/** Longest line taken whole as its own answer. */
const BARE_ANSWER_MAX = 300;

export interface Extraction {
  answer: string | null;
  source: AnswerSource | null;
  /** The response was cut off (an unclosed code block or \boxed{), or the caller said so. */
  truncated: boolean;
}

export interface ExtractOptions {
  /** Whether a response of several lines with nothing better yields its last number. */
  lastNumberFallback: boolean;
  /** The generation stopped at its length limit. */
  truncated?: boolean;
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
/** `\boxed 5`: TeX takes the next token. */
const BARE_BOX_TOKEN_RE = /[^\s$]+/y;

function findBoxes(text: string): { boxes: Span[]; unclosed: boolean } {
  const boxes: Span[] = [];
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
      BARE_BOX_TOKEN_RE.lastIndex = i;
      const token = BARE_BOX_TOKEN_RE.exec(text)?.[0];
      if (token) boxes.push({ start: m.index, end: i + token.length, content: token });
    }
  }
  return { boxes: boxes.filter((b) => b.content !== ''), unclosed };
}

/** "final answer is", "Final Answer:", "the answer is", and "Answer:" opening a line. */
const PHRASE_RE = /(final\s+answer|the\s+answer)\**\s*(?:is(?![A-Za-z])|:)\s*:?|^[ \t*#]*answer[ \t]*\**[ \t]*:\**/gim;

interface Phrase {
  /** Where the answer after the phrase starts. */
  end: number;
  /** "final answer …", which overrides an earlier box. */
  final: boolean;
}

function lastPhrase(text: string, from: number): Phrase | null {
  let last: Phrase | null = null;
  PHRASE_RE.lastIndex = from;
  for (let m = PHRASE_RE.exec(text); m; m = PHRASE_RE.exec(text)) {
    last = { end: m.index + m[0].length, final: /^final/i.test(m[1] ?? '') };
  }
  return last;
}

/** "." ending a sentence, or a following "I hope it is correct" (only the first space of a run may start it: linear). */
const SENTENCE_END_RE = /\.(?=\s|$)|(?<!\s)\s+I hope\b/i;

/**
 * The answer in the rest of a phrase's line: a math span right after it (several joined by "and"
 * are one list); else the sentence when it is bare math; else its bare-math start ("5 because …");
 * else its last math span or number ("The smallest $k$ is 19"); else the sentence itself (text answers).
 */
function phraseAnswer(text: string, phrase: Phrase): string | null {
  const lineEnd = text.indexOf('\n', phrase.end);
  const rest = text.slice(phrase.end, lineEnd < 0 ? text.length : lineEnd).replace(/^[\s*]+/, '');
  const spans = mathSpans(rest);
  if (spans[0]?.start === 0) {
    let last = 0;
    while (last + 1 < spans.length && joinsAnswers(rest.slice(spans[last]!.end, spans[last + 1]!.start))) last++;
    const joined = joinedContents(rest, spans, last);
    return joined === '' ? null : joined;
  }
  const end = SENTENCE_END_RE.exec(rest)?.index ?? rest.length;
  const sentence = trimAnswer(rest.slice(0, end).replace(/\*\*/g, ''));
  if (sentence === '') return null;
  const prose = firstProseWord(sentence);
  if (prose < 0) return sentence;
  const lead = trimAnswer(sentence.slice(0, prose));
  if (/[\d\\]/.test(lead)) return lead;
  return lastMathItem(sentence, true)?.answer ?? sentence;
}

/** Trailing spaces and sentence punctuation; linear (only the first character of a run may start the match). */
const trimAnswer = (s: string) => s.replace(/(?<![\s.,;:])[\s.,;:]+$/, '').trim();

/** The last non-empty line, without the `**bold**` of markdown. */
function lastLine(text: string): string {
  const trimmed = text.trimEnd();
  const line = trimmed.slice(trimmed.lastIndexOf('\n') + 1).trim();
  const bold = /^\*\*([^*]+)\*\*$/.exec(line);
  return bold ? bold[1]!.trim() : line;
}

const extraction = (answer: string | null, source: AnswerSource | null, truncated = false): Extraction => ({ answer, source, truncated });

export function extractAnswer(response: string, options: ExtractOptions): Extraction {
  const { text, unclosed } = stripBlocks(undoDoubleEscaping(response));
  const { boxes, unclosed: unclosedBox } = findBoxes(text);
  if (boxes.length > 0) {
    // A "final answer is 5" after the last box is the model's last word (as in Math-Verify, where both rank equal and the later wins).
    const phrase = lastPhrase(text, boxes[boxes.length - 1]!.end);
    const later = phrase?.final ? phraseAnswer(text, phrase) : null;
    if (later !== null && firstProseWord(later) < 0) return extraction(later, 'phrase');
    return extraction(joinedContents(text, boxes, boxes.length - 1), 'boxed');
  }
  const phrase = lastPhrase(text, 0);
  const answer = phrase && phraseAnswer(text, phrase);
  if (answer) return extraction(answer, 'phrase');
  // A cut-off response's last line or number is whatever it was computing, not its answer.
  if (options.truncated || unclosed || unclosedBox) return extraction(null, null, true);
  const line = lastLine(text);
  const oneLine = !text.trim().includes('\n');
  if (/[A-Za-z0-9]/.test(line) && line.length <= BARE_ANSWER_MAX) {
    // A line of bare math is the answer itself (`1/2`, `\frac{1}{2}`, `x = 5`, `Evelyn`).
    if (firstProseWord(line) < 0) return extraction(line, oneLine ? 'whole' : 'last_line');
    // One sentence answers with its last math span or number: "The result is $12$."
    if (oneLine) {
      const item = lastMathItem(line, true);
      return item ? extraction(item.answer, item.source) : extraction(line, 'whole');
    }
  }
  const item = lastMathItem(text, options.lastNumberFallback);
  return item ? extraction(item.answer, item.source) : extraction(null, null);
}

/**
 * The two readings of the paper's seed evaluation (mode `cir-paper`): the content of the last
 * `\boxed{}` anywhere, code and output blocks included, and the last number of the last line.
 */
export function paperAnswers(response: string): { boxed: string | null; lastLineNumber: string | null } {
  const text = undoDoubleEscaping(response);
  const { boxes } = findBoxes(text);
  return { boxed: boxes.length > 0 ? boxes[boxes.length - 1]!.content : null, lastLineNumber: lastNumber(lastLine(text)) };
}

/** An answer given directly may still be wrapped (`\boxed{3}`, `$3$`) or double-escaped (`\\frac{1}{2}`). */
export function unwrapAnswer(answer: string): string {
  const text = undoDoubleEscaping(answer);
  const { boxes } = findBoxes(text);
  return boxes.length > 0 ? joinedContents(text, boxes, boxes.length - 1) : text.trim();
}
