import { grade } from '../../api/grading/index.ts';
import { budgetExhaustedFeedback, continuationAfterFence, executionFeedback } from '../../api/reasoning/feedback.ts';
import { DEFAULT_REASONING_SETTINGS } from '../../api/reasoning/settings.ts';
import type { ExecResult, Executor } from '../../api/sandbox/types.ts';
import { kindByName, type Problem } from '../tasks/generate.ts';
import type { Draw } from '../tasks/random.ts';

/**
 * Tool-using reference solutions, written exactly as the rollout loop (api/reasoning) lets a
 * model write them: a sentence, a ```javascript block that the turn ends on, the ```output block
 * the loop appends (built by the loop's own feedback functions from a real sandbox run), then a
 * sentence with \boxed{}. Styles:
 *
 * - `clean`: correct code; the answer is the printed output.
 * - `bug`: one of the kind's plausible bugs (Number instead of BigInt, off-by-one, wrong
 *   operator); the answer is what it printed, usually wrong. Noise that reward can select against.
 * - `recover`: a first attempt that mixes BigInt and Number and throws a TypeError, a sentence
 *   about it, then the correct code: correct, but needs two tool calls (the budget matters).
 * - `no_tools`: the run the loop makes with a tool budget of 0: the code block is refused with the
 *   loop's budget message and the answer is given directly. Teaches the no-tool mode that the
 *   "without tools" measurement uses; its target is the gold answer, the best a direct answer can be.
 */

export type SolutionStyle = 'clean' | 'bug' | 'recover' | 'no_tools';
export const SOLUTION_STYLES: readonly SolutionStyle[] = ['clean', 'bug', 'recover', 'no_tools'];

/** A transcript piece; `output` pieces are what the loop appends (loss mask 0), the rest the model writes. */
export interface TranscriptSegment {
  type: 'text' | 'code' | 'output';
  text: string;
}

export interface ReferenceSolution {
  problemId: string;
  style: SolutionStyle;
  /** The bug's name for style `bug`. */
  bug?: string;
  segments: TranscriptSegment[];
  /** Every segment's text, joined: the assistant response as the model sees it. */
  text: string;
  /** Graded by api/grading against the problem's gold answer. */
  correct: boolean;
  toolCalls: number;
}

/** How the sandbox runs the solutions: the limits a server gives a tool call by default. */
export const EXEC_LIMITS = { timeoutMs: 5000, memoryMb: 256, maxOutputBytes: 64 * 1024 } as const;

const FEEDBACK = { fullTraceback: DEFAULT_REASONING_SETTINGS.fullTraceback, maxBytes: DEFAULT_REASONING_SETTINGS.toolOutputBytes };

const codeBlock = (code: string): string => `\`\`\`javascript\n${code}\n\`\`\``;
export const answerSentence = (answer: string): string => `The answer is \\boxed{${answer}}.`;
const RECOVER_SENTENCE = 'That failed because BigInt and Number values were mixed, so I use BigInt everywhere.\n';
const NO_TOOLS_SENTENCE = 'Without running code, my answer is ';

/** The first attempt of a `recover` solution: the first BigInt literal loses its `n`. Undefined when the code has none. */
export function mixTypes(code: string): string | undefined {
  const mixed = code.replace(/\b(\d+)n\b/, '$1');
  return mixed === code ? undefined : mixed;
}

export class ReferenceSolver {
  constructor(private readonly executor: Executor) {}

  private async run(code: string, signal?: AbortSignal): Promise<ExecResult> {
    return this.executor.execute({ language: 'javascript', code, stdin: '', ...EXEC_LIMITS }, signal);
  }

  /** One tool call: the code block the model writes and the output block the loop appends. */
  private async call(code: string, signal?: AbortSignal): Promise<{ segments: TranscriptSegment[]; result: ExecResult; output: string }> {
    const result = await this.run(code, signal);
    const feedback = executionFeedback(result, FEEDBACK);
    return {
      segments: [
        { type: 'code', text: codeBlock(code) },
        { type: 'output', text: continuationAfterFence('', feedback.body) },
      ],
      result,
      output: feedback.body,
    };
  }

  /**
   * The solution of `problem` in `style`. Throws when a clean solution does not print the gold
   * answer (a generator bug), or a `recover` first attempt does not fail; `style` falls back to
   * `clean` for a problem whose kind has no bug / no BigInt literal to break.
   */
  async solve(problem: Problem, style: SolutionStyle, draw: Draw, signal?: AbortSignal): Promise<ReferenceSolution> {
    const kind = kindByName(problem.kind);
    const plan = { type: 'text' as const, text: `${kind.plan(problem.params)}\n` };
    const cleanCode = kind.code(problem.params);
    const segments: TranscriptSegment[] = [plan];
    let toolCalls = 0;
    let bug: string | undefined;

    const firstAttempt = style === 'recover' ? mixTypes(cleanCode) : undefined;
    if (style === 'recover' && firstAttempt === undefined) style = 'clean';
    if (style === 'bug' && kind.bugs.length === 0) style = 'clean';

    if (style === 'no_tools') {
      segments.push({ type: 'code', text: codeBlock(cleanCode) });
      segments.push({ type: 'output', text: continuationAfterFence('', budgetExhaustedFeedback(0).body) });
      segments.push({ type: 'text', text: `${NO_TOOLS_SENTENCE}\\boxed{${problem.answer}}.` });
    } else {
      if (firstAttempt !== undefined) {
        const failed = await this.call(firstAttempt, signal);
        if (failed.result.status !== 'error') {
          throw new Error(`${problem.id}: the mixed-type first attempt did not fail (${failed.result.status}): ${firstAttempt}`);
        }
        segments.push(...failed.segments, { type: 'text', text: RECOVER_SENTENCE });
        toolCalls++;
      }
      let code = cleanCode;
      if (style === 'bug') {
        const chosen = draw.pick(kind.bugs);
        bug = chosen.name;
        code = chosen.code(problem.params);
      }
      const run = await this.call(code, signal);
      toolCalls++;
      if (style !== 'bug' && (run.result.status !== 'ok' || run.output !== problem.answer)) {
        throw new Error(`${problem.id}: the reference code printed ${JSON.stringify(run.output)} (${run.result.status}), gold ${problem.answer}`);
      }
      // The answer is what the code printed (its last line): right or wrong, the model reports its tool.
      segments.push(...run.segments, { type: 'text', text: answerSentence(run.output.split('\n').at(-1)!.trim()) });
    }

    const text = segments.map((s) => s.text).join('');
    const correct = grade(problem.answer, { response: text }).equal;
    return { problemId: problem.id, style, bug, segments, text, correct, toolCalls };
  }
}

/** Share of each style in the noisy warm start (README.md "Solutions, and the noise"). */
export const WARMSTART_MIX: Readonly<Record<SolutionStyle, number>> = { clean: 0.55, bug: 0.25, recover: 0.12, no_tools: 0.08 };

/** Draws a style from a mix. */
export function drawStyle(draw: Draw, mix: Readonly<Record<SolutionStyle, number>> = WARMSTART_MIX): SolutionStyle {
  return SOLUTION_STYLES[draw.weighted(SOLUTION_STYLES.map((s) => mix[s]))]!;
}
