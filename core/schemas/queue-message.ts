import { z } from 'zod';
import { SHA256_HEX } from '../bytes.ts';
import { formatIssues } from './issues.ts';

/**
 * What the logger puts on the queue for the trainer: the stored objects to consume, how many records
 * they hold, and a checksum so the reader can tell a complete object from a damaged one.
 */
export const QUEUE_MESSAGE_SCHEMA_VERSION = 1;

export const QueueMessageSchema = z.strictObject({
  schema_version: z.literal(QUEUE_MESSAGE_SCHEMA_VERSION, {
    error: (issue) =>
      `unsupported queue message schema_version ${JSON.stringify(issue.input)} (this build reads ${QUEUE_MESSAGE_SCHEMA_VERSION})`,
  }),
  /** Object-store keys, in order. */
  objects: z.array(z.string().min(1)).min(1),
  /** Records (JSONL lines) in all the objects together. */
  count: z.number().int().nonnegative(),
  /** Hex SHA-256 of the objects' stored bytes concatenated in order (for one object: that object's SHA-256). */
  checksum: z.string().regex(SHA256_HEX, 'must be a lower-case hex SHA-256'),
});

export type QueueMessage = z.infer<typeof QueueMessageSchema>;

export class QueueMessageError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid queue message: ${issues.join('; ')}`);
    this.name = 'QueueMessageError';
  }
}

export function encodeQueueMessage(message: QueueMessage): string {
  return JSON.stringify(QueueMessageSchema.parse(message));
}

/** Parses a message body as received from a queue; throws QueueMessageError on anything else. */
export function decodeQueueMessage(body: string): QueueMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new QueueMessageError(['body is not JSON']);
  }
  const parsed = QueueMessageSchema.safeParse(json);
  if (!parsed.success) throw new QueueMessageError(formatIssues(parsed.error));
  return parsed.data;
}
