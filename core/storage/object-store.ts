/**
 * A flat key → bytes store. Keys are '/'-separated paths ("trajectories/2025/01/31/<uuid>.jsonl.gz").
 * Writes are whole-object and atomic: a reader sees either the previous object or the new one, never
 * a torn write. Putting the same key twice with the same bytes is harmless, which is what makes
 * retried uploads idempotent.
 */
export interface PutOptions {
  contentType?: string;
  /**
   * Hex SHA-256 of `bytes`: the store refuses the write when the bytes do not match it, and keeps it
   * as object metadata (`sha256`) where the backend has metadata.
   */
  sha256?: string;
}

export interface ObjectStore {
  put(key: string, bytes: Uint8Array, options?: PutOptions): Promise<void>;
  /**
   * Uploads the file at `path` as `key`, streamed from disk, so an object of any size (checkpoint weights
   * run to gigabytes) never sits in memory whole. Same atomicity and sha256 check as put. Node drivers
   * have it; core/storage/files.ts falls back to put for stores without it.
   */
  putFile?(key: string, path: string, options?: PutOptions): Promise<void>;
  /** Downloads `key` into the file at `path` (created or replaced whole), streamed; false when there is no such key. */
  getFile?(key: string, path: string): Promise<boolean>;
  /** The object's bytes, or null when there is no such key. */
  get(key: string): Promise<Uint8Array | null>;
  /** Every key that starts with `prefix`, in lexicographic order. */
  list(prefix: string): Promise<string[]>;
  /** Removes the key; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Releases clients or handles. */
  close?(): Promise<void>;
}

/** The bytes given to put() did not hash to the sha256 it was given. */
export class ChecksumMismatchError extends Error {
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`checksum mismatch for ${key}: expected sha256 ${expected}, got ${actual}`);
    this.name = 'ChecksumMismatchError';
  }
}

/** Rejects keys that could escape a directory or that S3-like stores treat oddly. */
export function assertValidKey(key: string): void {
  const segments = key.split('/');
  if (key.length === 0 || key.length > 1024 || segments.some((s) => s === '' || s === '.' || s === '..') || key.includes('\0')) {
    throw new Error(`invalid object key ${JSON.stringify(key)}: use non-empty '/'-separated segments, no '.' or '..'`);
  }
}
