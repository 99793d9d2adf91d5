import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { fsyncDir, writeFileAtomic } from '../../core/storage/atomic-file.ts';
import { parseTrajectoryRecord, type TrajectoryRecord } from '../../core/schemas/trajectory.ts';
import { isNotFound, RunFileError } from '../run/files.ts';

/**
 * The consumer's durable ledger: one file per queue message it accounted for, written atomically
 * before the message is deleted from the queue. The file is the whole account of that message (the
 * records it contributed, how many were duplicates, which lines were rejected and why, or why the
 * message itself was set aside), so totals are sums over files and a crash can neither lose nor
 * double-count anything: either the file is there (the message is done) or it is not (it is redone).
 *
 *   inbox/<seq>-<key>.jsonl     accounted for, not yet trained on
 *   consumed/<seq>-<key>.jsonl  trained on (moved there after the step that used it was committed)
 *
 * Line 1 is the header (EntryHeader); each further line is one accepted TrajectoryRecord.
 */

export const RejectedLineSchema = z.object({
  object: z.string(),
  line: z.number().int().nullable(),
  kind: z.string(),
  detail: z.string(),
});
export type RejectedLine = z.infer<typeof RejectedLineSchema>;

const EntryHeaderSchema = z.object({
  seq: z.number().int().positive(),
  /** The message's checksum (or the SHA-256 of an undecodable body): redeliveries and re-sends share it. */
  key: z.string(),
  message_id: z.string(),
  objects: z.array(z.string()),
  received_at: z.string(),
  receive_count: z.number().int(),
  /** Ids of the records this message contributed (the lines after the header), in order. */
  ids: z.array(z.string()),
  /** Valid records whose id had already been accepted from an earlier message. */
  duplicates: z.number().int().nonnegative(),
  rejected: z.array(RejectedLineSchema),
  /** Set when the whole message was unusable: it is kept here (with its body) instead of in the queue. */
  dead_letter: z.object({ reason: z.string(), body: z.string() }).nullable(),
});
export type EntryHeader = z.infer<typeof EntryHeaderSchema>;

export interface InboxEntry {
  header: EntryHeader;
  /** File name (also its name in consumed/). */
  name: string;
  trained: boolean;
}

const SEQ_DIGITS = 10;

export class Inbox {
  private readonly entries: InboxEntry[] = [];
  private readonly keys = new Set<string>();
  private readonly ids = new Set<string>();

  private constructor(
    private readonly inboxDir: string,
    private readonly consumedDir: string,
  ) {}

  static async open(dir: string): Promise<Inbox> {
    const inbox = new Inbox(join(dir, 'inbox'), join(dir, 'consumed'));
    await mkdir(inbox.inboxDir, { recursive: true });
    await mkdir(inbox.consumedDir, { recursive: true });
    // A file in both folders means a crash between the two steps of a move: consumed/ wins.
    const consumed = await listEntries(inbox.consumedDir);
    const pending = (await listEntries(inbox.inboxDir)).filter((name) => !consumed.includes(name));
    for (const [names, folder, trained] of [[consumed, inbox.consumedDir, true], [pending, inbox.inboxDir, false]] as const) {
      for (const name of names) {
        const header = await readHeader(join(folder, name));
        inbox.entries.push({ header, name, trained });
        inbox.keys.add(header.key);
        for (const id of header.ids) inbox.ids.add(id);
      }
    }
    inbox.entries.sort((a, b) => a.header.seq - b.header.seq);
    return inbox;
  }

  hasKey(key: string): boolean {
    return this.keys.has(key);
  }

  hasId(id: string): boolean {
    return this.ids.has(id);
  }

  get all(): readonly InboxEntry[] {
    return this.entries;
  }

  /** Entries not yet trained on, oldest first. */
  pending(): InboxEntry[] {
    return this.entries.filter((e) => !e.trained);
  }

  /** Durably records a message's account. After this resolves the message may be deleted from the queue. */
  async add(header: Omit<EntryHeader, 'seq' | 'ids'>, records: readonly TrajectoryRecord[]): Promise<InboxEntry> {
    const seq = (this.entries.at(-1)?.header.seq ?? 0) + 1;
    const full: EntryHeader = { ...header, seq, ids: records.map((r) => r.id) };
    const name = `${String(seq).padStart(SEQ_DIGITS, '0')}-${header.key.slice(0, 16)}.jsonl`;
    const text = [JSON.stringify(full), ...records.map((r) => JSON.stringify(r))].join('\n') + '\n';
    await writeFileAtomic(join(this.inboxDir, name), new TextEncoder().encode(text), join(this.inboxDir, '.tmp'));
    const entry: InboxEntry = { header: full, name, trained: false };
    this.entries.push(entry);
    this.keys.add(full.key);
    for (const id of full.ids) this.ids.add(id);
    return entry;
  }

  /** The records of some entries, in entry order, validated again (the files are ours, but disks rot). */
  async records(entries: readonly InboxEntry[]): Promise<TrajectoryRecord[]> {
    const records: TrajectoryRecord[] = [];
    for (const entry of entries) {
      const path = join(entry.trained ? this.consumedDir : this.inboxDir, entry.name);
      const lines = (await readFile(path, 'utf8')).split('\n').slice(1).filter((l) => l !== '');
      lines.forEach((line, i) => {
        try {
          records.push(parseTrajectoryRecord(JSON.parse(line)));
        } catch (error) {
          throw new RunFileError(`${path}:${i + 2}`, (error as Error).message);
        }
      });
    }
    return records;
  }

  /** The entries (pending or trained) that hold any of these record ids, in entry order. */
  entriesHolding(ids: readonly string[]): InboxEntry[] {
    const wanted = new Set(ids);
    return this.entries.filter((entry) => entry.header.ids.some((id) => wanted.has(id)));
  }

  /** The records with these ids, in the order given; an id the ledger does not hold is an error. */
  async recordsById(ids: readonly string[]): Promise<TrajectoryRecord[]> {
    const byId = new Map((await this.records(this.entriesHolding(ids))).map((r) => [r.id, r]));
    return ids.map((id) => {
      const record = byId.get(id);
      if (!record) throw new RunFileError(this.inboxDir, `record ${id} is not in the consumer's ledger`);
      return record;
    });
  }

  /**
   * Moves entries up to and including `throughSeq` to consumed/ (after the step that trained on them
   * was committed; repeating it after a crash is harmless).
   */
  async markTrained(throughSeq: number): Promise<void> {
    let moved = false;
    for (const entry of this.entries) {
      if (entry.trained || entry.header.seq > throughSeq) continue;
      try {
        await rename(join(this.inboxDir, entry.name), join(this.consumedDir, entry.name));
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      entry.trained = true;
      moved = true;
    }
    if (moved) {
      await fsyncDir(this.consumedDir);
      await fsyncDir(this.inboxDir);
    }
  }
}

async function listEntries(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith('.jsonl')).sort();
}

async function readHeader(path: string): Promise<EntryHeader> {
  const text = await readFile(path, 'utf8');
  const newline = text.indexOf('\n');
  let json: unknown;
  try {
    json = JSON.parse(newline < 0 ? text : text.slice(0, newline));
  } catch {
    throw new RunFileError(path, 'header line is not JSON');
  }
  const parsed = EntryHeaderSchema.safeParse(json);
  if (!parsed.success) throw new RunFileError(path, `bad header: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return parsed.data;
}
