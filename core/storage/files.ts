/**
 * Files moved in and out of an object store, of any size: through the store's streaming putFile/getFile
 * where it has them, else through put/get with the whole file in memory (which Node caps at 2 GiB, so
 * such a store is told apart with a clear error rather than a crash). Node only.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
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
  const partial = `${path}.partial`;
  await writeFile(partial, bytes);
  await rename(partial, path).catch(async (error) => {
    await rm(partial, { force: true });
    throw error;
  });
  return true;
}
