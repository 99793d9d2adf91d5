import type { TrajectoryRecord } from '../../core/schemas/trajectory.ts';
import type { GradeOptions, GradeReason } from '../grading/index.ts';
import type { ChatMessage } from '../models/types.ts';
import type { ExecStatus, Language } from '../sandbox/types.ts';
import type { PromptTemplate } from './prompt.ts';
import type { Grader } from '../grading/grader.ts';

/** One problem to solve with code-integrated reasoning: n samples drawn together (one prefill). */
export interface SolveRequest {
  /** The problem statement; becomes the user message of the prompt (see PromptTemplate). */
  problem: string;
  /**
   * A whole conversation to continue instead of `problem` (OpenAI chat): rendered as given through
   * the chat template, with the code-interpreter system prompt put first when it has no system message.
   * `problem` is then what the trajectory log records as the problem (the last user message).
   */
  messages?: readonly ChatMessage[];
  /** Gold answer: when given each sample is graded and gets a reward. */
  gold?: string;
  /** Samples (default 1). */
  n?: number;
  /** Code executions allowed per sample. Default: the served checkpoint's budget, else the server's. */
  maxToolCalls?: number;
  temperature?: number;
  topP?: number;
  /** Tokens the model may generate per sample, over all its turns (tool output does not count). */
  maxTokens?: number;
  /**
   * Tokens the model may generate in one turn (between two tool outputs), as an inference server's
   * max_tokens per call in the paper's protocol; a turn that reaches it ends the sample (length).
   */
  maxTokensPerTurn?: number;
  /** Wall-clock limit of each execution in this solve, up to the sandbox's maximum. Default: the server's (CIR_TOOL_TIMEOUT_MS). */
  toolTimeoutMs?: number;
  /** Sample i draws from seed + i. */
  seed?: number;
  /** Free-form labels copied into the trajectory log (dataset, split, experiment). */
  tags?: Record<string, string>;
  /** Correlates the n trajectories with the HTTP request; generated when absent. */
  requestId?: string;
}

/** Server-side settings of the loop: limits and defaults a request cannot override. */
export interface ReasoningSettings {
  /** Budget when neither the request nor the checkpoint gives one. */
  defaultToolBudget: number;
  /** Largest budget a request may ask for. */
  maxToolCalls: number;
  /** Default for SolveRequest.maxTokens. */
  defaultMaxTokens: number;
  /** Longest problem, in characters. */
  maxProblemChars: number;
  /** Largest n (also bounded by the model's maxN). */
  maxN: number;
  /** Show the whole traceback (stderr) of failed code instead of its last line. */
  fullTraceback: boolean;
  /** Cap on the output shown to the model per execution, UTF-8 bytes (head + tail kept). */
  toolOutputBytes: number;
  /** Wall-clock limit per execution; default: the sandbox's. */
  toolTimeoutMs?: number;
  /** Reward of a correct / incorrect sample when gold is given. */
  reward: { correct: number; incorrect: number };
  grading?: GradeOptions;
  prompt?: PromptTemplate;
}

/**
 * Where finished trajectories go; TrajectoryLogger satisfies it. accept() takes the samples of one
 * request together (so they reach the trainer as one whole group) and must not wait on storage.
 */
export interface TrajectorySink {
  accept(records: readonly TrajectoryRecord[]): Promise<void>;
}

export interface SolveOptions {
  /** Aborting cancels generation and running code; samples end with finishReason 'cancelled' and are logged as partial. */
  signal?: AbortSignal;
  /** Who the solve's executions count against in the sandbox's per-caller quotas (a key or client address). */
  caller?: string;
  /** Progress, in order per sample: text deltas as the model writes, each segment once complete, each sample once done. */
  onEvent?: (event: SolveEvent) => void;
  /** Every sample's trajectory is handed to it (also partial ones). */
  logger?: TrajectorySink;
  /** A logger that refused a record; the solve goes on. Default: console.warn. */
  onLogError?: (error: unknown) => void;
  /** Overrides of the server settings (DEFAULT_REASONING_SETTINGS otherwise). */
  settings?: Partial<ReasoningSettings>;
  /** Grades samples against `gold` (Node: a pool with a hard deadline, off the event loop). Default: inline. */
  grader?: Grader;
}

export type ToolCallStatus = ExecStatus | 'skipped';

/** A piece of a sample's transcript. The `text` of all segments, in order, is exactly what the model saw after the prompt. */
export type Segment =
  | { type: 'text'; text: string }
  | {
      type: 'code';
      text: string;
      language: Language;
      /** The code as executed (between the fences). */
      code: string;
    }
  | {
      type: 'output';
      /** The appended block (```output … ```) as the model saw it, and whose ids were appended. */
      text: string;
      /** What happened to the code before it; 'no_code' when the model opened an output block itself and it was cut. */
      status: ToolCallStatus | 'no_code';
      /** The execution feedback inside the block. */
      output: string;
      truncated: boolean;
      duration_ms: number;
    };

export type SampleFinishReason = TrajectoryRecord['finish_reason'];

export interface ToolStats {
  /** Executions that ran (count against the budget). */
  used: number;
  limit: number;
  /** Code blocks not run because the budget was spent. */
  skipped: number;
  /** Executions by status. */
  byStatus: Partial<Record<ExecStatus, number>>;
  /** Time spent executing, ms. */
  durationMs: number;
}

export interface SampleResult {
  index: number;
  /** Id of the logged TrajectoryRecord. */
  trajectoryId: string;
  segments: Segment[];
  /** All segment texts joined: the response as the model saw it. */
  text: string;
  finalAnswer: string | null;
  /** Set when gold was given. */
  correct?: boolean;
  reward?: number;
  gradeReason?: GradeReason;
  finishReason: SampleFinishReason;
  usage: {
    promptTokens: number;
    /** Tokens the model sampled. */
    completionTokens: number;
    /** Tool-output tokens appended. */
    toolTokens: number;
  };
  toolCalls: ToolStats;
  timings: TrajectoryRecord['timings'];
  /** The record handed to the logger (what the trainer will read). */
  trajectory: TrajectoryRecord;
}

export interface SolveResult {
  requestId: string;
  groupId: string;
  model: string;
  checkpointVersion: string;
  promptTokens: number;
  /** The tool budget each sample had. */
  toolBudget: number;
  /** The wall-clock limit of each tool call (request, else checkpoint, else server); null: the sandbox's default. */
  toolTimeoutMs: number | null;
  samples: SampleResult[];
}

export type SolveEvent =
  | { type: 'delta'; sample: number; text: string }
  | { type: 'segment'; sample: number; segment: Segment }
  | { type: 'sample'; sample: SampleResult };

/** A request that breaks the server's limits (empty or huge problem, n or budget out of range); routes answer 400. */
export class SolveInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SolveInputError';
  }
}
