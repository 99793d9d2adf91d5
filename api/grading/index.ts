/**
 * Answer grading: is a model's final answer equal to the gold answer?
 *
 *   grade(gold, { response } | { answer }, options?) → { equal, extracted, gold_parsed, pred_parsed, reason }
 *
 * Pipeline: extract.ts (final answer of a response) → normalize.ts + lex.ts + parse.ts (answer → Node)
 * → equivalence.ts (by category) → scalar.ts / evaluate.ts (exact rationals via fraction.js,
 * complex floats and simplification via mathjs). Synchronous, no eval, no threads: runs on Node
 * and on Workers. Every stage checks a cooperative deadline and size caps (see options.ts).
 * Why mathjs and a parser of our own rather than a LaTeX-parsing CAS: README.md beside this file.
 */
import { show } from './ast.ts';
import { compareAnswers, type EqualReason } from './equivalence.ts';
import { extractAnswer, unwrapAnswer } from './extract.ts';
import { LexError } from './lex.ts';
import { Deadline, resolveOptions, TimeoutError, TooComplexError, type GradeOptions } from './options.ts';
import { ParseError, parseAnswer, type Parsed } from './parse.ts';

export type { GradeOptions } from './options.ts';
export { DEFAULT_OPTIONS } from './options.ts';

export type GradeReason =
  | EqualReason
  | 'not_equal'
  | 'inconclusive'
  | 'no_answer'
  | 'truncated'
  | 'parse_error'
  | 'too_complex'
  | 'timeout';

export const GRADE_REASONS: readonly GradeReason[] = [
  'equal_identical', 'equal_numeric', 'equal_symbolic', 'equal_set', 'equal_tuple', 'equal_interval', 'equal_matrix',
  'equal_relation', 'equal_text', 'equal_choice', 'not_equal', 'inconclusive', 'no_answer', 'truncated',
  'parse_error', 'too_complex', 'timeout',
];

export interface GradePrediction {
  /** A whole model response; its final answer is extracted. */
  response?: string;
  /** An answer already extracted (`\boxed{}` and `$...$` around it are still removed). */
  answer?: string;
  /** The generation stopped at its length limit (finish_reason "length"). */
  truncated?: boolean;
}

export interface GradeResult {
  equal: boolean;
  /** The pred's final answer as found, before normalisation; null when none was found. */
  extracted: string | null;
  /** Canonical rendering of the parsed gold / pred; null when it did not parse. */
  gold_parsed: string | null;
  pred_parsed: string | null;
  reason: GradeReason;
}

/** The reason a failed stage reports; unknown errors are bugs and propagate. */
function failureReason(e: unknown): GradeReason {
  if (e instanceof TimeoutError) return 'timeout';
  if (e instanceof TooComplexError) return 'too_complex';
  if (e instanceof ParseError || e instanceof LexError) return 'parse_error';
  if (e instanceof RangeError) return 'too_complex'; // a stack overflow: input nested beyond what the caps foresaw
  throw e;
}

type ParseOutcome = { parsed: Parsed } | { failure: GradeReason };

function tryParse(answer: string, deadline: Deadline, maxLength: number): ParseOutcome {
  try {
    if (answer.length > maxLength) throw new TooComplexError(`answer longer than ${maxLength} characters`);
    return { parsed: parseAnswer(answer, deadline) };
  } catch (e) {
    return { failure: failureReason(e) };
  }
}

export function grade(gold: string, pred: GradePrediction, options?: GradeOptions): GradeResult {
  const opts = resolveOptions(options);
  const deadline = new Deadline(opts.timeoutMs);

  let extracted: string | null;
  let truncated = false;
  if (pred.answer !== undefined) {
    extracted = unwrapAnswer(pred.answer) || null;
  } else {
    const extraction = extractAnswer(pred.response ?? '', { lastNumberFallback: opts.lastNumberFallback, truncated: pred.truncated });
    extracted = extraction.answer;
    truncated = extraction.truncated;
  }

  const goldOutcome = tryParse(unwrapAnswer(gold), deadline, opts.maxAnswerLength);
  const gold_parsed = 'parsed' in goldOutcome ? show(goldOutcome.parsed.node) : null;
  const result = (equal: boolean, reason: GradeReason, pred_parsed: string | null = null): GradeResult =>
    ({ equal, extracted, gold_parsed, pred_parsed, reason });

  if (extracted === null) return result(false, truncated ? 'truncated' : 'no_answer');
  const predOutcome = tryParse(extracted, deadline, opts.maxAnswerLength);
  const pred_parsed = 'parsed' in predOutcome ? show(predOutcome.parsed.node) : null;

  if (!('parsed' in goldOutcome) || !('parsed' in predOutcome)) {
    // Unparseable answers can still be identical strings (an exotic gold written back verbatim).
    const same = unwrapAnswer(gold).replace(/\s+/g, '') === extracted.replace(/\s+/g, '');
    if (same) return result(true, 'equal_identical', pred_parsed);
    return result(false, 'failure' in goldOutcome ? goldOutcome.failure : (predOutcome as { failure: GradeReason }).failure, pred_parsed);
  }

  try {
    const verdict = compareAnswers(goldOutcome.parsed.node, predOutcome.parsed.node, predOutcome.parsed.normalized, {
      deadline,
      relTol: opts.relTol,
      points: opts.points,
    });
    return result(verdict.equal, verdict.reason, pred_parsed);
  } catch (e) {
    return result(false, failureReason(e), pred_parsed);
  }
}
