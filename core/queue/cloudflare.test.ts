import { describe, expect, it } from 'vitest';
import { CloudflareQueueProducer } from './cloudflare.ts';
import { CloudflareHttpQueue } from './cloudflare-http.ts';
import { createQueueFromEnv } from './from-env.ts';
import { fakeCloudflare } from '../../test/queue/cloudflare-fake.ts';

describe('Cloudflare Queues', () => {
  it('the binding producer sends text bodies', async () => {
    const sent: unknown[] = [];
    await new CloudflareQueueProducer({ send: async (body, options) => void sent.push([body, options]) }).send('{"a":1}');
    expect(sent).toEqual([['{"a":1}', { contentType: 'text' }]]);
  });

  it('the HTTP queue sends, pulls with a lease, redelivers after it, and acks', async () => {
    const cf = fakeCloudflare('tok');
    const queue = new CloudflareHttpQueue({ accountId: 'acc', queueId: 'q1', apiToken: 'tok', fetch: cf.fetch });
    await queue.send('hello');
    const [m] = await queue.receive({ max: 5, visibilityTimeoutS: 0.1 });
    expect(m).toMatchObject({ body: 'hello', receiveCount: 1 });
    expect(cf.requests.at(-1)).toEqual({ path: '/client/v4/accounts/acc/queues/q1/messages/pull', body: { batch_size: 5, visibility_timeout_ms: 100 } });
    expect(await queue.receive({ max: 5, visibilityTimeoutS: 30 })).toEqual([]);
    await new Promise((r) => setTimeout(r, 150));
    const [again] = await queue.receive({ max: 5, visibilityTimeoutS: 30, waitS: 2 });
    expect(again).toMatchObject({ id: m!.id, receiveCount: 2 });
    await queue.delete(again!.receipt);
    expect(cf.requests.at(-1)!.body).toEqual({ acks: [{ lease_id: again!.receipt }], retries: [] });
    expect(await queue.receive({ max: 5, visibilityTimeoutS: 30 })).toEqual([]);
  });

  it('reports Cloudflare errors without the token', async () => {
    const cf = fakeCloudflare('right');
    const queue = new CloudflareHttpQueue({ accountId: 'acc', queueId: 'q1', apiToken: 'wrong-secret', fetch: cf.fetch });
    const error = await queue.send('x').then(() => null, (e: unknown) => e as Error);
    expect(error?.message).toBe('Cloudflare Queues / failed: HTTP 403: Authentication error');
  });

  it('is what CIR_QUEUE=cloudflare builds, and names the variables it lacks', () => {
    expect(() => createQueueFromEnv({ CIR_QUEUE: 'cloudflare', CIR_CF_API_TOKEN: 'secret-token' }, { dataDir: '/tmp' })).toThrow(
      /CIR_CF_ACCOUNT_ID=\(unset\): required when CIR_QUEUE=cloudflare[\s\S]*CIR_CF_QUEUE_ID=\(unset\)/,
    );
    const env = { CIR_QUEUE: 'cloudflare', CIR_CF_ACCOUNT_ID: 'acc', CIR_CF_QUEUE_ID: 'q1', CIR_CF_API_TOKEN: 't' };
    expect(createQueueFromEnv(env, { dataDir: '/tmp' })).toBeInstanceOf(CloudflareHttpQueue);
  });
});
