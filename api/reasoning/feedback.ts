import { capOutput } from '../sandbox/output.ts';
import type { ExecResult } from '../sandbox/types.ts';

/**
 * What the model reads after its code: an ```output block with the program's output and, when it
 * failed, the error (its message or last traceback line; the whole stderr with fullTraceback).
 * The sandbox already caps stdout/stderr head+tail; the joined feedback is capped the same way.
 */

export interface Feedback {
  /** The text inside the block. */
  body: string;
  truncated: boolean;
}

export interface FeedbackOptions {
  fullTraceback: boolean;
  maxBytes: number;
}

const NO_OUTPUT = '(no output)';

export function executionFeedback(result: ExecResult, options: FeedbackOptions): Feedback {
  const parts: string[] = [];
  const stdout = result.stdout.replace(/\n+$/, '');
  if (stdout !== '') parts.push(stdout);
  if (result.status === 'ok') {
    // Warnings and other stderr of a successful run are worth seeing too, but only in full-traceback mode.
    const stderr = result.stderr.replace(/\n+$/, '');
    if (options.fullTraceback && stderr !== '') parts.push(stderr);
  } else {
    const stderr = result.stderr.replace(/\n+$/, '');
    const error = options.fullTraceback && stderr !== '' ? stderr : (result.error ?? (stderr.split('\n').pop() || result.status));
    parts.push(error);
  }
  const capped = capOutput(parts.length > 0 ? parts.join('\n') : NO_OUTPUT, options.maxBytes);
  return { body: capped.text, truncated: capped.truncated || result.truncated.stdout || result.truncated.stderr };
}

export function budgetExhaustedFeedback(limit: number): Feedback {
  return {
    body: `Code not executed: the tool budget of ${limit} execution${limit === 1 ? '' : 's'} is spent. Answer without running more code, final answer in \\boxed{}.`,
    truncated: false,
  };
}

/** For an ```output block the model opened itself: nothing was run to fill it. */
export function noCodeFeedback(): Feedback {
  return { body: 'Nothing was executed: only ```python and ```javascript blocks run, and their output appears here.', truncated: false };
}

/** The ```output block as appended after a closing code fence, when the model wrote nothing after the fence. */
export function outputBlock(body: string): string {
  return `\`\`\`output\n${body}\n\`\`\`\n`;
}

/**
 * The text to append after a code block whose closing fence was followed, in the same token(s),
 * by `tail`. The canonical continuation is "\n```output\n…\n```\n"; when the tail already starts
 * it ("\n", "\n```", "\n```output", or "output" right after the fence) only the rest is appended,
 * so a model that begins writing its own output block has it cut there and filled by the real run.
 */
export function continuationAfterFence(tail: string, body: string): string {
  const block = outputBlock(body);
  const canonical = `\n${block}`;
  if (canonical.startsWith(tail)) return canonical.slice(tail.length);
  const glued = block.slice(3); // "output\n…": the closing fence doubled as the opening one
  if (glued.startsWith(tail)) return glued.slice(tail.length);
  return (tail.endsWith('\n') ? '' : '\n') + block;
}
