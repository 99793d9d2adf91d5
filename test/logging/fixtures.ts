import type { QueueProducer } from '../../core/queue/queue.ts';
import type { ObjectStore } from '../../core/storage/object-store.ts';
import { TRAJECTORY_SCHEMA_VERSION, type TrajectoryRecord } from '../../core/schemas/trajectory.ts';

/**
 * A valid record: text (3 tokens) → code (4) → sandbox output (3) → text with the answer (2).
 * `overrides` replace top-level fields, for tests that break one thing at a time.
 */
export function makeRecord(overrides: Partial<TrajectoryRecord> = {}): TrajectoryRecord {
  return {
    schema_version: TRAJECTORY_SCHEMA_VERSION,
    id: crypto.randomUUID(),
    request_id: 'req-1',
    sample_index: 0,
    group_id: 'problem-42',
    group_size: 1,
    model: 'tiny-math',
    checkpoint_version: 'ckpt-000000',
    problem: 'What is 2**10?',
    prompt_ids: [1, 2, 3, 4],
    response_ids: [10, 11, 12, 20, 21, 22, 23, 30, 31, 32, 40, 41],
    logprobs: [-0.1, -0.2, -0.3, -0.4, -0.5, -0.6, -0.7, null, null, null, -0.8, -0.9],
    loss_mask: [1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1],
    turns: [
      { kind: 'text', start: 0, end: 3 },
      { kind: 'code', start: 3, end: 7 },
      { kind: 'output', start: 7, end: 10 },
      { kind: 'text', start: 10, end: 12 },
    ],
    tool_calls: [
      { turn: 1, output_turn: 2, language: 'python', code: 'print(2**10)', status: 'ok', duration_ms: 12.5, truncated: false },
    ],
    budget: { limit: 2, used: 1 },
    final_answer: '1024',
    gold: '1024',
    reward: 1,
    finish_reason: 'stop',
    partial: false,
    timings: { total_ms: 120, generation_ms: 100, tool_ms: 12.5 },
    request: { temperature: 0.7, max_tokens: 512, tags: { dataset: 'unit' } },
    created_at: '2025-01-31T12:00:00.000Z',
    ...overrides,
  };
}

/** An in-memory store whose every call fails while `down` is set (a remote outage). */
export class FlakyMemoryStore implements ObjectStore {
  readonly objects = new Map<string, Uint8Array>();
  down = false;
  puts = 0;

  async put(key: string, bytes: Uint8Array): Promise<void> {
    this.check();
    this.puts++;
    this.objects.set(key, bytes.slice());
  }
  async get(key: string): Promise<Uint8Array | null> {
    this.check();
    return this.objects.get(key) ?? null;
  }
  async list(prefix: string): Promise<string[]> {
    this.check();
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
  async delete(key: string): Promise<void> {
    this.check();
    this.objects.delete(key);
  }
  private check(): void {
    if (this.down) throw new Error('store unavailable (simulated outage)');
  }
}

/** An in-memory queue producer that records bodies and fails while `down` is set. */
export class FlakyMemoryQueue implements QueueProducer {
  readonly sent: string[] = [];
  down = false;

  async send(body: string): Promise<void> {
    if (this.down) throw new Error('queue unavailable (simulated outage)');
    this.sent.push(body);
  }
}
