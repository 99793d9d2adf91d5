import type { DecoderConfig } from '../core/onnx/decoder.ts';
import { SPECIAL_IDS, VOCAB_SIZE } from './vocab.ts';

/**
 * The default model's architecture: a Llama-style decoder (RMSNorm, RoPE, SwiGLU, grouped-query
 * attention) over the digit-group vocabulary (vocab.ts), in the same DecoderConfig the ONNX exporter
 * (core/onnx/decoder.ts) and the cpu engine take. Sized for what the task needs (pick the
 * operation from the phrasing, copy digits into code, copy the output into \boxed{}) and for
 * training on two CPU cores: see README.md "Sizes".
 */
export const DEFAULT_MODEL_CONFIG: DecoderConfig = {
  modelType: 'llama',
  vocabSize: VOCAB_SIZE,
  hiddenSize: 192,
  intermediateSize: 512,
  numHiddenLayers: 4,
  numAttentionHeads: 6,
  numKeyValueHeads: 2,
  // Longest training sample is ~750 tokens (README.md); room for a second tool call past it.
  maxPositionEmbeddings: 1024,
  ropeTheta: 10000,
  rmsNormEps: 1e-5,
  tieWordEmbeddings: true,
  attentionBias: false,
  bosTokenId: SPECIAL_IDS['<|endoftext|>'],
  eosTokenId: [SPECIAL_IDS['<|im_end|>'], SPECIAL_IDS['<|endoftext|>']],
  padTokenId: SPECIAL_IDS['<|endoftext|>'],
};

/** Std of the normal init of the fresh model (norms start at 1). */
export const DEFAULT_INIT_STD = 0.02;
