import type { Language } from '../sandbox/types.ts';

/**
 * Finds code fences in the text a model generated since its last tool output. Markdown rules,
 * kept simple: a fence is a line starting (after up to 3 spaces) with ```; outside a block it
 * opens one (the rest of the line is the info string, its first word the language), inside a
 * block it closes it. Backticks elsewhere (inline code, ``` inside a string literal) are text.
 */

/** Where the text ends: outside any block, on an opening fence's info line, or inside a block. */
export type FenceState = 'text' | 'info' | 'body';

/** What the loop has to act on, the first one in the text. */
export type FenceEvent =
  /** An executable block closed: run it. `end` is just past the closing backticks. */
  | { type: 'code'; start: number; end: number; language: Language; code: string }
  /** The model opened an ```output block itself (its info line is complete): cut it there. */
  | { type: 'output'; start: number; end: number };

export interface FenceScan {
  state: FenceState;
  event?: FenceEvent;
}

const LANGUAGES: Record<string, Language> = {
  python: 'python',
  python3: 'python',
  py: 'python',
  javascript: 'javascript',
  js: 'javascript',
  node: 'javascript',
};

/** The language an info string names, if the loop can run it. */
export function executableLanguage(info: string): Language | undefined {
  const word = /^\S*/.exec(info.trim())![0].toLowerCase();
  return Object.hasOwn(LANGUAGES, word) ? LANGUAGES[word] : undefined;
}

const FENCE_LINE = /^ {0,3}(`{3,})/;

export function scanFences(text: string): FenceScan {
  let open: { start: number; info: string; bodyStart: number; ticks: number } | null = null;
  let lineStart = 0;
  while (lineStart <= text.length) {
    const newline = text.indexOf('\n', lineStart);
    const lineEnd = newline < 0 ? text.length : newline;
    const line = text.slice(lineStart, lineEnd);
    const fence = FENCE_LINE.exec(line);
    if (fence) {
      const ticksEnd = lineStart + fence[0].length;
      if (open === null) {
        if (newline < 0) return { state: 'info' };
        const info = text.slice(ticksEnd, lineEnd);
        open = { start: lineStart + fence[0].length - fence[1]!.length, info, bodyStart: newline + 1, ticks: fence[1]!.length };
        if (info.trim().toLowerCase() === 'output') return { state: 'body', event: { type: 'output', start: open.start, end: newline + 1 } };
      } else if (fence[1]!.length >= open.ticks) {
        const language = executableLanguage(open.info);
        if (language) {
          // The code ends before the newline that precedes the closing fence.
          const code = text.slice(open.bodyStart, Math.max(open.bodyStart, lineStart - 1));
          return { state: 'text', event: { type: 'code', start: open.start, end: ticksEnd, language, code } };
        }
        open = null;
      }
    }
    if (newline < 0) break;
    lineStart = newline + 1;
  }
  return { state: open === null ? 'text' : 'body' };
}

/** The stop strings for the next turn: the end of an info line, else the next fence. */
export function stopStringsFor(state: FenceState): string[] {
  return state === 'info' ? ['\n'] : ['```'];
}
