/**
 * What the checkpoint watcher reports in `/v1/info`. Types only: app.ts imports this file, and the
 * watcher itself (Node-only: it writes the model to disk and loads it with onnxruntime) stays out of
 * the Workers bundle.
 */
export interface CheckpointRefusal {
  version: string;
  reason: string;
  at: string;
}

export interface CheckpointWatchStatus {
  /** Store key prefix being watched. */
  prefix: string;
  poll_ms: number;
  /** Version being served (null: none yet). */
  serving: string | null;
  /** Version being downloaded or loaded in the background, if any. */
  loading: string | null;
  last_check_at: string | null;
  /** Last transient problem (store unreachable); cleared by the next successful check. */
  last_error: string | null;
  /** Checkpoints refused (corrupt, partial, unloadable), most recent last; the previous one kept serving. */
  refused: CheckpointRefusal[];
  /** Swaps since start. */
  swaps: number;
  /** When each version was swapped in since start (the last 100), oldest first. */
  swapped_in: { version: string; at: string }[];
  /** Old models still finishing requests that began before a swap. */
  draining: number;
  /** Since when the check in progress has been running (a store that hangs shows here); null when idle. */
  checking_since: string | null;
  /** What is served and why, when it is not the latest checkpoint (a fallback, or nothing published yet). */
  note: string | null;
}

/** What one look at the store did (CheckpointWatcher.check()). */
export type CheckResult =
  | { outcome: 'unchanged' | 'empty' }
  | { outcome: 'swapped'; version: string; ms: number }
  | { outcome: 'refused'; version: string; reason: string }
  | { outcome: 'error'; reason: string };

/** Why the model routes have nothing to serve: the text of their 503. */
export function noModelMessage(control?: CheckpointControl): string {
  if (!control) return 'no model is configured on this server (set CIR_MODEL_DIR, CIR_MODEL_URL or CIR_CHECKPOINTS)';
  const s = control.status();
  const why = s.refused.at(-1)?.reason ?? s.last_error ?? (s.loading ? `loading ${s.loading}` : `nothing is published under ${s.prefix}/ yet`);
  return `no checkpoint from ${s.prefix}/ is being served yet (${why}); GET /v1/info shows checkpoint.watch`;
}

/** The watcher as the app sees it: its state for /v1/info, and a check on demand (a publisher's notification). */
export interface CheckpointControl {
  status(): CheckpointWatchStatus;
  check(): Promise<CheckResult>;
  /** The checkpoints published in the store (GET /v1/checkpoints). */
  published?(): Promise<PublishedCheckpoint[]>;
}

/** A published checkpoint as GET /v1/checkpoints lists it (from its manifest), or why its manifest cannot be read. */
export type PublishedCheckpoint =
  | { version: string; parent: string | null; step: number; created_at: string; tool_budget: { limit: number; schedule: { step: number; limit: number }[] }; metrics: Record<string, number> }
  | { version: string; error: string };
