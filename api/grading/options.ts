/** Grading options, their defaults, and the cooperative deadline every stage checks. */

/**
 * How a response's answer is found and accepted (README.md beside this file):
 * - `math-verify` (default): Math-Verify's reading: code and output blocks ignored, the last box
 *   (boxes joined by "and", commas or spacing form one list) or a later "final answer is …", else an
 *   answer phrase, else the last math span or number.
 * - `cir-paper`: the seed's evaluation in the paper: the last `\boxed{}` anywhere, code blocks
 *   included (else as `math-verify`), and a sample also counts as right when the last number on
 *   its last line equals the gold.
 */
export const GRADING_MODES = ['math-verify', 'cir-paper'] as const;
export type GradingMode = (typeof GRADING_MODES)[number];

export interface GradeOptions {
  /** How a response's answer is found and accepted; see GradingMode. Answers given directly are graded the same way in both. */
  mode?: GradingMode;
  /** Two values are equal when |a - b| <= relTol * max(|a|, |b|). Exact rationals are compared exactly. */
  relTol?: number;
  /**
   * When a response of several lines has no \boxed{}, no "answer is" phrase and no math span
   * after its last number, take that number. (A one-line answer sentence always yields its numbers.)
   */
  lastNumberFallback?: boolean;
  /** Wall-clock budget for one comparison; past it the result is not equal with reason `timeout`. */
  timeoutMs?: number;
  /** Random points at which expressions with free variables are compared. */
  points?: number;
  /** Longest answer (after extraction) that is parsed; longer ones are `too_complex`. */
  maxAnswerLength?: number;
}

export type ResolvedOptions = Required<GradeOptions>;

export const DEFAULT_OPTIONS: ResolvedOptions = {
  mode: 'math-verify',
  relTol: 1e-6,
  lastNumberFallback: true,
  timeoutMs: 100,
  points: 6,
  maxAnswerLength: 5_000,
};

export function resolveOptions(options: GradeOptions = {}): ResolvedOptions {
  const resolved = { ...DEFAULT_OPTIONS };
  for (const key of Object.keys(DEFAULT_OPTIONS) as (keyof ResolvedOptions)[]) {
    if (options[key] !== undefined) (resolved as Record<string, unknown>)[key] = options[key];
  }
  // Callers in JavaScript (or with a value read from a file) can pass anything: an unknown mode is their mistake, not a grade.
  if (!(GRADING_MODES as readonly string[]).includes(resolved.mode)) {
    throw new TypeError(`grading mode must be one of ${GRADING_MODES.join(', ')}; got ${JSON.stringify(resolved.mode)}`);
  }
  return resolved;
}

/** Thrown when the deadline passes; the grader turns it into reason `timeout`. */
export class TimeoutError extends Error {
  constructor() {
    super('grading deadline exceeded');
    this.name = 'TimeoutError';
  }
}

/** Thrown when an input exceeds a size cap (length, nesting depth, item count); reason `too_complex`. */
export class TooComplexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TooComplexError';
  }
}

/**
 * Checks per millisecond of `timeoutMs` allowed before a comparison is stopped regardless of the
 * clock. Measured on Node: 300-650 checks per ms of grading work, so the budget cuts at 1.5-3x
 * the timeout. It is what stops runaway work on Workers, where the clock does not advance during
 * synchronous code.
 */
const CHECKS_PER_MS = 1_000;

/**
 * A deadline checked cooperatively: Workers have no threads to kill a runaway comparison, so
 * every loop and recursion in the grader calls `check()`. It fails past the wall-clock time or
 * past a budget of checks; the clock (~50 ns a read) is only read every 64 calls.
 */
export class Deadline {
  private calls = 0;
  private readonly at: number;
  private readonly maxCalls: number;

  constructor(ms: number) {
    this.at = performance.now() + ms;
    this.maxCalls = Math.max(1_000, ms * CHECKS_PER_MS);
  }

  check(): void {
    if ((++this.calls & 63) === 0 && (performance.now() > this.at || this.calls > this.maxCalls)) throw new TimeoutError();
  }

  /** Checks now, regardless of the call count; used around library calls that cannot be interrupted. */
  checkNow(): void {
    if (performance.now() > this.at || this.calls > this.maxCalls) throw new TimeoutError();
  }
}
