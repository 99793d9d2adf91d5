import { ConfigError, parseEnv } from '../../core/env.ts';
import { R2ObjectStore, type R2BucketLike } from '../../core/storage/r2.ts';
import { CheckpointEnvSchema } from '../checkpoints/env.ts';
import { EMBEDDED_MODEL_NAME } from '../models/embedded-name.ts';
import { ModelEnv } from '../models/env.ts';
import { embeddedTokenizer } from './embedded-tokenizer.ts';
import type { EdgeServingOptions } from './serving.ts';

/** The R2 binding the Worker reads checkpoints from (what `cir train` / `cir publish` write, through R2's S3 API). */
export const CHECKPOINT_BINDING = 'CHECKPOINTS';

/**
 * The Worker's model settings (undefined: no model, the model routes answer 503 saying what to set).
 * CIR_MODEL_URL: the OpenAI-compatible server (vLLM, or `cir serve`) with CIR_MODEL_NAME (default
 * the embedded model's name, as `npm start` serves it). Without CIR_CHECKPOINTS the bundled embedded tokenizer is used; with it,
 * the tokenizer, version and tool budget of the latest checkpoint in the R2 bucket bound as CHECKPOINTS.
 * Throws ConfigError naming what is wrong (a setting that needs a disk, a missing binding).
 */
export function edgeServingFromEnv(vars: Record<string, string>, bindings: Record<string, unknown>): EdgeServingOptions | undefined {
  const model = parseEnv(ModelEnv, vars);
  const checkpoints = parseEnv(CheckpointEnvSchema, vars);
  const issues: string[] = [];
  if (model.CIR_MODEL_DIR) {
    issues.push('CIR_MODEL_DIR cannot be used on Cloudflare Workers (no disk, and onnxruntime does not run in a Worker; see the README, "Workers"): set CIR_MODEL_URL to an OpenAI-compatible server');
  }
  if (model.CIR_MODEL_TOKENIZER_DIR) {
    issues.push('CIR_MODEL_TOKENIZER_DIR cannot be used on Cloudflare Workers (no disk): the tokenizer is the bundled embedded one, or the checkpoint\'s from R2 with CIR_CHECKPOINTS');
  }
  if (checkpoints.CIR_CHECKPOINTS && !model.CIR_MODEL_URL) {
    issues.push('CIR_CHECKPOINTS needs CIR_MODEL_URL on Cloudflare Workers: the model server serves the weights, the Worker the checkpoint\'s tokenizer, tool budget and version');
  }
  const bucket = bindings[CHECKPOINT_BINDING] as R2BucketLike | undefined;
  if (checkpoints.CIR_CHECKPOINTS && !bucket) issues.push(`CIR_CHECKPOINTS needs the R2 bucket binding ${CHECKPOINT_BINDING} (an [[r2_buckets]] entry in wrangler.toml)`);
  if (issues.length > 0) throw new ConfigError(issues);
  if (!model.CIR_MODEL_URL) return undefined;
  return {
    server: {
      baseUrl: model.CIR_MODEL_URL,
      model: model.CIR_MODEL_NAME ?? EMBEDDED_MODEL_NAME,
      apiKey: model.CIR_MODEL_API_KEY,
      contextLength: model.CIR_MODEL_CONTEXT_LENGTH,
      maxN: model.CIR_MODEL_MAX_N,
      timeoutMs: model.CIR_MODEL_TIMEOUT_MS,
      retries: model.CIR_MODEL_RETRIES,
      logprobs: model.CIR_MODEL_LOGPROBS,
    },
    staticTokenizer: embeddedTokenizer,
    ...(checkpoints.CIR_CHECKPOINTS && {
      checkpoints: { store: new R2ObjectStore(bucket!), prefix: checkpoints.CIR_CHECKPOINTS, pollMs: checkpoints.CIR_CHECKPOINT_POLL_MS },
    }),
    log: (message) => console.log(message),
  };
}
