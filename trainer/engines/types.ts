/**
 * The training-engine interface. The trainer (consumer, publisher, `cir train`) codes against it; an
 * engine owns the weights and optimizer state of one policy and knows how to compute its logprobs,
 * take an RL or supervised optimizer step, export it in the ONNX layout the API serves, and save /
 * restore its optimizer state for resuming.
 *
 * Engines: `cpu` (trainer/engines/cpu: in-process, small decoders); `torch` (trainer/engines/torch:
 * a PyTorch program fed the same batches through files, for GPU machines).
 *
 * Lifetimes: an engine holds memory (and possibly threads) until `dispose()`; every method rejects
 * after dispose. Calls must not overlap: await one before starting the next.
 */
import type { DecoderConfig } from '../../core/onnx/decoder.ts';
import type { PolicyLossConfig } from '../algorithms/types.ts';
import type { SupervisedSequence, TrainBatch } from '../batch/types.ts';

/** AdamW, as torch.optim.AdamW, with global-norm gradient clipping before the update. */
export interface OptimizerConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay (not applied to norm weights). */
  weightDecay: number;
  /** Clip the global gradient L2 norm to this before the update; null = no clipping. */
  maxGradNorm: number | null;
}

export const DEFAULT_OPTIMIZER: OptimizerConfig = { lr: 1e-5, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 };

/** Where an engine's initial weights come from. */
export type EngineInit =
  /**
   * A model directory in the HF-optimum ONNX layout (what scripts/make-model.ts writes and the API
   * serves): `config.json` + `model.onnx` (or `onnx/model.onnx`) + tokenizer files. Weights are read
   * from model.onnx's initializers, which keep their HF names.
   */
  | { kind: 'model-dir'; dir: string }
  /**
   * Fresh random weights for `config` (norms 1, everything else N(0, initStd)). `tokenizerDir` holds the
   * tokenizer files (tokenizer.json, tokenizer_config.json, ...) that exportOnnx copies next to the model.
   */
  | { kind: 'fresh'; config: DecoderConfig; seed: number; initStd: number; tokenizerDir: string };

export interface EngineOptions {
  optimizer?: Partial<OptimizerConfig>;
  /** RL objective; defaults DEFAULT_POLICY_LOSS (trainer/algorithms/types.ts). */
  policyLoss?: Partial<PolicyLossConfig>;
  /**
   * Tokens per forward/backward pass inside one step (gradient accumulation over micro-batches of
   * whole sequences): bounds activation memory without changing the result. Default: engine's choice.
   */
  microBatchTokens?: number;
  /** Compute threads for the cpu engine's matrix products (default: available cores). */
  threads?: number;
}

/** Metrics of one RL step (verl's actor/* names in snake_case). Means are over loss tokens unless said. */
export interface RlStepMetrics {
  /** The total loss that was minimised (policy loss + kl_coef * kl - entropy_coef * entropy). */
  loss: number;
  pg_loss: number;
  /** Fraction of loss tokens whose ratio was clipped (verl pg_clipfrac). */
  pg_clipfrac: number;
  /** Fraction of loss tokens hit by the dual clip (verl pg_clipfrac_lower). */
  pg_clipfrac_lower: number;
  /** Mean of -clamp(logprob - old_logprob, ±20) over loss tokens (verl ppo_kl: approximate KL to the behaviour policy, from the log-ratio the loss uses). */
  ppo_kl: number;
  /** Mean token entropy of the current policy over loss tokens. */
  entropy: number;
  /** Mean k3 KL to the reference policy (0 when the batch has no refLogprobs). */
  kl: number;
  /** Global gradient L2 norm before clipping. */
  grad_norm: number;
  lr: number;
  /** Loss tokens and all tokens fed forward. */
  loss_tokens: number;
  tokens: number;
  /** Wall time of the step. */
  seconds: number;
}

export interface SupervisedStepMetrics {
  /** Mean cross-entropy over loss tokens (nats). */
  loss: number;
  /** Fraction of loss tokens whose argmax prediction was the target. */
  accuracy: number;
  grad_norm: number;
  lr: number;
  loss_tokens: number;
  tokens: number;
  seconds: number;
}

/** A sequence whose logprobs are wanted: the logprob of ids[t] given ids[0..t-1], for t >= from. */
export interface LogprobRequest {
  ids: Int32Array | readonly number[];
  /** First position to score (default 1). For a TrainSample, its promptLength. */
  from?: number;
  /** Sampling temperature: logprobs of softmax(logits / temperature) (default 1). */
  temperature?: number;
}

export interface Engine {
  /** The architecture being trained (what config.json says). */
  readonly config: DecoderConfig;
  /** Optimizer updates taken so far (restored by loadState). */
  readonly optimizerSteps: number;

  /**
   * One PPO-clip optimizer update over the whole batch (token-level aggregation across all its
   * samples, micro-batched internally). Advantages, old and ref logprobs come from the batch.
   * `lr` overrides the configured learning rate for this step (for schedules).
   */
  step(batch: TrainBatch, options?: { lr?: number }): Promise<RlStepMetrics>;

  /** One optimizer update of masked cross-entropy (token-mean over lossMask) on the sequences. */
  supervisedStep(sequences: readonly SupervisedSequence[], options?: { lr?: number }): Promise<SupervisedStepMetrics>;

  /**
   * Per request, the logprobs of ids[from..] under the current weights: result[i][t - from] = log p(ids[t] | ids[<t]).
   * No gradient, no state change.
   */
  logprobs(requests: readonly LogprobRequest[]): Promise<Float32Array[]>;

  /**
   * Writes the current weights as a model directory the API serves: model.onnx, config.json,
   * generation_config.json, and the tokenizer files copied from the init directory. Creates `dir`.
   * Returns the relative paths written.
   */
  exportOnnx(dir: string): Promise<string[]>;

  /**
   * Saves what resuming needs beyond the exported model (optimizer moments, step count) into `dir`.
   * Restoring = init from the exported model dir, then loadState.
   */
  saveState(dir: string): Promise<void>;
  /** Restores saveState's files; throws if they do not match this engine's architecture. */
  loadState(dir: string): Promise<void>;

  dispose(): Promise<void>;
}

/** Builds an engine (trainer/engines/index.ts maps an engine kind to one). */
export type CreateEngine = (init: EngineInit, options?: EngineOptions) => Promise<Engine>;
