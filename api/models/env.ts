import { z } from 'zod';

const positiveInt = z.coerce.number().int().positive();

/** Model settings of the environment, shared by Node (models/index.ts) and the Worker (api/edge/). Web-safe. */
export const ModelEnv = z.object({
  /** Directory of an ONNX model (HF optimum layout). */
  CIR_MODEL_DIR: z.string().min(1).optional(),
  /** Base URL of an OpenAI-compatible server, e.g. http://localhost:8000/v1. */
  CIR_MODEL_URL: z.string().url().optional(),
  /** Model name: served name for a remote server; API name for an ONNX model (default: directory name). */
  CIR_MODEL_NAME: z.string().min(1).optional(),
  CIR_MODEL_API_KEY: z.string().optional(),
  /** Tokenizer files of the remotely served model. */
  CIR_MODEL_TOKENIZER_DIR: z.string().min(1).optional(),
  CIR_MODEL_CONTEXT_LENGTH: positiveInt.optional(),
  CIR_MODEL_MAX_N: positiveInt.optional(),
  CIR_MODEL_MAX_BATCH: positiveInt.optional(),
  CIR_MODEL_THREADS: positiveInt.optional(),
  CIR_MODEL_TIMEOUT_MS: positiveInt.optional(),
  CIR_MODEL_RETRIES: z.coerce.number().int().min(0).max(10).optional(),
  CIR_MODEL_LOGPROBS: z.enum(['sampling', 'raw', 'processed']).optional(),
});

