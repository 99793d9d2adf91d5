import { describe, expect, it } from 'vitest';
import { decodeQueueMessage, encodeQueueMessage, QueueMessageError, type QueueMessage } from './queue-message.ts';

const message: QueueMessage = {
  schema_version: 1,
  objects: ['trajectories/2025/01/31/6c1f6a34-8d8f-4a53-9a43-3f2a6a3c7a10.jsonl.gz'],
  count: 256,
  checksum: 'a'.repeat(64),
};

describe('queue message', () => {
  it('round-trips', () => {
    expect(decodeQueueMessage(encodeQueueMessage(message))).toEqual(message);
  });

  it('refuses non-JSON, a foreign version, no objects and a malformed checksum', () => {
    expect(() => decodeQueueMessage('nope')).toThrow(QueueMessageError);
    expect(() => decodeQueueMessage(JSON.stringify({ ...message, schema_version: 7 }))).toThrow(
      'unsupported queue message schema_version 7 (this build reads 1)',
    );
    expect(() => decodeQueueMessage(JSON.stringify({ ...message, objects: [] }))).toThrow(/objects/);
    expect(() => decodeQueueMessage(JSON.stringify({ ...message, checksum: 'ABC' }))).toThrow(/checksum: must be a lower-case hex SHA-256/);
  });
});
