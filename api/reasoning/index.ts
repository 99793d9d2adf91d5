/**
 * Code-integrated reasoning: the rollout loop behind `/v1/solve`, `/v1/chat/completions`,
 * `cir solve` and the eval harness.
 *
 *   const served = deps.served();              // read ONCE per request: { backend, checkpoint }
 *   const result = await solveProblem(served, sandbox, {
 *     problem: 'What is 2^10 - 1?', gold: '1023',  // gold optional: graded (+ reward) when given
 *     n: 4, maxToolCalls: 3, temperature: 0.7, topP: 0.95, maxTokens: 1024, seed: 1,
 *   }, { signal, onEvent, logger });           // all optional
 *   result.samples[i] → { segments, text, finalAnswer, correct?, reward?, finishReason,
 *                         usage, toolCalls, timings, trajectoryId, trajectory }
 *
 * Per sample (the n samples run concurrently on one prefill): the model generates until a
 * ```python / ```javascript block closes (the turn stops on the token that completes the closing
 * fence), the code runs in the Sandbox, the feedback block (```output … ```) is tokenised and
 * appended as ids (loss mask 0, no logprobs), and generation resumes from the KV cache. Text the
 * model generated is never re-tokenised. Beyond the tool budget code is not run and the model is
 * told so (status `skipped`); a second block past the budget ends the sample (`tool_budget`).
 * An ```output block the model starts writing itself is cut where it opens and replaced by the
 * real execution. The final answer is the last \boxed{} (api/grading), graded when gold is given.
 *
 * Every sample becomes a TrajectoryRecord (core/schemas/trajectory.ts), checked, and handed to
 * `options.logger.accept()` (write-behind: the request waits only for buffer room, never for
 * storage). Aborting `options.signal` cancels generation and running code; the samples come back
 * with finishReason 'cancelled' and are logged with `partial: true`. The promise rejects only for
 * bad input (SolveInputError: empty or huge problem, n or budget out of range, a prompt longer
 * than the context) and for failures of the model or sandbox themselves (partials are logged
 * with finish_reason 'error' first).
 */
export { prepareSolve, resolveToolBudget, solveProblem, type PreparedSolve } from './solve.ts';
export { DEFAULT_REASONING_SETTINGS, reasoningSettingsFromConfig } from './settings.ts';
export { DEFAULT_PROMPT_TEMPLATE, DEFAULT_SYSTEM_PROMPT, promptIds, promptMessages, renderPrompt, type PromptTemplate } from './prompt.ts';
export {
  SolveInputError,
  type ReasoningSettings,
  type SampleFinishReason,
  type SampleResult,
  type Segment,
  type SolveEvent,
  type SolveOptions,
  type SolveRequest,
  type SolveResult,
  type ToolCallStatus,
  type ToolStats,
  type TrajectorySink,
} from './types.ts';
