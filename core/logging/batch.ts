import { z } from 'zod';
import { gzip, sha256Hex, SHA256_HEX } from '../bytes.ts';

/**
 * A batch is the unit the logger stores and announces: N records as gzipped JSONL in one object,
 * with the SHA-256 of the stored bytes. Its key is derived from a random batch id, so re-uploading a
 * batch after a crash or a retry overwrites the same object with the same bytes (idempotent).
 */
export interface Batch {
  id: string;
  key: string;
  count: number;
  /** Hex SHA-256 of `bytes`. */
  checksum: string;
  bytes: Uint8Array;
}

export const BATCH_CONTENT_TYPE = 'application/gzip';

/** `<prefix>/<yyyy>/<mm>/<dd>/<batch-id>.jsonl.gz`, dated in UTC so a day's data lists under one prefix. */
export function batchKey(prefix: string, id: string, date: Date): string {
  const yyyy = date.getUTCFullYear().toString().padStart(4, '0');
  const mm = (date.getUTCMonth() + 1).toString().padStart(2, '0');
  const dd = date.getUTCDate().toString().padStart(2, '0');
  return `${prefix}/${yyyy}/${mm}/${dd}/${id}.jsonl.gz`;
}

/** Packs already-serialized JSON lines (one record each, no newlines inside) into a batch. */
export async function encodeBatch(lines: readonly string[], prefix: string, date: Date): Promise<Batch> {
  const id = crypto.randomUUID();
  const bytes = await gzip(new TextEncoder().encode(lines.map((l) => `${l}\n`).join('')));
  return { id, key: batchKey(prefix, id, date), count: lines.length, checksum: await sha256Hex(bytes), bytes };
}

/**
 * A batch as kept in the local spool: one JSON header line (key, count, checksum), then the object's
 * bytes. One file, so it is written atomically and cannot be half there.
 */
export function encodeSpoolEntry(batch: Batch): Uint8Array {
  const header = new TextEncoder().encode(
    `${JSON.stringify({ id: batch.id, key: batch.key, count: batch.count, checksum: batch.checksum })}\n`,
  );
  const entry = new Uint8Array(header.length + batch.bytes.length);
  entry.set(header, 0);
  entry.set(batch.bytes, header.length);
  return entry;
}

const SpoolHeaderSchema = z.object({
  id: z.string().min(1),
  key: z.string().min(1),
  count: z.number().int().nonnegative(),
  checksum: z.string().regex(SHA256_HEX),
});

/** Reads a spool entry back; verifies the bytes against the header's checksum. */
export async function decodeSpoolEntry(entry: Uint8Array, name: string): Promise<Batch> {
  const newline = entry.indexOf(0x0a);
  if (newline < 0) throw new Error(`spool entry ${name}: no header line`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(entry.subarray(0, newline)));
  } catch {
    throw new Error(`spool entry ${name}: header is not JSON`);
  }
  const parsed = SpoolHeaderSchema.safeParse(header);
  if (!parsed.success) throw new Error(`spool entry ${name}: header lacks id, key, count or checksum`);
  const { id, key, count, checksum } = parsed.data;
  const bytes = entry.slice(newline + 1);
  const actual = await sha256Hex(bytes);
  if (actual !== checksum) throw new Error(`spool entry ${name}: bytes do not match the checksum in its header`);
  return { id, key, count, checksum, bytes };
}
