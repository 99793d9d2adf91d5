import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Writes `bytes` to `path` so that the file either keeps its old content or has all of the new one,
 * also across a crash or power loss: write a temp file in `tmpDir` (same filesystem), fsync it,
 * rename it over `path`, fsync the directory so the rename itself is on disk.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array, tmpDir: string): Promise<void> {
  await mkdir(tmpDir, { recursive: true });
  const tmp = join(tmpDir, `${randomUUID()}.tmp`);
  try {
    const handle = await open(tmp, 'wx');
    try {
      await handle.writeFile(bytes);
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
