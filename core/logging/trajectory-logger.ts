import { QUEUE_MESSAGE_SCHEMA_VERSION, encodeQueueMessage } from '../schemas/queue-message.ts';
import { parseTrajectoryRecord, type TrajectoryRecord } from '../schemas/trajectory.ts';
import type { QueueProducer } from '../queue/queue.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { BATCH_CONTENT_TYPE, decodeSpoolEntry, encodeBatch, encodeSpoolEntry } from './batch.ts';
import type { WalSegment, WriteAheadLog } from './wal.ts';

/**
 * Write-behind logging of trajectories: a request hands its record to accept() and goes on; records
 * are batched into gzipped JSONL objects, stored, and announced on the queue in the background.
 *
 * Nothing accepted is lost to a remote outage or a restart, at the price of possible duplicates
 * (record ids let the trainer drop them):
 *  - a sealed batch is first written to the local spool (fsynced), then stored, then announced, and
 *    only then removed from the spool — a crash at any point leaves it in the spool, and the next
 *    logger opened on that spool delivers it again (re-storing under the same key is idempotent);
 *  - a failed store or send is retried with exponential backoff and jitter for as long as it takes,
 *    while new batches keep going to the spool, so requests are not slowed by the outage;
 *  - memory is bounded: records not yet in the spool (or, without a spool, not yet delivered) count
 *    against maxBufferedRecords, and when it is reached accept() waits for room (back-pressure).
 *
 * Lifetime: `await TrajectoryLogger.open(options)` (delivers what a previous process left in the
 * spool), accept() per record, `await close()` on shutdown (SIGTERM). The logger does not own the
 * store, queue or spool: close those after it. On Workers, work left after a response runs only if
 * the request keeps it alive: `ctx.waitUntil(logger.flush())` after accept().
 */
export interface TrajectoryLoggerOptions {
  /** Where batch objects go (fs, S3, R2). */
  store: ObjectStore;
  /** Where batch announcements go (local, SQS, Cloudflare Queues). */
  queue: QueueProducer;
  /**
   * Durable local holding area for batches until they are delivered; an FsObjectStore on Node. Without
   * one (Workers) undelivered batches live only in memory, and are lost if the isolate goes away.
   */
  spool?: ObjectStore;
  /**
   * Node: the write-ahead log of the open batch (wal.ts). accept() then resolves only once its records
   * are on disk, so a SIGKILL loses none that were accepted; a new logger turns what a killed one left
   * into batches. Used only with a spool.
   */
  wal?: WriteAheadLog;
  /** Seal a batch at this many records… */
  batchMaxRecords?: number;
  /** …or when its first record has waited this long. */
  batchMaxAgeMs?: number;
  /** Records held in memory before accept() applies back-pressure. */
  maxBufferedRecords?: number;
  /** Backoff between delivery attempts: base·2^(attempt-1), capped, with jitter. */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Delivery problems (outages, a spool that cannot be written). Default: one line on stderr. */
  onError?: (error: unknown, context: string) => void;
}

export interface TrajectoryLoggerStats {
  /** Records taken in by accept(). */
  accepted: number;
  /** Records refused by accept() as invalid. */
  rejected: number;
  /** Records in batches this process stored in the object store. */
  stored: number;
  /** Records in batches this process announced on the queue. */
  queued: number;
  /** Records in batches that went to the spool while the remote was failing, to wait there for it. */
  spilled: number;
  /** Records delivered from batches a previous process left in the spool. */
  recovered: number;
  /** Delivery attempts that failed and were retried. */
  retries: number;
  /** Records in memory not yet made durable (the back-pressure bound applies to this). */
  buffered: number;
  /** Batches sealed or recovered and not yet announced. */
  backlog: number;
}

export interface CloseResult {
  /** Batches not announced by the deadline; they stay in the spool for the next process (lost without a spool). */
  undeliveredBatches: number;
}

export class LoggerClosedError extends Error {
  constructor() {
    super('trajectory logger is closed');
    this.name = 'LoggerClosedError';
  }
}

