/**
 * Downloads a checkpoint's files into a directory, each streamed to disk and verified against the
 * manifest's SHA-256, so checkpoints of any size (gigabytes of weights) move without being held in
 * memory. Node only (the layout module itself stays on Web APIs).
 */
import { join } from 'node:path';
import type { CheckpointManifest } from '../schemas/checkpoint.ts';
import { getFileFromStore, sha256File } from '../storage/files.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { CheckpointReadError, checkpointKey } from './layout.ts';

/** Fills `dir` with the checkpoint's files; throws CheckpointReadError on the first missing or damaged one. */
export async function downloadVerifiedCheckpoint(store: ObjectStore, prefix: string, manifest: CheckpointManifest, dir: string): Promise<void> {
  for (const [path, expected] of Object.entries(manifest.files)) {
    const key = checkpointKey(prefix, manifest.version, path);
    const file = join(dir, path);
    let found: boolean;
    try {
      found = await getFileFromStore(store, key, file);
    } catch (error) {
      throw new CheckpointReadError('storage', `store error reading ${key}: ${(error as Error).message}`);
    }
    if (!found) throw new CheckpointReadError('missing_file', `checkpoint ${manifest.version}: file ${path} is missing from the store`);
    const actual = await sha256File(file);
    if (actual !== expected) {
      throw new CheckpointReadError('checksum', `checkpoint ${manifest.version}: ${path} has sha256 ${actual}, its manifest says ${expected}`);
    }
  }
}
