import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Writes `bytes` to `path` so that the file either keeps its old content or has all of the new one,
 * also across a crash or power loss (replaceFileAtomic).
 */
export function writeFileAtomic(path: string, bytes: Uint8Array, tmpDir: string): Promise<void> {
  return replaceFileAtomic(path, tmpDir, (tmp) => writeFile(tmp, bytes, { flag: 'wx' }));
}

/**
 * Replaces `path` with a file that `fill` writes at a temp path in `tmpDir` (same filesystem): fsync it,
 * rename it over `path`, fsync the directory so the rename itself is on disk. If `fill` throws, `path` is
 * untouched and the temp file removed.
 */
export async function replaceFileAtomic(path: string, tmpDir: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  await mkdir(tmpDir, { recursive: true });
  const tmp = join(tmpDir, `${randomUUID()}.tmp`);
  try {
    await fill(tmp);
    const handle = await open(tmp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await mkdir(dirname(path), { recursive: true });
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  await fsyncDir(dirname(path));
}

/** Makes a directory's entries (a rename, an unlink) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