/** A batch on its way to the store and the queue. */
interface Outgoing {
  seq: number;
  /** Its spool key, or null when it is held only in memory. */
  spoolKey: string | null;
  /** In memory until spooled; afterwards read back from the spool when delivered. */
  bytes: Uint8Array | null;
  /** Unknown (null, 0) for a recovered batch until it is read back from the spool. */
  key: string | null;
  count: number;
  checksum: string | null;
  stored: boolean;
  /** Left by a previous process. */
  recovered: boolean;
  /** Already counted in `spilled`. */
  spilled: boolean;
  /** Its write-ahead segment, discarded once the batch is durable elsewhere. */
  wal: WalSegment | null;
}

/** First segment of batch object keys in the store. */
const KEY_PREFIX = 'trajectories';
const SPOOL_PREFIX = 'batches/';
const QUARANTINE_PREFIX = 'quarantine/';

export class TrajectoryLogger {
  private readonly store: ObjectStore;
  private readonly queue: QueueProducer;
  private readonly spool: ObjectStore | undefined;
  private readonly wal: WriteAheadLog | undefined;
  /** The write-ahead segment of the open batch. */
  private openWal: WalSegment | null = null;
  private readonly batchMaxRecords: number;
  private readonly batchMaxAgeMs: number;
  private readonly maxBufferedRecords: number;
  private readonly retryBaseDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly onError: (error: unknown, context: string) => void;

  private readonly counters = { accepted: 0, rejected: 0, stored: 0, queued: 0, spilled: 0, recovered: 0, retries: 0 };
  private buffered = 0;
  /** Serialized lines of the batch being filled. */
  private open: string[] = [];
  private openTimer: ReturnType<typeof setTimeout> | undefined;
  /** accept() calls waiting for buffer room, in arrival order; each brings one request's records. */
  private readonly waiters: { lines: string[]; resolve: () => void; reject: (error: Error) => void }[] = [];
  /** Sealing (encode + spool write) runs one batch at a time, so batches reach the outbox in order. */
  private sealing: Promise<void> = Promise.resolve();
  private sealingCount = 0;
  private readonly outbox: Outgoing[] = [];
  /** Batches are numbered in sealing order; the outbox is delivered in that order. */
  private lastSeq = 0;
  /** Every batch up to this number has been through sealing (into the outbox, or failed to encode). */
  private sealedThrough = 0;
  private pumping: Promise<void> | null = null;
  private closing = false;
  private closed: Promise<CloseResult> | undefined;
  private stopped = false;
  private wakeBackoff: (() => void) | null = null;
  /** The last delivery attempt failed: batches sealed now are spilled, not just passing through the spool. */
  private remoteFailing = false;
  /** Resolved and replaced on every state change that a flush() or close() might be waiting for. */
  private changed = deferred();

  private constructor(options: TrajectoryLoggerOptions) {
    this.store = options.store;
    this.queue = options.queue;
    this.spool = options.spool;
    this.wal = options.spool ? options.wal : undefined;
    this.batchMaxRecords = positive(options.batchMaxRecords ?? 256, 'batchMaxRecords');
    this.batchMaxAgeMs = positive(options.batchMaxAgeMs ?? 5_000, 'batchMaxAgeMs');
    this.maxBufferedRecords = positive(options.maxBufferedRecords ?? 4_096, 'maxBufferedRecords');
    this.retryBaseDelayMs = positive(options.retryBaseDelayMs ?? 250, 'retryBaseDelayMs');
    this.retryMaxDelayMs = positive(options.retryMaxDelayMs ?? 30_000, 'retryMaxDelayMs');
    this.onError =
      options.onError ??
      ((error, context) => console.warn(`[trajectory-logger] ${context}: ${error instanceof Error ? error.message : String(error)}`));
  }

  /**
   * A logger with nothing to recover: no spool, no write-ahead log, undelivered batches only in
   * memory. Workers, where each request gets its own (api/trajectory-logging/request-scoped.ts).
   */
  static withoutSpool(options: Omit<TrajectoryLoggerOptions, 'spool' | 'wal'>): TrajectoryLogger {
    return new TrajectoryLogger(options);
  }

  /** Creates a logger and starts delivering whatever a previous process left in the spool. */
  static async open(options: TrajectoryLoggerOptions): Promise<TrajectoryLogger> {
    const logger = new TrajectoryLogger(options);
    await logger.recoverWal();
    if (logger.spool) {
      for (const spoolKey of await logger.spool.list(SPOOL_PREFIX)) {
        logger.outbox.push({
          seq: ++logger.lastSeq,
          spoolKey,
          bytes: null,
          key: null,
          count: 0,
          checksum: null,
          stored: false,
          recovered: true,
          spilled: false,
          wal: null,
        });
      }
      logger.sealedThrough = logger.lastSeq;
      logger.kick();
    }
    return logger;
  }

