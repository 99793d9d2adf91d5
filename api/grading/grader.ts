import { grade, type GradePrediction, type GradeResult } from './index.ts';
import type { GradeOptions } from './options.ts';

/**
 * Grading as the API, the evaluation harness and the trainer call it: asynchronous, so a host can run
 * it off its event loop with a hard deadline (pool/, Node). `inlineGrader` grades in the calling
 * thread (Workers, where no thread can be stopped): there the cooperative deadline and the size caps
 * on exact arithmetic bound it.
 */
export interface Grader {
  grade(gold: string, pred: GradePrediction, options?: GradeOptions): Promise<GradeResult>;
}

export const inlineGrader: Grader = {
  grade: async (gold, pred, options) => grade(gold, pred, options),
};

/** The verdict of a grading stopped at its hard deadline. */
export const TIMEOUT_RESULT: GradeResult = { equal: false, extracted: null, gold_parsed: null, pred_parsed: null, reason: 'timeout' };
