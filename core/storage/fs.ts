import { copyFile, readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { sha256Hex } from '../bytes.ts';
import { replaceFileAtomic, writeFileAtomic } from './atomic-file.ts';
import { sha256File } from './files.ts';
import { assertValidKey, ChecksumMismatchError, type ObjectStore, type PutOptions } from './object-store.ts';

/** Where in-progress writes live, inside the root so that the final rename never crosses filesystems. */
const TMP_DIR = '.tmp';

/**
 * Objects as files under `root` (key "a/b.gz" → `<root>/a/b.gz`). The default store, and the spool
 * the logger keeps batches in while the remote store is unreachable. Content type is not kept: the
 * key's extension says it.
 */
export class FsObjectStore implements ObjectStore {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  async put(key: string, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    const path = this.pathOf(key);
    if (options.sha256 !== undefined) {
      const actual = await sha256Hex(bytes);
      if (actual !== options.sha256) throw new ChecksumMismatchError(key, options.sha256, actual);
    }
    await writeFileAtomic(path, bytes, join(this.root, TMP_DIR));
  }

  /** Copied into the temp area, checked, fsynced and renamed into place: as atomic as put, any size. */
  async putFile(key: string, path: string, options: PutOptions = {}): Promise<void> {
    await replaceFileAtomic(this.pathOf(key), join(this.root, TMP_DIR), async (tmp) => {
      await copyFile(path, tmp);
      if (options.sha256 === undefined) return;
      const actual = await sha256File(tmp);
      if (actual !== options.sha256) throw new ChecksumMismatchError(key, options.sha256, actual);
    });
  }

  async getFile(key: string, path: string): Promise<boolean> {
    const source = this.pathOf(key);
    try {
      await replaceFileAtomic(path, dirname(path), (tmp) => copyFile(source, tmp));
      return true;
    } catch (error) {
      // The destination's directory is made for the copy, so a missing file is the object.
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async get(key: string): Promise<Uint8Array | null> {
    try {
      return new Uint8Array(await readFile(this.pathOf(key)));
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    // Walk only the deepest directory the prefix names, then filter by the rest of it.
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const keys: string[] = [];
    await this.walk(dirKey, keys);
    return keys.filter((k) => k.startsWith(prefix)).sort();
  }

  async delete(key: string): Promise<void> {
    // Not fsynced: an unlink lost in a crash only means the object is read (or delivered) once more.
    await rm(this.pathOf(key), { force: true });
  }

  private async walk(dirKey: string, into: string[]): Promise<void> {
    let entries;
    try {
      entries = await readdir(dirKey ? join(this.root, dirKey) : this.root, { withFileTypes: true });
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    for (const entry of entries) {
      if (dirKey === '' && entry.name === TMP_DIR) continue;
      const key = dirKey ? `${dirKey}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await this.walk(key, into);
      else if (entry.isFile()) into.push(key);
    }
  }

  private pathOf(key: string): string {
    assertValidKey(key);
    if (key === TMP_DIR || key.startsWith(`${TMP_DIR}/`)) throw new Error(`invalid object key ${JSON.stringify(key)}: "${TMP_DIR}" is reserved`);
    return join(this.root, key);
  }
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}
