import type { TrainBatch, TrainSample } from './types.ts';

/**
 * A batch cut into mini-batches of whole groups, one optimizer update each (verl's ppo_mini_batch_size,
 * which counts prompts). Advantages were computed over the whole batch before the cut, as in verl; the
 * loss of each update is aggregated over its own mini-batch. Without `groupsPerMiniBatch` the batch is
 * one mini-batch. Groups keep the order of their first sample; each mini-batch carries the batch's stats.
 */
export function miniBatches(batch: TrainBatch, groupsPerMiniBatch?: number): TrainBatch[] {
  if (groupsPerMiniBatch === undefined) return [batch];
  if (!(Number.isSafeInteger(groupsPerMiniBatch) && groupsPerMiniBatch >= 1)) {
    throw new RangeError(`groups per mini-batch must be an integer ≥ 1, got ${groupsPerMiniBatch}`);
  }
  const groups = new Map<string, TrainSample[]>();
  for (const sample of batch.samples) {
    const members = groups.get(sample.groupId);
    if (members) members.push(sample);
    else groups.set(sample.groupId, [sample]);
  }
  const ordered = [...groups.values()];
  const parts: TrainBatch[] = [];
  for (let i = 0; i < ordered.length; i += groupsPerMiniBatch) {
    parts.push({ samples: ordered.slice(i, i + groupsPerMiniBatch).flat(), stats: batch.stats });
  }
  return parts;
}
