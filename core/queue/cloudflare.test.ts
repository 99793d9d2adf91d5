import { describe, expect, it } from 'vitest';
import { CloudflareQueueProducer } from './cloudflare.ts';
import { CloudflareHttpQueue } from './cloudflare-http.ts';
import { createQueueFromEnv } from './from-env.ts';

/**
 * Cloudflare's queue REST API as documented (messages, messages/pull, messages/ack under
 * /accounts/:account/queues/:queue), in memory, with leases: what CloudflareHttpQueue is checked against.
 */
function fakeCloudflare(token: string) {
  const ready: { id: string; body: string; attempts: number }[] = [];
  const leased = new Map<string, { message: { id: string; body: string; attempts: number }; until: number }>();
  const requests: { path: string; body: Record<string, unknown> }[] = [];
  let n = 0;
  const fetch = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const path = new URL(String(url)).pathname;
    const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
    requests.push({ path, body });
    const reply = (status: number, payload: unknown) => new Response(JSON.stringify(payload), { status });
    if (new Headers(init?.headers).get('authorization') !== `Bearer ${token}`) {
      return reply(403, { success: false, errors: [{ message: 'Authentication error' }] });
    }
    const base = '/client/v4/accounts/acc/queues/q1/messages';
    const now = Date.now();
    for (const [lease, { message, until }] of leased) {
      if (until > now) continue;
      leased.delete(lease);
      ready.push(message);
    }
    if (path === base) {
      ready.push({ id: `m${++n}`, body: String(body.body), attempts: 0 });
      return reply(200, { success: true, errors: [], result: {} });
    }
    if (path === `${base}/pull`) {
      const messages = ready.splice(0, Number(body.batch_size)).map((m) => {
        m.attempts++;
        const lease_id = `lease-${m.id}-${m.attempts}`;
        leased.set(lease_id, { message: m, until: now + Number(body.visibility_timeout_ms) });
        return { id: m.id, body: m.body, attempts: m.attempts, lease_id, metadata: {}, timestamp_ms: now };
      });
      return reply(200, { success: true, errors: [], result: { messages } });
    }
    if (path === `${base}/ack`) {
      for (const { lease_id } of body.acks as { lease_id: string }[]) leased.delete(lease_id);
      return reply(200, { success: true, errors: [], result: { ackCount: 1 } });
    }
    return reply(404, { success: false, errors: [{ message: 'not found' }] });
  };
  return { fetch: fetch as typeof globalThis.fetch, requests };
}

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
