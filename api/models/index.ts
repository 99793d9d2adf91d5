import { ConfigError, parseEnv } from '../../core/env.ts';
import { ModelEnv } from './env.ts';
import { OnnxBackend, type OnnxBackendOptions } from './onnx/backend.ts';
import { loadOpenAIBackend, type OpenAIBackendOptions } from './openai/load.ts';
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
  return loadOpenAIBackend(options);
}

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
