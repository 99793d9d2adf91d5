import { join } from 'node:path';
import { z } from 'zod';
import { ToolBudgetScheduleSchema } from '../../core/schemas/checkpoint.ts';
import { readJsonFile, writeJsonAtomic } from './files.ts';

/**
 * The run directory (`cir train --run-dir DIR`):
 *
 *   state.json          RunState: the commit point of every step (written atomically)
 *   trainer.lock        the lease of the trainer running here (lock.ts)
 *   consumer/           the consumer's ledger of queue messages (consumer/inbox.ts)
 *   models/step-N/      the exported model of step N (what gets published; the next step starts from it)
 *   engine/step-N/      the engine's optimizer state after step N (for resuming)
 *   settings.json       the training settings of the run (recipe and flags resolved), rewritten when they change
 *   metrics.jsonl       one line of metrics per step
 *   plots/*.svg         metrics drawn per step
 *
 * A step is committed by one write of state.json naming its model, the last consumer entry it
 * trained on and the checkpoint to publish. A crash before that write redoes the step from the
 * previous state (its half-written outputs are overwritten); a crash after it finishes the publish.
 */
export const RUN_STATE_SCHEMA_VERSION = 1;

export const StepMetricsSchema = z.record(z.string(), z.union([z.number(), z.string(), z.null()]));
export type StepMetrics = z.infer<typeof StepMetricsSchema>;

export const RunStateSchema = z.object({
  schema_version: z.literal(RUN_STATE_SCHEMA_VERSION),
  /** Names the run's checkpoints (`<run>-step-000012`). */
  run: z.string(),
  /** Completed (committed) steps. */
  step: z.number().int().nonnegative(),
  /** Consumer entries with seq ≤ this have been through a step: their records trained on, set aside, or listed in `held`. */
  trained_through: z.number().int().nonnegative(),
  model: z.object({
    /** The weights the next step starts from (absolute, or relative to the run directory). */
    dir: z.string(),
    /** The checkpoint version these weights are (the next checkpoint's parent); null for an unpublished start. */
    version: z.string().nullable(),
    /** Optimizer state to restore (relative to the run directory); null at the start. */
    engine_state: z.string().nullable(),
  }),
  /** The run's initial weights (absolute, or relative to the run directory): the reference policy of the KL term. */
  reference: z.string().nullable().default(null),
  /** What `latest` should name when this run publishes next (another value means another trainer published). */
  expected_latest: z.string().nullable(),
  /** A committed step whose checkpoint is not yet (known to be) published. */
  pending_publish: z
    .object({
      version: z.string(),
      step: z.number().int(),
      parent: z.string().nullable(),
      created_at: z.string(),
      metrics: z.record(z.string(), z.number()),
      /** Fixed at the commit, like created_at, so a retried publish writes the same manifest. */
      tool_timeout_ms: z.number().int().positive().nullable().default(null),
    })
    .nullable(),
  /**
   * Ids of records from entries up to trained_through that no step has trained on yet: their group was
   * incomplete (waiting for its other samples) or came after the batch target. The next step takes them first.
   */
  held: z.array(z.string()).default([]),
  /** Records set aside so far: their group was still incomplete after the group timeout (policy 'set-aside'). */
  set_aside: z.number().int().nonnegative().default(0),
  schedule: ToolBudgetScheduleSchema,
  /** Metrics of the last committed step, so a crash between commit and metrics.jsonl loses no line. */
  last_metrics: StepMetricsSchema.nullable(),
});
export type RunState = z.infer<typeof RunStateSchema>;

export const runPaths = (dir: string) => ({
  state: join(dir, 'state.json'),
  lock: join(dir, 'trainer.lock'),
  consumer: join(dir, 'consumer'),
  metrics: join(dir, 'metrics.jsonl'),
  plots: join(dir, 'plots'),
  model: (step: number) => join('models', `step-${pad(step)}`),
  engine: (step: number) => join('engine', `step-${pad(step)}`),
});

export const pad = (step: number): string => String(step).padStart(6, '0');

export function readRunState(dir: string): Promise<RunState | null> {
  return readJsonFile(runPaths(dir).state, RunStateSchema);
}

export function writeRunState(dir: string, state: RunState): Promise<void> {
  return writeJsonAtomic(runPaths(dir).state, RunStateSchema.parse(state));
}