  /** False while accept() would wait for room, and after close(). */
  get accepting(): boolean {
    return !this.closing && this.waiters.length === 0 && this.buffered < this.maxBufferedRecords;
  }

  stats(): TrajectoryLoggerStats {
    return { ...this.counters, buffered: this.buffered, backlog: this.outbox.length + this.sealingCount };
  }

  /**
   * Validates the records (schema and invariants) and takes them in together: the samples of one
   * request (one group) go into one batch, hence one object and one queue message, so the trainer
   * receives the group whole. Resolves at once while there is buffer room, else when room frees up;
   * never waits for storage. Rejects with TrajectoryValidationError if any record is invalid (then
   * none is taken) and LoggerClosedError after close().
   */
  accept(records: TrajectoryRecord | readonly TrajectoryRecord[]): Promise<void> {
    if (this.closing) return Promise.reject(new LoggerClosedError());
    const group = Array.isArray(records) ? (records as readonly TrajectoryRecord[]) : [records as TrajectoryRecord];
    let lines: string[];
    try {
      lines = group.map((record) => JSON.stringify(parseTrajectoryRecord(record)));
    } catch (error) {
      this.counters.rejected += group.length;
      return Promise.reject(error);
    }
    if (lines.length === 0) return Promise.resolve();
    if (this.accepting) return this.admit(lines);
    return new Promise((resolve, reject) => this.waiters.push({ lines, resolve, reject }));
  }

  /**
   * Seals the open batch and resolves once everything accepted so far is stored and announced; waits
   * through outages. Rejects with LoggerClosedError if close() gives up on those batches first.
   */
  async flush(): Promise<void> {
    this.seal();
    const target = this.lastSeq;
    const delivered = () => this.sealedThrough >= target && (this.outbox[0]?.seq ?? Infinity) > target;
    await this.until(() => delivered() || this.stopped);
    if (!delivered()) throw new LoggerClosedError();
  }

  /**
   * Stops taking records, seals the open batch and delivers what it can until `timeoutMs`; then
   * stops retrying. What is left stays in the spool for the next process. Later calls get the first one's result.
   */
  close({ timeoutMs = 10_000 }: { timeoutMs?: number } = {}): Promise<CloseResult> {
    this.closed ??= this.shutDown(timeoutMs);
    return this.closed;
  }

  private async shutDown(timeoutMs: number): Promise<CloseResult> {
    const deadline = Date.now() + timeoutMs;
    this.closing = true;
    this.seal();
    await this.until(() => this.idle(), deadline);
    this.stopped = true;
    this.notify();
    this.wakeBackoff?.();
    clearTimeout(this.openTimer);
    for (const waiter of this.waiters.splice(0)) waiter.reject(new LoggerClosedError());
    // Sealing is local work (encode + fsync) and must finish for the last records to reach the spool;
    // an upload in flight is waited for only until the deadline: its batch is in the spool anyway.
    await this.sealing;
    await this.until(() => this.pumping === null, deadline);
    const undeliveredBatches = this.outbox.length;
    if (undeliveredBatches > 0) {
      const inMemory = this.outbox.filter((o) => o.spoolKey === null).reduce((n, o) => n + o.count, 0);
      this.report(
        new Error(`${undeliveredBatches} batch(es) undelivered at close`),
        inMemory > 0 ? `${inMemory} record(s) held only in memory are lost` : 'they stay in the spool for the next start',
      );
    }
    return { undeliveredBatches };
  }

  private idle(): boolean {
    return this.waiters.length === 0 && this.open.length === 0 && this.sealingCount === 0 && this.outbox.length === 0;
  }

