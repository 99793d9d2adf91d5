import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeRecord } from '../../test/logging/fixtures.ts';
import { LocalQueue } from '../queue/local.ts';
import { decodeQueueMessage } from '../schemas/queue-message.ts';
import { FsObjectStore } from '../storage/fs.ts';
import { createTrajectoryLoggingFromEnv } from './from-env.ts';
import { readTrajectories } from './read.ts';

describe('createTrajectoryLoggingFromEnv', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cir-logging-env-'));
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('defaults to files and a local queue under the data directory, which the trainer side can read', async () => {
    const logging = await createTrajectoryLoggingFromEnv({}, { dataDir });
    expect(logging.store).toBeInstanceOf(FsObjectStore);
    expect(logging.queue).toBeInstanceOf(LocalQueue);
    const record = makeRecord();
    await logging.logger.accept(record);
    expect(await logging.close()).toEqual({ undeliveredBatches: 0 });

    // A separate reader process: the same directories, opened afresh.
    const queue = new LocalQueue(join(dataDir, 'queue'));
    const [message] = await queue.receive({ max: 1, visibilityTimeoutS: 30 });
    const records = await readTrajectories(new FsObjectStore(join(dataDir, 'objects')), decodeQueueMessage(message!.body));
    expect(records).toEqual([record]);
    await queue.delete(message!.receipt);
  });

  it('names bad tuning variables', async () => {
    await expect(createTrajectoryLoggingFromEnv({ CIR_TRAJ_BATCH_RECORDS: '0' }, { dataDir })).rejects.toThrow(/CIR_TRAJ_BATCH_RECORDS="0"/);
  });
});
