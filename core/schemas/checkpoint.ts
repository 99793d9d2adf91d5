import { z } from 'zod';
import { SHA256_HEX } from '../bytes.ts';
import { formatIssues } from './issues.ts';

/**
 * The manifest published with each trainer checkpoint: which files make it up (with their hashes, so
 * a consumer can verify what it downloaded), where it came from, and the tool budget (and per-call tool
 * timeout) the rollouts that train the next step should use.
 *
 * Version 2 added `tool_timeout_ms`; version 1 manifests (without it) are still read.
 */
export const CHECKPOINT_SCHEMA_VERSION = 2;
const READABLE_SCHEMA_VERSIONS = [1, 2] as const;

const step = z.number().int().nonnegative();

/** A relative, normalized path inside the checkpoint: no leading '/', no empty, '.' or '..' segments. */
function isRelativePath(path: string): boolean {
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

export const ToolBudgetScheduleSchema = z
  .array(z.strictObject({ step, limit: z.number().int().nonnegative() }))
  .min(1)
  .refine((s) => s[0]?.step === 0, { message: 'must start at step 0' })
  .refine((s) => s.every((entry, i) => i === 0 || entry.step > s[i - 1]!.step), {
    message: 'steps must be strictly increasing',
  });

export const CheckpointManifestSchema = z.strictObject({
  schema_version: z.union(READABLE_SCHEMA_VERSIONS.map((v) => z.literal(v)), {
    error: (issue) =>
      `unsupported checkpoint manifest schema_version ${JSON.stringify(issue.input)} (this build reads ${READABLE_SCHEMA_VERSIONS.join(' and ')})`,
  }),
  /** This checkpoint's version, as recorded in trajectories' `checkpoint_version`. */
  version: z.string().min(1),
  /** The version it was trained from; null for the initial checkpoint. */
  parent: z.string().min(1).nullable(),
  created_at: z.iso.datetime({ offset: true }),
  step,
  /** Path → hex SHA-256 of the file. */
  files: z.record(z.string(), z.string().regex(SHA256_HEX, 'must be a lower-case hex SHA-256')).superRefine((files, ctx) => {
    for (const path of Object.keys(files)) {
      if (!isRelativePath(path)) {
        ctx.addIssue({ code: 'custom', path: [path], message: 'must be a relative path without empty, "." or ".." segments' });
      }
    }
  }),
  tool_budget: z.strictObject({
    /** Tool calls allowed per rollout now. */
    limit: z.number().int().nonnegative(),
    /** Limits from each step on, e.g. [{ step: 0, limit: 2 }, { step: 100, limit: 3 }]. */
    schedule: ToolBudgetScheduleSchema,
  }),
  /**
   * Wall-clock limit of each tool call in the rollouts served with this checkpoint (a request's
   * tool_timeout_ms still overrides it, up to the sandbox's maximum); absent: the server's CIR_TOOL_TIMEOUT_MS.
   */
  tool_timeout_ms: z.number().int().positive().optional(),
  metrics: z.record(z.string(), z.number()),
  /** Tokenizer identity (a path in `files` or a hub id) the token ids in trajectories refer to. */
  tokenizer: z.string().min(1),
  chat_template: z.string().min(1),
});

export type CheckpointManifest = z.infer<typeof CheckpointManifestSchema>;

export class CheckpointManifestError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid checkpoint manifest: ${issues.join('; ')}`);
    this.name = 'CheckpointManifestError';
  }
}

/** Parses a manifest (an object or its JSON text); throws CheckpointManifestError naming each problem. */
export function parseCheckpointManifest(input: unknown): CheckpointManifest {
  let json = input;
  if (typeof input === 'string') {
    try {
      json = JSON.parse(input);
    } catch {
      throw new CheckpointManifestError(['not JSON']);
    }
  }
  const parsed = CheckpointManifestSchema.safeParse(json);
  if (!parsed.success) throw new CheckpointManifestError(formatIssues(parsed.error));
  return parsed.data;
}
