import { sha256Hex } from '../../core/bytes.ts';
import { readTrajectories, TrajectoryReadError, type TrajectoryReadErrorKind } from '../../core/logging/read.ts';
import type { QueueConsumer, ReceivedMessage } from '../../core/queue/queue.ts';
import { decodeQueueMessage, QueueMessageError, type QueueMessage } from '../../core/schemas/queue-message.ts';
import type { TrajectoryRecord } from '../../core/schemas/trajectory.ts';
import type { ObjectStore } from '../../core/storage/object-store.ts';
import { Inbox, type InboxEntry, type RejectedLine } from './inbox.ts';

/**
 * Turns queue messages into durably accounted trajectory records (see inbox.ts). Per message:
 * decode → fetch and verify its objects → validate every record (bad lines are rejected and reported,
 * not fatal) → drop records whose id was already accepted → write the account atomically → only then
 * delete the message. A crash before the write redoes the message on redelivery; a crash after it
 * finds the message's key in the inbox and just deletes it again.
 */

/** Whole-message failures that cannot heal on redelivery (the bytes are what they are). */
const PERMANENT: ReadonlySet<TrajectoryReadErrorKind> = new Set(['checksum_mismatch', 'corrupt_gzip', 'count_mismatch']);

export interface ConsumerOptions {
  /** Directory of the consumer's ledger (`<run>/consumer`). */
  dir: string;
  store: ObjectStore;
  queue: QueueConsumer;
  /** Lease on a received message. Default 300 s. */
  visibilityTimeoutS?: number;
  /**
   * Deliveries of a message that fails for a reason that may heal (an object not in the store yet, the
   * store unreachable) before it is set aside as a dead letter. Default 5.
   */
  maxReceives?: number;
  /** One line per notable event (rejections, dead letters, retries). */
  log?: (line: string) => void;
}

/** What one poll did, or (from totals()) everything the ledger holds. */
export interface ConsumeCounts {
  /** Messages accounted for (including dead letters and redeliveries recognised as done). */
  messages: number;
  /** Records accepted for training. */
  accepted: number;
  /** Valid records dropped because their id was already accepted. */
  duplicates: number;
  /** Lines rejected as malformed, foreign-schema or invalid. */
  rejected: number;
  /** Messages set aside whole (undecodable, corrupt, or failing past maxReceives). */
  deadLettered: number;
  /** Deliveries of a message already accounted for (redelivered after a crash, or sent twice). */
  redelivered: number;
  /** Deliveries left in the queue to be retried (transient failure). */
  retrying: number;
}

const zeroCounts = (): ConsumeCounts => ({ messages: 0, accepted: 0, duplicates: 0, rejected: 0, deadLettered: 0, redelivered: 0, retrying: 0 });

export class TrajectoryConsumer {
  private constructor(
    private readonly options: Required<Omit<ConsumerOptions, 'log'>> & Pick<ConsumerOptions, 'log'>,
    readonly inbox: Inbox,
  ) {}

  static async open(options: ConsumerOptions): Promise<TrajectoryConsumer> {
    return new TrajectoryConsumer(
      { visibilityTimeoutS: 300, maxReceives: 5, ...options },
      await Inbox.open(options.dir),
    );
  }

  /** One receive call (up to `max` messages, waiting up to `waitS` for the first), each message handled. */
  async poll({ max = 10, waitS = 0 }: { max?: number; waitS?: number } = {}): Promise<ConsumeCounts> {
    const counts = zeroCounts();
    const received = await this.options.queue.receive({ max, visibilityTimeoutS: this.options.visibilityTimeoutS, waitS });
    for (const message of received) await this.handle(message, counts);
    return counts;
  }

  /** Entries accounted for but not yet trained on. */
  pending(): InboxEntry[] {
    return this.inbox.pending();
  }

  pendingRecordCount(): number {
    return this.pending().reduce((n, e) => n + e.header.ids.length, 0);
  }

  records(entries: readonly InboxEntry[]): Promise<TrajectoryRecord[]> {
    return this.inbox.records(entries);
  }

