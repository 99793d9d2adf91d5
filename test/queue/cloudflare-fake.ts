/**
 * Cloudflare's queue REST API as documented (messages, messages/pull, messages/ack under
 * /accounts/:account/queues/:queue), in memory, with leases: what CloudflareHttpQueue is checked against.
 */
export function fakeCloudflare(token: string) {
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