  /**
   * One request's lines into the open batch; a batch is sealed before a group would overflow it, never
   * inside one. Resolves once they are in the write-ahead log (at once without one).
   */
  private admit(lines: readonly string[]): Promise<void> {
    if (this.open.length > 0 && this.open.length + lines.length > this.batchMaxRecords) this.seal();
    if (this.open.length === 0) this.openWal = this.wal?.segment() ?? null;
    const durable = this.openWal?.append(lines) ?? Promise.resolve();
    this.open.push(...lines);
    this.buffered += lines.length;
    this.counters.accepted += lines.length;
    if (this.open.length === lines.length) {
      this.openTimer = setTimeout(() => this.seal(), this.batchMaxAgeMs);
      // Never the reason a process stays up; close() seals and delivers on shutdown.
      (this.openTimer as { unref?: () => void }).unref?.();
    }
    if (this.open.length >= this.batchMaxRecords) this.seal();
    return durable;
  }

  private seal(): void {
    if (this.open.length === 0) return;
    clearTimeout(this.openTimer);
    const lines = this.open;
    const wal = this.openWal;
    this.open = [];
    this.openWal = null;
    const seq = ++this.lastSeq;
    this.sealingCount++;
    this.sealing = this.sealing
      .then(() => this.persist(lines, seq, wal))
      .catch((error: unknown) => this.report(error, `encoding a batch of ${lines.length} record(s) failed; they are lost`))
      .finally(() => {
        this.sealingCount--;
        this.sealedThrough = seq;
        this.notify();
      });
  }

  /** Encodes a batch, writes it to the spool when there is one, and queues it for delivery. */
  private async persist(lines: string[], seq: number, wal: WalSegment | null): Promise<void> {
    const batch = await encodeBatch(lines, KEY_PREFIX, new Date());
    const outgoing: Outgoing = {
      seq,
      spoolKey: null,
      bytes: batch.bytes,
      key: batch.key,
      count: batch.count,
      checksum: batch.checksum,
      stored: false,
      recovered: false,
      spilled: false,
      wal,
    };
    if (this.spool) {
      // Time first in the key, so that a later process recovers batches in the order they were sealed.
      const spoolKey = `${SPOOL_PREFIX}${Date.now().toString().padStart(15, '0')}-${batch.id}.batch`;
      try {
        await this.spool.put(spoolKey, encodeSpoolEntry(batch));
        outgoing.spoolKey = spoolKey;
        outgoing.bytes = null;
        // Durable in the spool now: its write-ahead segment is no longer needed.
        outgoing.wal = null;
        await wal?.discard();
        if (this.remoteFailing) this.markSpilled(outgoing);
        this.release(batch.count);
      } catch (error) {
        this.report(error, 'spool write failed; the batch stays in memory until delivered');
      }
    }
    this.outbox.push(outgoing);
    this.kick();
  }

  /** `n` records left memory: let waiting accept() calls in. */
  private release(n: number): void {
    this.buffered -= n;
    while (this.waiters.length > 0 && this.buffered < this.maxBufferedRecords) {
      const waiter = this.waiters.shift()!;
      this.admit(waiter.lines).then(waiter.resolve, waiter.reject);
    }
    // While closing nobody else will seal what the waiters brought in.
    if (this.closing) this.seal();
    this.notify();
  }

