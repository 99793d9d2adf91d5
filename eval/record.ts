import { z } from 'zod';

/**
 * One evaluated sample: a line of a run's `samples.jsonl`. Written as each sample finishes, read
 * back to resume a run, summarise it, or compare runs; versioned so an old run is not misread.
 */
export const SAMPLE_RECORD_VERSION = 1;

const count = z.number().int().nonnegative();

export const SampleRecordSchema = z.object({
  v: z.literal(SAMPLE_RECORD_VERSION),
  bench: z.string().min(1),
  id: z.string().min(1),
  /** Index of the sample among the problem's k (its seed is the problem seed + sample). */
  sample: count,
  subject: z.string().optional(),
  level: z.string().optional(),
  gold: z.string(),
  /** Final answer extracted from the response; null when there was none. */
  answer: z.string().nullable(),
  correct: z.boolean(),
  grade_reason: z.string().optional(),
  /** stop | length | tool_budget | error (the sample could not run, see `error`). */
  finish_reason: z.string(),
  /** Code executions that ran (count against the tool budget). */
  tool_calls: count,
  /** Status of every code block in order, including `skipped` ones past the budget. */
  tool_statuses: z.array(z.string()),
  /** Executions that failed: error, timeout, memory or output_limit. */
  exec_errors: count,
  /** Tokens the model generated (tool output excluded). */
  response_tokens: count,
  /** Tool-output tokens appended to the response. */
  tool_tokens: count,
  prompt_tokens: count,
  duration_ms: z.number().nonnegative(),
  model: z.string(),
  checkpoint: z.string(),
  /** Why the sample could not be generated at all (e.g. the prompt is longer than the model's context). */
  error: z.string().optional(),
  /** The response as the model saw it: its text, code blocks and the output blocks fed back. */
  transcript: z.string(),
  trajectory_id: z.string().optional(),
});

export type SampleRecord = z.infer<typeof SampleRecordSchema>;

/** Statuses that count as a failed execution (the model got an error message back instead of a result). */
export const EXEC_ERROR_STATUSES: ReadonlySet<string> = new Set(['error', 'timeout', 'memory', 'output_limit']);

export function sampleKey(r: Pick<SampleRecord, 'bench' | 'id' | 'sample'>): string {
  return `${r.bench}\u0000${r.id}\u0000${r.sample}`;
}
