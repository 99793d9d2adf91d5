import type { QueueProducer } from './queue.ts';

/**
 * The producer half of a Cloudflare Queues binding (`env.TRAJECTORY_QUEUE`), typed here so that core/
 * needs no @cloudflare/workers-types. A real Queue binding satisfies it structurally.
 */
export interface CloudflareQueueBinding {
  send(body: unknown, options?: { contentType?: 'text' | 'json' | 'bytes' | 'v8' }): Promise<void>;
}

/**
 * Sends queue messages from a Worker through its binding.
 *
 * Only a producer: Cloudflare hands messages to a Worker's `queue()` handler or, for consumers outside
 * Workers, to the HTTP pull API. The trainer runs on Node, so on Cloudflare the trajectory queue gets an
 * HTTP pull consumer (`type = "http_pull"`) and the trainer reads it with CloudflareHttpQueue
 * (CIR_QUEUE=cloudflare). Bodies go as 'text', which the pull API returns verbatim ('v8' would be
 * unreadable outside Workers).
 */
export class CloudflareQueueProducer implements QueueProducer {
  constructor(private readonly binding: CloudflareQueueBinding) {}

  async send(body: string): Promise<void> {
    await this.binding.send(body, { contentType: 'text' });
  }
}
