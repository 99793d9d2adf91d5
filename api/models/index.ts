import { z } from 'zod';
import { ConfigError, parseEnv } from '../../core/env.ts';
import { OnnxBackend, type OnnxBackendOptions } from './onnx/backend.ts';
import { OpenAIBackend, type OpenAIBackendOptions } from './openai/backend.ts';
import type { ModelBackend } from './types.ts';

export type * from './types.ts';
export { ContextLengthError } from './types.ts';
export { RemoteModelError } from './openai/client.ts';
export { OnnxBackend } from './onnx/backend.ts';
export { OpenAIBackend } from './openai/backend.ts';

/** What model to serve: an ONNX directory run in-process, or an OpenAI-compatible server. */
export type ModelSpec = ({ kind: 'onnx'; dir: string } & OnnxBackendOptions) | ({ kind: 'openai' } & OpenAIBackendOptions);

/**
 * Loads a backend. Fails with an Error naming the file, input or server that is wrong (missing
 * directory, model file in another layout, tokenizer that does not match, server that does not
 * serve the model); nothing stays open after a failure.
 */
export function loadModelBackend(spec: ModelSpec): Promise<ModelBackend> {
  if (spec.kind === 'onnx') {
    const { kind: _, dir, ...options } = spec;
    return OnnxBackend.load(dir, options);
  }
  const { kind: _, ...options } = spec;
  return OpenAIBackend.load(options);
}

const positiveInt = z.coerce.number().int().positive();

const ModelEnv = z.object({
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

/**
 * The ModelSpec the environment asks for (undefined when no model is configured). Empty
 * strings count as unset. Throws ConfigError listing every bad variable.
 */
export function modelSpecFromEnv(env: Record<string, string | undefined>): ModelSpec | undefined {
  const e = parseEnv(ModelEnv, env);
  if (e.CIR_MODEL_DIR && e.CIR_MODEL_URL) throw new ConfigError(['set CIR_MODEL_DIR or CIR_MODEL_URL, not both']);
  if (e.CIR_MODEL_DIR) {
    return {
      kind: 'onnx',
      dir: e.CIR_MODEL_DIR,
      id: e.CIR_MODEL_NAME,
      contextLength: e.CIR_MODEL_CONTEXT_LENGTH,
      maxN: e.CIR_MODEL_MAX_N,
      maxBatchSize: e.CIR_MODEL_MAX_BATCH,
      threads: e.CIR_MODEL_THREADS,
    };
  }
  if (e.CIR_MODEL_URL) {
    if (!e.CIR_MODEL_NAME || !e.CIR_MODEL_TOKENIZER_DIR) {
      throw new ConfigError(['CIR_MODEL_URL needs CIR_MODEL_NAME and CIR_MODEL_TOKENIZER_DIR']);
    }
    return {
      kind: 'openai',
      baseUrl: e.CIR_MODEL_URL,
      model: e.CIR_MODEL_NAME,
      apiKey: e.CIR_MODEL_API_KEY,
      tokenizerDir: e.CIR_MODEL_TOKENIZER_DIR,
      contextLength: e.CIR_MODEL_CONTEXT_LENGTH,
      maxN: e.CIR_MODEL_MAX_N,
      timeoutMs: e.CIR_MODEL_TIMEOUT_MS,
      retries: e.CIR_MODEL_RETRIES,
      logprobs: e.CIR_MODEL_LOGPROBS,
    };
  }
  return undefined;
}
