/**
 * Files moved in and out of an object store, of any size: through the store's streaming putFile/getFile
 * where it has them, else through put/get with the whole file in memory (which Node caps at 2 GiB, so
 * such a store is told apart with a clear error rather than a crash). Node only.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { replaceFileAtomic } from './atomic-file.ts';
import type { ObjectStore, PutOptions } from './object-store.ts';

/** Files past this size cannot be read into one buffer. */
const IN_MEMORY_LIMIT = 2 ** 31 - 1;

/** Lower-case hex SHA-256 of a file, read as a stream. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function putFileInStore(store: ObjectStore, key: string, path: string, options: PutOptions = {}): Promise<void> {
  if (store.putFile) return store.putFile(key, path, options);
  const { size } = await stat(path);
  if (size > IN_MEMORY_LIMIT) throw new Error(`${path} is ${size} bytes; this store takes objects through memory only (at most 2 GiB)`);
  await store.put(key, new Uint8Array(await readFile(path)), options);
}

/** Downloads `key` to `path`; false when there is no such key. */
export async function getFileFromStore(store: ObjectStore, key: string, path: string): Promise<boolean> {
  await mkdir(dirname(path), { recursive: true });
  if (store.getFile) return store.getFile(key, path);
  const bytes = await store.get(key);
  if (bytes === null) return false;
  await replaceFileAtomic(path, dirname(path), (tmp) => writeFile(tmp, bytes));
  return true;
}

/** `length` bytes of an open file from `position` (reads until they are all in: one read may return fewer). */
export async function readExactly(handle: FileHandle, length: number, position: number, what: string): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  for (let at = 0; at < length; ) {
    const { bytesRead } = await handle.read(bytes, at, length - at, position + at);
    if (bytesRead === 0) throw new Error(`${what} ended early (truncated, or still being written?)`);
    at += bytesRead;
  }
  return bytes;
}
