import type { CheckpointManifest } from '../../core/schemas/checkpoint.ts';
import type { ModelBackend } from './types.ts';

/**
 * What the server is serving right now: a model backend together with the checkpoint it came
 * from. Routes read it once per request (through `AppDeps.served`) and keep that snapshot for
 * the whole request, so a checkpoint swap never mixes one model with another checkpoint's budget.
 */
export interface ServedModel {
  backend: ModelBackend;
  checkpoint: {
    /** Checkpoint version (from its manifest), or a label such as `static` for a model given by env. */
    version: string;
    /** Default tool-call budget of this checkpoint (its manifest's `tool_budget`); undefined: server default. */
    toolBudget?: number;
    /** Per-call tool timeout of this checkpoint (its manifest's `tool_timeout_ms`); undefined: server default. */
    toolTimeoutMs?: number;
  };
}

/** What a published checkpoint's manifest says about how to serve it. */
export function servedCheckpoint(manifest: CheckpointManifest): ServedModel['checkpoint'] {
  return {
    version: manifest.version,
    toolBudget: manifest.tool_budget.limit,
    ...(manifest.tool_timeout_ms !== undefined && { toolTimeoutMs: manifest.tool_timeout_ms }),
  };
}
