import type { Context } from 'hono';
import { TrajectoryLogger, type TrajectoryLoggerOptions, type TrajectoryLoggerStats } from '../../core/logging/trajectory-logger.ts';
import type { TrajectoryLogging } from './index.ts';

/**
 * workerd: a logger per request, created when the request first logs and delivered before the
 * request's context ends (ctx.waitUntil). workerd ties promises and timers to the request that
 * made them; a logger shared by an isolate's requests resolved one request's flush from another's
 * batch timer or upload ("promise resolved from a different request context"), and a request
 * that is cancelled can strand the others' records. A request's samples are one group anyway:
 * one batch object and one queue message per request, as on Node.
 */
export class RequestScopedLogging implements TrajectoryLogging {
  private readonly byRequest = new WeakMap<object, TrajectoryLogger>();
  /** Loggers still delivering; their figures count in stats() until they are done. */
  private readonly delivering = new Set<TrajectoryLogger>();
  private readonly finished = emptyStats();

  constructor(private readonly options: Omit<TrajectoryLoggerOptions, 'spool' | 'wal'>) {}

  loggerFor(c: Context): TrajectoryLogger {
    const request = c.executionCtx;
    let logger = this.byRequest.get(request);
    if (!logger) {
      logger = TrajectoryLogger.withoutSpool(this.options);
      this.byRequest.set(request, logger);
      this.delivering.add(logger);
    }
    return logger;
  }

  done(c: Context): void {
    const request = c.executionCtx;
    const logger = this.byRequest.get(request);
    if (!logger) return;
    this.byRequest.delete(request);
    // flush() waits through R2 or queue outages (retrying with backoff) for as long as the request is kept alive.
    const delivered = logger.flush().then(
      () => this.retire(logger),
      () => this.retire(logger),
    );
    request.waitUntil(delivered);
  }

  stats(): TrajectoryLoggerStats {
    const total = { ...this.finished };
    for (const logger of this.delivering) addStats(total, logger.stats());
    return total;
  }

  private retire(logger: TrajectoryLogger): void {
    this.delivering.delete(logger);
    addStats(this.finished, logger.stats());
  }
}

function emptyStats(): TrajectoryLoggerStats {
  return { accepted: 0, rejected: 0, stored: 0, queued: 0, spilled: 0, recovered: 0, retries: 0, buffered: 0, backlog: 0 };
}

function addStats(total: TrajectoryLoggerStats, more: TrajectoryLoggerStats): void {
  for (const key of Object.keys(total) as (keyof TrajectoryLoggerStats)[]) total[key] += more[key];
}
