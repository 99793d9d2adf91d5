// A Worker that exercises the logging layer inside workerd (see workers-runtime.test.ts): the logger
// with the R2 binding and a Queues-shaped producer, then the trainer's reader on what it wrote.
import { TrajectoryLogger } from '../../core/logging/trajectory-logger.ts';
import { readTrajectories } from '../../core/logging/read.ts';
import { CloudflareQueueProducer } from '../../core/queue/cloudflare.ts';
import { decodeQueueMessage } from '../../core/schemas/queue-message.ts';
import { R2ObjectStore, type R2BucketLike } from '../../core/storage/r2.ts';
import { makeRecord } from './fixtures.ts';

export default {
  async fetch(_request: Request, env: { BUCKET: R2BucketLike }): Promise<Response> {
    const store = new R2ObjectStore(env.BUCKET);
    const sent: unknown[] = [];
    const queue = new CloudflareQueueProducer({ send: async (body) => void sent.push(body) });
    const logger = await TrajectoryLogger.open({ store, queue, batchMaxRecords: 2 });
    const records = Array.from({ length: 5 }, () => makeRecord());
    for (const record of records) await logger.accept(record);
    await logger.flush();
    await logger.close();

    const readBack: string[] = [];
    for (const body of sent) readBack.push(...(await readTrajectories(store, decodeQueueMessage(String(body)))).map((r) => r.id));
    const refusedDamaged = await store
      .put('trajectories/damaged', new TextEncoder().encode('x'), { sha256: '0'.repeat(64) })
      .then(() => false, () => true);
    return Response.json({
      accepted: records.map((r) => r.id),
      readBack,
      objects: await store.list('trajectories/'),
      stats: logger.stats(),
      refusedDamaged,
    });
  },
};
