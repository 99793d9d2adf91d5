import type { Context } from 'hono';
import { noModelMessage } from '../checkpoints/status.ts';
import { ApiError, badRequest } from '../errors.ts';
import { callerOf } from '../middleware/caller/index.ts';
import type { ServedModel } from '../models/served.ts';
import { prepareSolve, solveProblem, SolveInputError, type ReasoningSettings, type SampleResult, type SolveOptions, type SolveRequest, type SolveResult } from '../reasoning/index.ts';
import type { Grader } from '../grading/grader.ts';
import type { Sandbox } from '../sandbox/index.ts';
import type { TrajectoryLogging } from '../trajectory-logging/index.ts';
import { toApiError } from './completions.ts';

/** What the reasoning routes (/v1/solve, /v1/chat/completions) share. */
export interface ReasoningRouteDeps {
  served: () => ServedModel | undefined;
  /** The error (a 503) answered when nothing is served: what the checkpoint watcher or the model server connection knows. */
  noModel?: () => ApiError;
  sandbox: Sandbox;
  settings: ReasoningSettings;
  /** Where trajectories go; none: they are not logged. */
  trajectoryLogging?: TrajectoryLogging;
  /** Grades samples given a gold answer; default inline. */
  grader?: Grader;
  /** Keeps the served model alive until released (AppDeps.holdServed): a stream outlives the request middleware. */
  holdServed?: () => () => void;
}

/** Runs a stream's body with the served model held until the stream ends. */
export async function holdingServed(deps: ReasoningRouteDeps, body: () => Promise<void>): Promise<void> {
  const release = deps.holdServed?.();
  try {
    await body();
  } finally {
    release?.();
  }
}

/** The snapshot this request keeps from start to end (a checkpoint swap meanwhile does not affect it). */
export function requireServed(deps: ReasoningRouteDeps): ServedModel {
  const served = deps.served();
  if (!served) throw deps.noModel?.() ?? new ApiError(503, 'unsupported', noModelMessage());
  return served;
}

/** Checks a request before a stream starts, so that bad input is still a 400. */
export function precheckSolve(deps: ReasoningRouteDeps, served: ServedModel, request: SolveRequest): void {
  try {
    prepareSolve(served, deps.sandbox, request, deps.settings);
  } catch (error) {
    if (error instanceof SolveInputError) throw badRequest(error.message);
    throw error;
  }
}

/**
 * Runs a solve for a request: client disconnects abort it, bad input becomes a 400, and on Workers
 * the logger's delivery is kept alive past the response (an isolate does no work after it otherwise).
 */
export async function runSolve(
  c: Context,
  deps: ReasoningRouteDeps,
  served: ServedModel,
  request: SolveRequest,
  options: Pick<SolveOptions, 'onEvent' | 'signal'> = {},
): Promise<SolveResult> {
  const signal = options.signal ? AbortSignal.any([c.req.raw.signal, options.signal]) : c.req.raw.signal;
  try {
    return await solveProblem(served, deps.sandbox, request, {
      signal,
      caller: callerOf(c),
      ...(options.onEvent && { onEvent: options.onEvent }),
      ...(deps.trajectoryLogging && { logger: deps.trajectoryLogging.loggerFor(c) }),
      ...(deps.grader && { grader: deps.grader }),
      settings: deps.settings,
    });
  } catch (error) {
    if (error instanceof SolveInputError) throw badRequest(error.message);
    throw toApiError(error);
  } finally {
    deps.trajectoryLogging?.done(c);
  }
}

export function sampleJson(sample: SampleResult) {
  return {
    index: sample.index,
    trajectory_id: sample.trajectoryId,
    segments: sample.segments,
    text: sample.text,
    final_answer: sample.finalAnswer,
    ...(sample.correct !== undefined && { correct: sample.correct, reward: sample.reward, grade_reason: sample.gradeReason }),
    finish_reason: sample.finishReason,
    usage: { prompt_tokens: sample.usage.promptTokens, completion_tokens: sample.usage.completionTokens, tool_tokens: sample.usage.toolTokens },
    tool_calls: {
      used: sample.toolCalls.used,
      limit: sample.toolCalls.limit,
      skipped: sample.toolCalls.skipped,
      by_status: sample.toolCalls.byStatus,
      duration_ms: sample.toolCalls.durationMs,
    },
    timings: sample.timings,
  };
}
