import { join } from 'node:path';
import { z } from 'zod';
import { parseEnv } from '../env.ts';
import { createQueueFromEnv } from '../queue/from-env.ts';
import type { Queue } from '../queue/queue.ts';
import { createStorageFromEnv } from '../storage/from-env.ts';
import { FsObjectStore } from '../storage/fs.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { TrajectoryLogger, type CloseResult } from './trajectory-logger.ts';
import { FsWriteAheadLog } from './wal.ts';

export const TrajectoryLoggerEnvSchema = z.object({
  /** Records per batch object. */
  CIR_TRAJ_BATCH_RECORDS: z.coerce.number().int().min(1).max(100_000).default(256),
  /** Longest a record waits in an open batch, ms. */
  CIR_TRAJ_BATCH_MS: z.coerce.number().int().min(1).max(3_600_000).default(5_000),
  /** Records held in memory before accept() waits (back-pressure). */
  CIR_TRAJ_BUFFER_RECORDS: z.coerce.number().int().min(1).max(10_000_000).default(4_096),
  /** Longest pause between delivery retries while the remote is down, ms (also the worst-case catch-up delay after it is back). */
  CIR_TRAJ_RETRY_MAX_MS: z.coerce.number().int().min(10).max(3_600_000).default(30_000),
  /**
   * on: a request's trajectories are synced to a local write-ahead log before it is answered, so a
   * SIGKILL of the server loses none it accepted; off: the open batch (up to CIR_TRAJ_BATCH_MS /
   * CIR_TRAJ_BATCH_RECORDS of records) lives in memory until it is sealed.
   */
  CIR_TRAJ_WAL: z.enum(['on', 'off']).default('on'),
});

export interface TrajectoryLogging {
  logger: TrajectoryLogger;
  store: ObjectStore;
  queue: Queue;
  /** Closes the logger (delivering what it can within `timeoutMs`), then the store and queue clients. */
  close(options?: { timeoutMs?: number }): Promise<CloseResult>;
}

/**
 * Everything a Node host needs to log trajectories, from the environment: the store and queue
 * (createStorageFromEnv / createQueueFromEnv) and a logger spooling to `<data dir>/spool/trajectories`,
 * with its write-ahead log in `<data dir>/spool/wal`.
 */
export async function createTrajectoryLoggingFromEnv(
  env: Record<string, string | undefined>,
  { dataDir, onError }: { dataDir: string; onError?: (error: unknown, context: string) => void },
): Promise<TrajectoryLogging> {
  const tuning = parseEnv(TrajectoryLoggerEnvSchema, env);
  const store = createStorageFromEnv(env, { dataDir });
  const queue = createQueueFromEnv(env, { dataDir });
  const logger = await TrajectoryLogger.open({
    store,
    queue,
    spool: new FsObjectStore(join(dataDir, 'spool', 'trajectories')),
    ...(tuning.CIR_TRAJ_WAL === 'on' && { wal: new FsWriteAheadLog(join(dataDir, 'spool', 'wal')) }),
    batchMaxRecords: tuning.CIR_TRAJ_BATCH_RECORDS,
    batchMaxAgeMs: tuning.CIR_TRAJ_BATCH_MS,
    maxBufferedRecords: tuning.CIR_TRAJ_BUFFER_RECORDS,
    retryMaxDelayMs: tuning.CIR_TRAJ_RETRY_MAX_MS,
    ...(onError !== undefined && { onError }),
  });
  return {
    logger,
    store,
    queue,
    async close(options) {
      const result = await logger.close(options);
      await Promise.all([store.close?.(), queue.close?.()]);
      return result;
    },
  };
}
