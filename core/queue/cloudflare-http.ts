import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue, ReceivedMessage, ReceiveOptions } from './queue.ts';

export interface CloudflareHttpQueueOptions {
  accountId: string;
  queueId: string;
  /** An API token with Queues Edit permission (pulling needs write access to acknowledge). */
  apiToken: string;
  /** The API base; Cloudflare's own by default. */
  apiBase?: string;
  /** Injected by tests; the global fetch otherwise. */
  fetch?: typeof fetch;
}

/** The pull API answers at once; a receive() asked to wait polls at this pace. */
const POLL_MS = 1_000;
/** Cloudflare's limit on messages per pull. */
const MAX_BATCH = 100;

interface PulledMessage {
  id?: string;
  body?: string;
  lease_id?: string;
  attempts?: number;
}

/**
 * A Cloudflare Queue through Cloudflare's REST API, for processes outside Workers: the trainer pulls
 * from the queue the Worker's logger sends to (the queue's consumer must be `type = "http_pull"`).
 * Messages are sent as text (the logger's binding sends text too), which the pull API returns verbatim.
 * Leases cannot be extended: receive with a visibility timeout that covers the work.
 */
export class CloudflareHttpQueue implements Queue {
  private readonly base: string;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: CloudflareHttpQueueOptions) {
    this.base = `${options.apiBase ?? 'https://api.cloudflare.com/client/v4'}/accounts/${encodeURIComponent(options.accountId)}/queues/${encodeURIComponent(options.queueId)}/messages`;
    this.fetch = options.fetch ?? fetch;
  }

  async send(body: string): Promise<void> {
    await this.call('', { body, content_type: 'text' });
  }

  async receive({ max, visibilityTimeoutS, waitS = 0 }: ReceiveOptions): Promise<ReceivedMessage[]> {
    const deadline = Date.now() + waitS * 1000;
    for (;;) {
      const result = (await this.call('/pull', {
        batch_size: Math.min(Math.max(1, max), MAX_BATCH),
        visibility_timeout_ms: Math.round(visibilityTimeoutS * 1000),
      })) as { messages?: PulledMessage[] } | null;
      const messages = (result?.messages ?? []).flatMap((m) =>
        m.id !== undefined && m.lease_id !== undefined
          ? [{ id: m.id, body: m.body ?? '', receipt: m.lease_id, receiveCount: m.attempts ?? 1 }]
          : [],
      );
      if (messages.length > 0 || Date.now() >= deadline) return messages;
      await sleep(Math.min(POLL_MS, deadline - Date.now()));
    }
  }

  async delete(receipt: string): Promise<void> {
    await this.call('/ack', { acks: [{ lease_id: receipt }], retries: [] });
  }

  /** POSTs to the messages API and returns its `result`; throws with Cloudflare's error messages (never the token). */
  private async call(path: string, body: unknown): Promise<unknown> {
    const response = await this.fetch(`${this.base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.options.apiToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const payload = (await response.json().catch(() => null)) as {
      success?: boolean;
      errors?: { message?: string }[];
      result?: unknown;
    } | null;
    if (!response.ok || payload?.success === false) {
      const reasons = payload?.errors?.map((e) => e.message).filter(Boolean).join('; ');
      throw new Error(`Cloudflare Queues ${path || '/'} failed: HTTP ${response.status}${reasons ? `: ${reasons}` : ''}`);
    }
    return payload?.result ?? null;
  }
}
