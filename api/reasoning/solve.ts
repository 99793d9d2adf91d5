import { checkTrajectoryInvariants, SECRET_LIKE_KEY, TRAJECTORY_SCHEMA_VERSION, type TrajectoryRecord } from '../../core/schemas/trajectory.ts';
import { extractAnswer } from '../grading/extract.ts';
import { DEFAULT_OPTIONS as DEFAULT_GRADE_OPTIONS, type GradeReason } from '../grading/index.ts';
import { inlineGrader } from '../grading/grader.ts';
import type { ServedModel } from '../models/served.ts';
import { ContextLengthError, type Sequence } from '../models/types.ts';
import type { Sandbox } from '../sandbox/index.ts';
import { DEFAULT_PROMPT_TEMPLATE, promptIds as renderPromptIds } from './prompt.ts';
import { rollout, RolloutState, type RolloutContext } from './rollout.ts';
import { DEFAULT_REASONING_SETTINGS } from './settings.ts';
import {
  SolveInputError,
  type ReasoningSettings,
  type SampleResult,
  type SolveOptions,
  type SolveRequest,
  type SolveResult,
} from './types.ts';

/** The budget a request gets: its own (checked against the server cap), else the checkpoint's, else the server's. */
export function resolveToolBudget(requested: number | undefined, checkpointBudget: number | undefined, settings: Pick<ReasoningSettings, 'defaultToolBudget' | 'maxToolCalls'>): number {
  if (requested !== undefined) {
    if (!Number.isInteger(requested) || requested < 0 || requested > settings.maxToolCalls) {
      throw new SolveInputError(`max_tool_calls must be an integer in [0, ${settings.maxToolCalls}], got ${requested}`);
    }
    return requested;
  }
  // A checkpoint trained to a larger budget than this server allows is held to the server's cap.
  return Math.min(checkpointBudget ?? settings.defaultToolBudget, settings.maxToolCalls);
}

/** A request checked against the server's limits and the model, with its prompt rendered. */
export interface PreparedSolve {
  n: number;
  budget: number;
  maxTokens: number;
  maxTokensPerTurn: number | undefined;
  /** Per execution; undefined: the sandbox's default. */
  toolTimeoutMs: number | undefined;
  temperature: number;
  topP: number;
  promptIds: number[];
}

/**
 * Checks a request (SolveInputError naming the problem) and renders its prompt. solveProblem calls
 * it; a route that streams calls it first too, so bad input is a 400 rather than an error event.
 */
export function prepareSolve(served: ServedModel, sandbox: Pick<Sandbox, 'limits'>, request: SolveRequest, settings: ReasoningSettings): PreparedSolve {
  const { backend, checkpoint } = served;
  const { info, tokenizer } = backend;

  const problem = request.problem;
  if (typeof problem !== 'string' || problem.trim() === '') throw new SolveInputError('problem must be a non-empty string');
  if (problem.length > settings.maxProblemChars) {
    throw new SolveInputError(`problem is ${problem.length} characters; the limit is ${settings.maxProblemChars}`);
  }
  const maxN = Math.min(settings.maxN, info.maxN);
  const n = request.n ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > maxN) throw new SolveInputError(`n must be an integer in [1, ${maxN}], got ${n}`);
  const budget = resolveToolBudget(request.maxToolCalls, checkpoint.toolBudget, settings);
  const maxTokens = request.maxTokens ?? Math.min(settings.defaultMaxTokens, info.contextLength);
  if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > info.contextLength) {
    throw new SolveInputError(`max_tokens must be an integer in [1, ${info.contextLength}], got ${maxTokens}`);
  }
  const temperature = request.temperature ?? 1;
  if (!(temperature >= 0)) throw new SolveInputError(`temperature must be >= 0, got ${temperature}`);
  const topP = request.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new SolveInputError(`top_p must be in (0, 1], got ${topP}`);
  if (request.seed !== undefined && !Number.isSafeInteger(request.seed)) throw new SolveInputError(`seed must be an integer, got ${request.seed}`);
  for (const key of Object.keys(request.tags ?? {})) {
    if (SECRET_LIKE_KEY.test(key)) throw new SolveInputError(`tags.${key} looks like a credential; it must not be logged`);
  }

  const promptIds = renderPromptIds(tokenizer, settings.prompt ?? DEFAULT_PROMPT_TEMPLATE, request.messages ? { messages: request.messages } : { problem });
  if (promptIds.length >= info.contextLength) {
    throw new SolveInputError(`the prompt is ${promptIds.length} tokens; the model's context is ${info.contextLength} tokens`);
  }
  const { maxTokensPerTurn, toolTimeoutMs } = request;
  const maxToolTimeoutMs = sandbox.limits.timeoutMs.max;
  if (toolTimeoutMs !== undefined && !(Number.isSafeInteger(toolTimeoutMs) && toolTimeoutMs >= 1 && toolTimeoutMs <= maxToolTimeoutMs)) {
    throw new SolveInputError(`tool_timeout_ms must be an integer in [1, ${maxToolTimeoutMs}], got ${toolTimeoutMs}`);
  }
  if (maxTokensPerTurn !== undefined && !(Number.isSafeInteger(maxTokensPerTurn) && maxTokensPerTurn >= 1)) {
    throw new SolveInputError(`max_tokens_per_turn must be an integer >= 1, got ${maxTokensPerTurn}`);
  }
  // The checkpoint's timeout is what training chose; the sandbox's maximum still bounds it.
  const checkpointTimeoutMs = checkpoint.toolTimeoutMs === undefined ? undefined : Math.min(checkpoint.toolTimeoutMs, maxToolTimeoutMs);
  return { n, budget, maxTokens, maxTokensPerTurn, toolTimeoutMs: toolTimeoutMs ?? checkpointTimeoutMs ?? settings.toolTimeoutMs, temperature, topP, promptIds };
}

