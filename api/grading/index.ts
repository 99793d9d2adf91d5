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
import { extractAnswer, paperAnswers, unwrapAnswer } from './extract.ts';
import { LexError } from './lex.ts';
import { Deadline, resolveOptions, TimeoutError, TooComplexError, type GradeOptions, type ResolvedOptions } from './options.ts';
import { ParseError, parseAnswer, type Parsed } from './parse.ts';

export type { GradeOptions, GradingMode } from './options.ts';
export { DEFAULT_OPTIONS, GRADING_MODES } from './options.ts';

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

/** The pred's answer as reported, and the other readings that may also make it equal (mode `cir-paper`). */
interface Reading {
  answer: string | null;
  alternatives: string[];
  truncated: boolean;
}

function readPrediction(pred: GradePrediction, opts: ResolvedOptions): Reading {
  if (pred.answer !== undefined) return { answer: unwrapAnswer(pred.answer) || null, alternatives: [], truncated: false };
  const response = pred.response ?? '';
  const extract = () => extractAnswer(response, { lastNumberFallback: opts.lastNumberFallback, truncated: pred.truncated });
  if (opts.mode === 'math-verify') {
    const { answer, truncated } = extract();
    return { answer, alternatives: [], truncated };
  }
  // cir-paper: the last box anywhere (else the math-verify reading), and the last number of the last line.
  const paper = paperAnswers(response);
  const { answer, truncated } = paper.boxed !== null ? { answer: paper.boxed, truncated: false } : extract();
  const alternatives = paper.lastLineNumber !== null && paper.lastLineNumber !== answer ? [paper.lastLineNumber] : [];
  return { answer, alternatives, truncated };
}

export function grade(gold: string, pred: GradePrediction, options?: GradeOptions): GradeResult {
  const opts = resolveOptions(options);
  const deadline = new Deadline(opts.timeoutMs);
  const goldText = unwrapAnswer(gold);
  const goldOutcome = tryParse(goldText, deadline, opts.maxAnswerLength);
  const gold_parsed = 'parsed' in goldOutcome ? show(goldOutcome.parsed.node) : null;

  const gradeAnswer = (extracted: string): GradeResult => {
    const result = (equal: boolean, reason: GradeReason, pred_parsed: string | null = null): GradeResult =>
      ({ equal, extracted, gold_parsed, pred_parsed, reason });
    const predOutcome = tryParse(extracted, deadline, opts.maxAnswerLength);
    const pred_parsed = 'parsed' in predOutcome ? show(predOutcome.parsed.node) : null;
    if (!('parsed' in goldOutcome) || !('parsed' in predOutcome)) {
      // Unparseable answers can still be identical strings (an exotic gold written back verbatim).
      if (goldText.replace(/\s+/g, '') === extracted.replace(/\s+/g, '')) return result(true, 'equal_identical', pred_parsed);
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
  };

  const reading = readPrediction(pred, opts);
  const first = reading.answer === null ? undefined : gradeAnswer(reading.answer);
  if (first?.equal) return first;
  for (const alternative of reading.alternatives) {
    const other = gradeAnswer(alternative);
    if (other.equal) return other;
  }
  return first ?? { equal: false, extracted: null, gold_parsed, pred_parsed: null, reason: reading.truncated ? 'truncated' : 'no_answer' };
}
