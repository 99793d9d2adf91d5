/**
 * The training batch: what the batch builder makes from validated TrajectoryRecords and what every
 * engine consumes. Engine-independent plain data (typed arrays, no tensors), so the same batch can be
 * handed to the in-process cpu engine or written to a file for the torch engine.
 *
 * Token layout of one sample (verl's "response" convention):
 *
 *   inputIds    = prompt_ids ++ response_ids                    (length P + R)
 *   response t  = inputIds[P + t], predicted from inputIds[0 .. P + t - 1]
 *
 * Every per-token array below (`lossMask`, `oldLogprobs`, `advantages`, `refLogprobs`) has length R and
 * is indexed by response position t. Prompt tokens are never in the loss, and tool-output tokens (the
 * ```output``` blocks the sandbox produced) have lossMask 0, so neither gets any gradient.
 */

export interface TrainSample {
  /** The trajectory's id (TrajectoryRecord.id): for dedupe and debugging. */
  id: string;
  /** The problem's group (TrajectoryRecord.group_id): the n samples of one prompt share it. */
  groupId: string;
  /** prompt_ids followed by response_ids. */
  inputIds: Int32Array;
  /** Number of prompt tokens P at the start of inputIds. */
  promptLength: number;
  /** Per response token: 1 = sampled by the policy and trained on, 0 = tool output (or filtered out). */
  lossMask: Uint8Array;
  /**
   * Per response token: the behaviour policy's logprob logged at sampling time (under `temperature`),
   * the "old" logprob of the PPO ratio. 0 where lossMask is 0 (tool output has none).
   */
  oldLogprobs: Float32Array;
  /** Per response token advantage (0 where lossMask is 0). Outcome estimators make it constant per sample. */
  advantages: Float32Array;
  /** Optional reference-policy logprobs for the KL term (same layout as oldLogprobs). */
  refLogprobs?: Float32Array;
  /** Scalar outcome reward of the whole sample. */
  reward: number;
  /**
   * Sampling temperature the logprobs were logged under (the ONNX backend reports logprobs of
   * softmax(logits / T)); the engine divides logits by it so new and old logprobs are comparable.
   */
  temperature: number;
}

/** Aggregate statistics of a built batch, for metrics and for deciding whether to train at all. */
export interface BatchStats {
  /** Distinct records read (after validation and dedupe by id). */
  records: number;
  /** Records whose id was already in the batch (counted once). */
  duplicates: number;
  /** Partial (cancelled) records left out. */
  partial: number;
  /** Records with neither a gold answer nor a logged reward, left out. */
  unscored: number;
  /** Groups seen / kept after dropping groups with no signal (all rewards equal). */
  groups: number;
  keptGroups: number;
  /** Samples in the batch (records of kept groups). */
  samples: number;
  /**
   * Mean reward over scored records, and accuracy: the fraction graded correct among records with a
   * gold answer (or, when none has one, the fraction with a positive logged reward).
   */
  meanReward: number;
  accuracy: number;
  /** Mean tool calls per record, and fraction of records that made at least one call (all records read). */
  toolCallsPerSample: number;
  toolCallRate: number;
  /** Mean response length in tokens (all tokens) over records read. */
  meanResponseLength: number;
  /** Trained (loss-mask 1) tokens in the batch. */
  lossTokens: number;
  /** Turns masked out by the void-turn filter. */
  voidTurnsFiltered: number;
}

export interface TrainBatch {
  samples: TrainSample[];
  stats: BatchStats;
}

/**
 * A supervised (warm start) sequence: cross-entropy on the tokens whose lossMask is 1.
 * `lossMask[i]` refers to `ids[i]` (predicted from ids[0..i-1]); lossMask[0] is ignored (nothing predicts it).
 * Typically 0 on the prompt and on tool output, 1 on the model's own text and code.
 */
export interface SupervisedSequence {
  ids: Int32Array | readonly number[];
  lossMask: Uint8Array | readonly number[];
}