/** See index.ts. */
export async function solveProblem(served: ServedModel, sandbox: Sandbox, request: SolveRequest, options: SolveOptions = {}): Promise<SolveResult> {
  const solveStarted = performance.now();
  const settings: ReasoningSettings = { ...DEFAULT_REASONING_SETTINGS, ...options.settings };
  const { backend, checkpoint } = served;
  const { info, tokenizer } = backend;
  const { problem } = request;
  const { n, budget, maxTokens, maxTokensPerTurn, toolTimeoutMs, temperature, topP, promptIds } = prepareSolve(served, sandbox, request, settings);

  const requestId = request.requestId ?? crypto.randomUUID();
  const groupId = crypto.randomUUID();
  const onLogError = options.onLogError ?? ((error: unknown) => console.warn(`[solve] trajectory not logged: ${error instanceof Error ? error.message : String(error)}`));
  const createdAt = new Date().toISOString();

  const group = (() => {
    try {
      return backend.startGroup({ prompt: promptIds, n, ...(request.seed !== undefined && { seed: request.seed }) });
    } catch (error) {
      if (error instanceof ContextLengthError || error instanceof RangeError) throw new SolveInputError(error.message);
      throw error;
    }
  })();
  // One controller per sample, all aborted together by the caller's signal or a failing sample. (One
  // listener fans out, rather than every sample's turns and executions listening on a shared signal.)
  const controllers = Array.from({ length: n }, () => new AbortController());
  const abortAll = (reason: unknown) => {
    for (const c of controllers) c.abort(reason);
  };
  const onCallerAbort = () => abortAll(options.signal!.reason);
  if (options.signal?.aborted) onCallerAbort();
  options.signal?.addEventListener('abort', onCallerAbort, { once: true });

  // Filled as samples finish (failed and cancelled ones too) and logged together once all have: the group reaches the trainer whole.
  const records = new Array<TrajectoryRecord | undefined>(n);
  const logGroup = async () => {
    const finished = records.filter((r): r is TrajectoryRecord => r !== undefined);
    if (!options.logger || finished.length === 0) return;
    try {
      await options.logger.accept(finished);
    } catch (error) {
      onLogError(error);
    }
  };

  const runSample = async (seq: Sequence, index: number): Promise<SampleResult> => {
    const state = new RolloutState();
    const ctx: RolloutContext = {
      tokenizer,
      sandbox,
      budget,
      maxTokens,
      ...(maxTokensPerTurn !== undefined && { maxTokensPerTurn }),
      temperature,
      topP,
      feedback: { fullTraceback: settings.fullTraceback, maxBytes: Math.min(settings.toolOutputBytes, sandbox.limits.outputBytes.max) },
      ...(toolTimeoutMs !== undefined && { toolTimeoutMs }),
      signal: controllers[index]!.signal,
      ...(options.caller !== undefined && { caller: options.caller }),
      onDelta: (text) => options.onEvent?.({ type: 'delta', sample: index, text }),
      onSegment: (segment) => options.onEvent?.({ type: 'segment', sample: index, segment }),
    };
    let failure: unknown;
    try {
      await rollout(seq, ctx, state);
    } catch (error) {
      failure = error;
      state.finishReason = 'error';
      abortAll(error);
    }
    const sample = await finishSample(state, index);
    if (failure !== undefined) throw failure;
    return sample;
  };

  const finishSample = async (state: RolloutState, index: number): Promise<SampleResult> => {
    const text = state.text;
    const truncated = state.finishReason === 'length';
    let finalAnswer: string | null;
    let graded: { correct: boolean; reward: number; reason: GradeReason } | undefined;
    if (request.gold !== undefined) {
      const verdict = await (options.grader ?? inlineGrader).grade(request.gold, { response: text, truncated }, settings.grading);
      finalAnswer = verdict.extracted;
      graded = { correct: verdict.equal, reward: verdict.equal ? settings.reward.correct : settings.reward.incorrect, reason: verdict.reason };
    } else {
      const lastNumberFallback = settings.grading?.lastNumberFallback ?? DEFAULT_GRADE_OPTIONS.lastNumberFallback;
      finalAnswer = extractAnswer(text, { lastNumberFallback, truncated }).answer;
    }
    const timings = { total_ms: performance.now() - solveStarted, generation_ms: state.generationMs, tool_ms: state.toolMs };
    const partial = state.finishReason === 'cancelled' || state.finishReason === 'error';
    const record: TrajectoryRecord = {
      schema_version: TRAJECTORY_SCHEMA_VERSION,
      id: crypto.randomUUID(),
      request_id: requestId,
      sample_index: index,
      group_id: groupId,
      group_size: n,
      model: info.id,
      checkpoint_version: checkpoint.version,
      problem,
      prompt_ids: [...promptIds],
      response_ids: state.responseIds,
      logprobs: state.logprobs,
      loss_mask: state.lossMask,
      turns: state.turns,
      tool_calls: state.toolCalls,
      budget: { limit: budget, used: state.used },
      final_answer: finalAnswer,
      ...(request.gold !== undefined && { gold: request.gold }),
      ...(graded && { reward: graded.reward }),
      finish_reason: state.finishReason,
      partial,
      timings,
      request: {
        temperature,
        top_p: topP,
        max_tokens: maxTokens,
        ...(request.seed !== undefined && { seed: request.seed }),
        ...(request.tags && { tags: request.tags }),
      },
      created_at: createdAt,
    };
    const problems = checkTrajectoryInvariants(record);
    if (problems.length > 0) throw new Error(`internal error: inconsistent trajectory: ${problems.join('; ')}`);
    records[index] = record;
    const sample: SampleResult = {
      index,
      trajectoryId: record.id,
      segments: state.segments,
      text,
      finalAnswer,
      ...(graded && { correct: graded.correct, reward: graded.reward, gradeReason: graded.reason }),
      finishReason: state.finishReason,
      usage: { promptTokens: promptIds.length, completionTokens: state.completionTokens, toolTokens: state.toolTokens },
      toolCalls: { used: state.used, limit: budget, skipped: state.skipped, byStatus: state.byStatus, durationMs: state.toolMs },
      timings,
      trajectory: record,
    };
    options.onEvent?.({ type: 'sample', sample });
    return sample;
  };

  try {
    const settled = await Promise.allSettled(group.sequences.map((seq, i) => runSample(seq, i)));
    await logGroup();
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return {
      requestId,
      groupId,
      model: info.id,
      checkpointVersion: checkpoint.version,
      promptTokens: promptIds.length,
      toolBudget: budget,
      toolTimeoutMs: toolTimeoutMs ?? null,
      samples: settled.map((s) => (s as PromiseFulfilledResult<SampleResult>).value),
    };
  } finally {
    options.signal?.removeEventListener('abort', onCallerAbort);
    group.dispose();
  }
}