  /** Totals over the whole ledger (what every poll of this run, across restarts, has accounted for). */
  totals(): Omit<ConsumeCounts, 'redelivered' | 'retrying'> {
    const t = zeroCounts();
    for (const { header } of this.inbox.all) {
      t.messages++;
      t.accepted += header.ids.length;
      t.duplicates += header.duplicates;
      t.rejected += header.rejected.length;
      if (header.dead_letter) t.deadLettered++;
    }
    const { redelivered: _r, retrying: _t, ...rest } = t;
    return rest;
  }

  private async handle(received: ReceivedMessage, counts: ConsumeCounts): Promise<void> {
    const log = this.options.log ?? (() => {});
    let message: QueueMessage;
    try {
      message = decodeQueueMessage(received.body);
    } catch (error) {
      if (!(error instanceof QueueMessageError)) throw error;
      const key = await sha256Hex(new TextEncoder().encode(received.body));
      if (await this.alreadyDone(key, received, counts)) return;
      await this.deadLetter(key, received, [], `undecodable queue message: ${error.message}`, counts);
      return;
    }
    if (await this.alreadyDone(message.checksum, received, counts)) return;

    const rejected: RejectedLine[] = [];
    let records: TrajectoryRecord[];
    try {
      records = await readTrajectories(this.options.store, message, {
        onInvalidLine: (e) => rejected.push({ object: e.object, line: e.line, kind: e.kind, detail: e.message }),
      });
    } catch (error) {
      const permanent = error instanceof TrajectoryReadError && PERMANENT.has(error.kind);
      const reason = error instanceof TrajectoryReadError ? error.message : `store error: ${(error as Error).message}`;
      if (permanent || received.receiveCount >= this.options.maxReceives) {
        await this.deadLetter(message.checksum, received, message.objects, permanent ? reason : `${reason} (after ${received.receiveCount} deliveries)`, counts);
      } else {
        // Left in the queue: it comes back after its visibility timeout.
        counts.retrying++;
        log(`message ${received.id}: ${reason}; will retry (delivery ${received.receiveCount} of ${this.options.maxReceives})`);
      }
      return;
    }

    const fresh: TrajectoryRecord[] = [];
    const seen = new Set<string>();
    let duplicates = 0;
    for (const record of records) {
      if (this.inbox.hasId(record.id) || seen.has(record.id)) duplicates++;
      else {
        seen.add(record.id);
        fresh.push(record);
      }
    }
    await this.inbox.add(
      {
        key: message.checksum,
        message_id: received.id,
        objects: message.objects,
        received_at: new Date().toISOString(),
        receive_count: received.receiveCount,
        duplicates,
        rejected,
        dead_letter: null,
      },
      fresh,
    );
    for (const r of rejected) log(`rejected ${r.detail}`);
    counts.messages++;
    counts.accepted += fresh.length;
    counts.duplicates += duplicates;
    counts.rejected += rejected.length;
    await this.options.queue.delete(received.receipt);
  }

  /** A delivery of a message whose account is already written: only the delete was missing. */
  private async alreadyDone(key: string, received: ReceivedMessage, counts: ConsumeCounts): Promise<boolean> {
    if (!this.inbox.hasKey(key)) return false;
    counts.redelivered++;
    await this.options.queue.delete(received.receipt);
    return true;
  }

  private async deadLetter(key: string, received: ReceivedMessage, objects: string[], reason: string, counts: ConsumeCounts): Promise<void> {
    await this.inbox.add(
      {
        key,
        message_id: received.id,
        objects,
        received_at: new Date().toISOString(),
        receive_count: received.receiveCount,
        duplicates: 0,
        rejected: [],
        dead_letter: { reason, body: received.body },
      },
      [],
    );
    (this.options.log ?? (() => {}))(`message ${received.id} set aside (kept in the run directory): ${reason}`);
    counts.messages++;
    counts.deadLettered++;
    await this.options.queue.delete(received.receipt);
  }
}