  private kick(): void {
    this.notify();
    if (this.pumping || this.stopped) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      this.notify();
      // A batch queued while the loop was finishing would otherwise wait for the next one.
      if (this.outbox.length > 0) this.kick();
    });
  }

  /** Delivers batches in order, one at a time; a failing head is retried with backoff until it goes through. */
  private async pump(): Promise<void> {
    let attempt = 0;
    while (this.outbox.length > 0 && !this.stopped) {
      const head = this.outbox[0]!;
      try {
        await this.deliver(head);
        this.outbox.shift();
        attempt = 0;
        this.remoteFailing = false;
        this.notify();
      } catch (error) {
        if (this.stopped) break;
        attempt++;
        this.counters.retries++;
        this.remoteFailing = true;
        for (const batch of this.outbox) this.markSpilled(batch);
        this.report(error, `delivering ${head.key ?? head.spoolKey} failed (attempt ${attempt}); retrying`);
        await this.backoff(attempt);
      }
    }
  }

  /** Order of durability: object stored → message sent → batch removed from the spool. */
  private async deliver(batch: Outgoing): Promise<void> {
    const bytes = batch.bytes ?? (await this.loadSpooled(batch));
    if (bytes === null) return; // gone from the spool: another process delivered it, or it was quarantined
    const key = batch.key!;
    const checksum = batch.checksum!;
    // After close() the batch belongs to the spool and the next process: start no new step of it.
    this.throwIfStopped();
    if (!batch.stored) {
      await this.store.put(key, bytes, { contentType: BATCH_CONTENT_TYPE, sha256: checksum });
      batch.stored = true;
      this.counters.stored += batch.count;
      this.throwIfStopped();
    }
    await this.queue.send(
      encodeQueueMessage({ schema_version: QUEUE_MESSAGE_SCHEMA_VERSION, objects: [key], count: batch.count, checksum }),
    );
    this.counters.queued += batch.count;
    if (batch.recovered) this.counters.recovered += batch.count;
    if (batch.spoolKey === null) {
      this.release(batch.count);
      await batch.wal?.discard();
      return;
    }
    try {
      await this.spool!.delete(batch.spoolKey);
    } catch (error) {
      this.report(error, `could not remove delivered ${batch.spoolKey} from the spool; it will be delivered again`);
    }
  }

  /**
   * Turns the write-ahead segments a killed process left into spooled batches (delivered like any batch
   * found in the spool). Lines that do not parse as records (a write cut short) are reported and dropped.
   */
  private async recoverWal(): Promise<void> {
    if (!this.wal || !this.spool) return;
    for (const segment of await this.wal.recover()) {
      const lines = segment.lines.filter((line) => {
        try {
          parseTrajectoryRecord(JSON.parse(line));
          return true;
        } catch (error) {
          this.report(error, `write-ahead segment ${segment.name}: a line that is not a valid record is dropped`);
          return false;
        }
      });
      if (lines.length > 0) {
        const batch = await encodeBatch(lines, KEY_PREFIX, new Date());
        await this.spool.put(`${SPOOL_PREFIX}${Date.now().toString().padStart(15, '0')}-${batch.id}.batch`, encodeSpoolEntry(batch));
      }
      await segment.discard();
    }
  }

  /** Reads a spooled batch back (filling in what a recovered one lacked); null when it is not there to deliver. */
  private async loadSpooled(batch: Outgoing): Promise<Uint8Array | null> {
    const spool = this.spool!;
    const spoolKey = batch.spoolKey!;
    const entry = await spool.get(spoolKey);
    if (entry === null) return null;
    try {
      const decoded = await decodeSpoolEntry(entry, spoolKey);
      batch.key = decoded.key;
      batch.count = decoded.count;
      batch.checksum = decoded.checksum;
      return decoded.bytes;
    } catch (error) {
      // A damaged entry would block every batch behind it forever: set it aside for a person to look at.
      this.report(error, `moving damaged spool entry to ${QUARANTINE_PREFIX}`);
      await spool.put(`${QUARANTINE_PREFIX}${spoolKey.slice(SPOOL_PREFIX.length)}`, entry);
      await spool.delete(spoolKey);
      return null;
    }
  }

  /** Hands a problem to onError; a throwing onError must not break delivery. */
  private report(error: unknown, context: string): void {
    try {
      this.onError(error, context);
    } catch {
      // Nothing better to do with it: delivery goes on.
    }
  }

  private throwIfStopped(): void {
    if (this.stopped) throw new LoggerClosedError();
  }

  private markSpilled(batch: Outgoing): void {
    if (batch.spoolKey === null || batch.spilled || batch.recovered) return;
    batch.spilled = true;
    this.counters.spilled += batch.count;
  }

  private backoff(attempt: number): Promise<void> {
    const cap = Math.min(this.retryMaxDelayMs, this.retryBaseDelayMs * 2 ** Math.min(attempt - 1, 30));
    const delay = cap / 2 + (Math.random() * cap) / 2;
    // Not unref'd: a process waiting in flush() during an outage must stay up until delivery.
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.wakeBackoff?.(), delay);
      this.wakeBackoff = () => {
        clearTimeout(timer);
        this.wakeBackoff = null;
        resolve();
      };
    });
  }

  private notify(): void {
    this.changed.resolve();
    this.changed = deferred();
  }

  /** Waits until `condition` holds (true) or `deadline` passes (false). */
  private async until(condition: () => boolean, deadline = Infinity): Promise<boolean> {
    while (!condition()) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = Number.isFinite(remaining) ? new Promise<void>((r) => (timer = setTimeout(r, remaining))) : null;
      await (timeout ? Promise.race([this.changed.promise, timeout]) : this.changed.promise);
      clearTimeout(timer);
    }
    return true;
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function positive(value: number, name: string): number {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}
