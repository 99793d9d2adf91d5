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
  /** Old models still finishing requests that began before a swap. */
  draining: number;
}

/** What one look at the store did (CheckpointWatcher.check()). */
export type CheckResult =
  | { outcome: 'unchanged' | 'empty' }
  | { outcome: 'swapped'; version: string; ms: number }
  | { outcome: 'refused'; version: string; reason: string }
  | { outcome: 'error'; reason: string };

/** The watcher as the app sees it: its state for /v1/info, and a check on demand (a publisher's notification). */
export interface CheckpointControl {
  status(): CheckpointWatchStatus;
  check(): Promise<CheckResult>;
}
