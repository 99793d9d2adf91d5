import { z } from 'zod';

/**
 * Checkpoint hot-swap settings. Node (`cir serve`): storage is configured by CIR_STORAGE*. Workers: the
 * store is the R2 binding CHECKPOINTS, and CIR_CHECKPOINT_POLL_MS bounds how often an isolate reads `latest`.
 */
export const CheckpointEnvSchema = z.object({
  /** Key prefix of the checkpoint area to serve from (what `cir train` / `cir publish` write); unset: no watching. */
  CIR_CHECKPOINTS: z
    .string()
    .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'must be a key prefix such as "checkpoints" (no leading or trailing "/")')
    .optional(),
  /** How often to read the `latest` pointer. With fs storage a change is also noticed at once. */
  CIR_CHECKPOINT_POLL_MS: z.coerce.number().int().min(50).max(3_600_000).default(2000),
  /** fs: with CIR_STORAGE=fs, also watch the pointer file and check as soon as it changes; off: polling only. */
  CIR_CHECKPOINT_NOTIFY: z.enum(['fs', 'off']).default('fs'),
  /** Where verified checkpoints are unpacked for loading; default `<data dir>/checkpoint-cache`. */
  CIR_CHECKPOINT_CACHE_DIR: z.string().min(1).optional(),
});

