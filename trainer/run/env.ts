import { z } from 'zod';
import { parseEnv } from '../../core/env.ts';
import { CHECKPOINT_VERSION } from '../../core/checkpoints/layout.ts';

/** Settings `cir train` and `cir publish` share with the API (same variable names, same defaults). */
export const TrainerEnvSchema = z.object({
  /** Where the default fs storage and local queue live (as for `cir serve`). */
  CIR_DATA_DIR: z.string().min(1).default('./data'),
  /** Key prefix of the checkpoint area in the store (the API watches the same one). */
  CIR_CHECKPOINTS: z
    .string()
    .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'must be a key prefix such as "checkpoints" (no leading or trailing "/")')
    .default('checkpoints'),
});
export type TrainerEnv = z.infer<typeof TrainerEnvSchema>;

export function trainerEnv(env: Record<string, string | undefined>): TrainerEnv {
  return parseEnv(TrainerEnvSchema, env);
}

/** A default checkpoint version that sorts by time: `ckpt-20260101T120000Z-<8 hex>`. */
export function timestampVersion(date: Date, suffix: string): string {
  const stamp = date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const version = `ckpt-${stamp}-${suffix.slice(0, 8)}`;
  if (!CHECKPOINT_VERSION.test(version)) throw new Error(`bad generated version ${version}`);
  return version;
}
