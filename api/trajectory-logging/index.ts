import type { Context } from 'hono';
import type { TrajectoryLogger, TrajectoryLoggerStats } from '../../core/logging/trajectory-logger.ts';

/**
 * Where a request's trajectories go. On Node, one write-behind logger for the whole process
 * (spool, write-ahead log, batches that gather several requests). On workerd, one logger per
 * request (request-scoped.ts): an isolate's requests must not share promises or timers, so no
 * request's records wait on a batch another request's context owns.
 */
export interface TrajectoryLogging {
  /** The logger this request hands its records to. */
  loggerFor(c: Context): TrajectoryLogger;
  /** The request has handed over all its records: on workerd, keeps it alive until they are delivered. */
  done(c: Context): void;
  /** Totals for /v1/info. */
  stats(): TrajectoryLoggerStats;
}

/** Node: every request logs through the process's logger, which outlives them (closed on shutdown). */
export function processWideLogging(logger: TrajectoryLogger): TrajectoryLogging {
  return { loggerFor: () => logger, done: () => {}, stats: () => logger.stats() };
}
