import type { ConsumeCounts } from '../consumer/consumer.ts';
import type { StepResult, Trainer } from './trainer.ts';

export interface JobOptions {
  /**
   * false (`cir train`): consume what the queue holds, train on all of it batch by batch, stop.
   * true (`cir train --loop`): keep consuming; train whenever a full batch is pending; stop on `signal`.
   */
  loop: boolean;
  /** Stop after this many steps. Default: no limit. */
  maxSteps?: number;
  /** Aborting finishes the step in progress, then returns. */
  signal?: AbortSignal;
  /** Awaited before the next step (e.g. to notify servers of the new checkpoint). */
  onStep?: (result: StepResult) => void | Promise<void>;
}

export interface JobResult {
  steps: StepResult[];
  consumed: ConsumeCounts;
}

/** Drives a Trainer through one job or a continuous loop. An empty queue is a wait (loop) or a no-op (job), never an error. */
export async function runTrainingJob(trainer: Trainer, options: JobOptions): Promise<JobResult> {
  const maxSteps = options.maxSteps ?? Infinity;
  const steps: StepResult[] = [];
  const consumed: ConsumeCounts = { messages: 0, accepted: 0, duplicates: 0, rejected: 0, deadLettered: 0, redelivered: 0, retrying: 0 };
  const stopped = () => steps.length >= maxSteps || options.signal?.aborted === true;
  do {
    // A loop consumes a batch's worth before looking for one; a job takes everything the queue has.
    const counts = await trainer.consume({ untilRecords: options.loop ? trainer.expectedBatchRecords : Infinity, signal: options.signal });
    for (const key of Object.keys(consumed) as (keyof ConsumeCounts)[]) consumed[key] += counts[key];
    // A job trains everything it consumed (the last batch may be short); the loop trains only full batches.
    while (!stopped()) {
      const result = await trainer.trainStep({ full: options.loop });
      if (result === null) break;
      // Skipped: records used up without an update (no reward signal, or set aside); go on with the rest.
      if ('skipped' in result) continue;
      steps.push(result);
      await options.onStep?.(result);
    }
  } while (options.loop && !stopped());
  return { steps, consumed };
}
