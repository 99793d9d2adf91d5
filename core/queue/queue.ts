/**
 * A work queue with at-least-once delivery: a received message stays invisible to other consumers
 * for its visibility timeout (its lease) and comes back if it is not deleted by then. Consumers delete
 * a message only after its work is durable, so a crash means a redelivery, never a loss.
 *
 * Bodies are strings; what they hold (core/schemas/queue-message.ts) is the caller's business.
 */
export interface ReceivedMessage {
  id: string;
  body: string;
  /** Names this delivery; pass it to delete()/extendVisibility(). A redelivery gets a new one. */
  receipt: string;
  /** How many times the message has been handed out, this time included (1 on first delivery). */
  receiveCount: number;
}

export interface ReceiveOptions {
  /** At most this many messages (SQS caps one call at 10). */
  max: number;
  /** How long the messages stay invisible to other consumers. */
  visibilityTimeoutS: number;
  /** Wait up to this long for a first message when none is ready (long polling); 0 returns at once. */
  waitS?: number;
}

/** The side the API needs: the logger only sends. */
export interface QueueProducer {
  send(body: string): Promise<void>;
  close?(): Promise<void>;
}

/** The side the trainer needs. */
export interface QueueConsumer {
  receive(options: ReceiveOptions): Promise<ReceivedMessage[]>;
  /** Acknowledges a delivery. A receipt whose lease was lost to another consumer deletes nothing. */
  delete(receipt: string): Promise<void>;
  /**
   * Keeps a message invisible for `visibilityTimeoutS` more seconds from now, for work that outlasts
   * the lease. Absent where the backend cannot (Cloudflare's pull API): ask for a long enough lease.
   */
  extendVisibility?(receipt: string, visibilityTimeoutS: number): Promise<void>;
  close?(): Promise<void>;
}

export interface Queue extends QueueProducer, QueueConsumer {}

/** extendVisibility() on a delivery whose lease already went to another consumer (or that was deleted). */
export class LeaseLostError extends Error {
  constructor(readonly receipt: string) {
    super(`lease lost for receipt ${receipt}: the message was deleted or redelivered to another consumer`);
    this.name = 'LeaseLostError';
  }
}
