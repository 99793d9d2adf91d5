// A Worker that exercises the logging layer inside workerd (see workers-runtime.test.ts): the logger
// with the R2 binding and a Queues-shaped producer, then the trainer's reader on what it wrote.
import { TrajectoryLogger } from '../../core/logging/trajectory-logger.ts';
import { readTrajectories } from '../../core/logging/read.ts';
import { CloudflareQueueProducer } from '../../core/queue/cloudflare.ts';
import { decodeQueueMessage } from '../../core/schemas/queue-message.ts';
import { R2ObjectStore, type R2BucketLike } from '../../core/storage/r2.ts';
import { makeRecord } from './fixtures.ts';

/** An R2 binding whose first `failures` puts fail, as R2 does in an outage. */
function flakyBucket(bucket: R2BucketLike, failures: number): R2BucketLike {
  let left = failures;
  return {
    put: (...args) => (left-- > 0 ? Promise.reject(new Error('R2 unavailable (simulated)')) : bucket.put(...args)),
    get: (key) => bucket.get(key),
    list: (options) => bucket.list(options),
    delete: (key) => bucket.delete(key),
  };
}

/** R2 and the queue both fail mid-request: the records accepted are still stored and announced (retries), and the failures reported. */
async function outage(env: { BUCKET: R2BucketLike }): Promise<Response> {
  const store = new R2ObjectStore(flakyBucket(env.BUCKET, 2));
  const sent: string[] = [];
  let sendFailures = 2;
  const queue = new CloudflareQueueProducer({
    send: async (body) => {
      if (sendFailures-- > 0) throw new Error('Queues unavailable (simulated)');
      sent.push(String(body));
    },
  });
  const reported: string[] = [];
  const logger = await TrajectoryLogger.open({ store, queue, retryBaseDelayMs: 10, onError: (error, context) => reported.push(`${context}: ${(error as Error).message}`) });
  const records = Array.from({ length: 3 }, () => makeRecord());
  for (const record of records) await logger.accept(record);
  await logger.flush();
  await logger.close();
  const readBack: string[] = [];
  for (const body of sent) readBack.push(...(await readTrajectories(store, decodeQueueMessage(body))).map((r) => r.id));
  return Response.json({ accepted: records.map((r) => r.id), readBack, stats: logger.stats(), reported });
}

export default {
  async fetch(request: Request, env: { BUCKET: R2BucketLike }): Promise<Response> {
    if (new URL(request.url).pathname === '/outage') return outage(env);
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
