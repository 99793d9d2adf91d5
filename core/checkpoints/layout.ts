import { z } from 'zod';
import { sha256Hex, SHA256_HEX } from '../bytes.ts';
import { parseCheckpointManifest, type CheckpointManifest } from '../schemas/checkpoint.ts';
import { formatIssues } from '../schemas/issues.ts';
import type { ObjectStore } from '../storage/object-store.ts';

/**
 * How checkpoints sit in an object store, shared by the trainer (which publishes) and the API (which
 * watches and loads). Web APIs only, so any runtime can read the layout.
 *
 *   <prefix>/<version>/<file>           the model files (model.onnx, config.json, tokenizer files, ...)
 *   <prefix>/<version>/manifest.json    CheckpointManifest: every file's SHA-256, step, budget, metrics
 *   <prefix>/latest                     LatestPointer: which version is current, and its manifest's SHA-256
 *
 * Publishing writes files first, the manifest next and the pointer last, so a pointer never names a
 * version whose files or manifest are not all stored; readers only ever start from the pointer.
 */

export const LATEST_POINTER_SCHEMA_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';

/** A version is one key segment: letters, digits, '.', '_' and '-', starting with a letter or digit. */
export const CHECKPOINT_VERSION = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const LatestPointerSchema = z.strictObject({
  schema_version: z.literal(LATEST_POINTER_SCHEMA_VERSION),
  version: z.string().regex(CHECKPOINT_VERSION),
  /** Key of the manifest, relative to the prefix (`<version>/manifest.json`). */
  manifest: z.string().min(1),
  /** SHA-256 of the manifest's bytes: a reader refuses a manifest that changed after the pointer was written. */
  sha256: z.string().regex(SHA256_HEX),
  published_at: z.iso.datetime({ offset: true }),
});
export type LatestPointer = z.infer<typeof LatestPointerSchema>;

export function assertCheckpointVersion(version: string): void {
  if (!CHECKPOINT_VERSION.test(version)) {
    throw new Error(`invalid checkpoint version ${JSON.stringify(version)}: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
}

export const latestKey = (prefix: string): string => `${prefix}/latest`;
export const checkpointKey = (prefix: string, version: string, path: string): string => `${prefix}/${version}/${path}`;
export const manifestKey = (prefix: string, version: string): string => checkpointKey(prefix, version, MANIFEST_FILE);

/** Why a checkpoint cannot be used. `kind` separates a bad checkpoint from a store that is unreachable. */
export class CheckpointReadError extends Error {
  constructor(
    readonly kind: 'pointer' | 'manifest' | 'missing_file' | 'checksum' | 'storage',
    message: string,
  ) {
    super(message);
    this.name = 'CheckpointReadError';
  }

  /** A store outage may heal; a bad checkpoint stays bad. */
  get transient(): boolean {
    return this.kind === 'storage';
  }
}

async function get(store: ObjectStore, key: string): Promise<Uint8Array | null> {
  try {
    return await store.get(key);
  } catch (error) {
    throw new CheckpointReadError('storage', `store error reading ${key}: ${(error as Error).message}`);
  }
}

/** The current pointer, or null when nothing was published under `prefix` yet. */
export async function readLatestPointer(store: ObjectStore, prefix: string): Promise<LatestPointer | null> {
  const bytes = await get(store, latestKey(prefix));
  if (bytes === null) return null;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new CheckpointReadError('pointer', `${latestKey(prefix)} is not JSON`);
  }
  const parsed = LatestPointerSchema.safeParse(json);
  if (!parsed.success) throw new CheckpointReadError('pointer', `${latestKey(prefix)}: ${formatIssues(parsed.error).join('; ')}`);
  return parsed.data;
}

/** The manifest the pointer names, checked against the pointer's SHA-256 and the manifest schema. */
export async function readPointedManifest(store: ObjectStore, prefix: string, pointer: LatestPointer): Promise<{ manifest: CheckpointManifest; bytes: Uint8Array }> {
  const key = `${prefix}/${pointer.manifest}`;
  const bytes = await get(store, key);
  if (bytes === null) throw new CheckpointReadError('manifest', `checkpoint ${pointer.version}: manifest ${key} is missing`);
  const actual = await sha256Hex(bytes);
  if (actual !== pointer.sha256) {
    throw new CheckpointReadError('checksum', `checkpoint ${pointer.version}: manifest sha256 ${actual} does not match the pointer's ${pointer.sha256}`);
  }
  let manifest: CheckpointManifest;
  try {
    manifest = parseCheckpointManifest(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new CheckpointReadError('manifest', `checkpoint ${pointer.version}: ${(error as Error).message}`);
  }
  if (manifest.version !== pointer.version) {
    throw new CheckpointReadError('manifest', `checkpoint ${pointer.version}: its manifest says version ${manifest.version}`);
  }
  return { manifest, bytes };
}

/** A manifest found in the checkpoint area, or why the one at that key cannot be read. */
export type PublishedManifest = { version: string; manifest: CheckpointManifest } | { version: string; error: string };

/**
 * Every `<prefix>/<version>/manifest.json` in the store, newest first (by created_at; unreadable ones
 * last): the checkpoint list a person browses. Files are not verified here (the watcher does that
 * before serving one).
 */
export async function listPublishedManifests(store: ObjectStore, prefix: string): Promise<PublishedManifest[]> {
  const keys = (await store.list(`${prefix}/`)).filter((key) => {
    const rest = key.slice(prefix.length + 1).split('/');
    return rest.length === 2 && rest[1] === MANIFEST_FILE;
  });
  const found: PublishedManifest[] = [];
  for (const key of keys) {
    const version = key.slice(prefix.length + 1).split('/')[0]!;
    const bytes = await store.get(key);
    if (bytes === null) continue;
    try {
      found.push({ version, manifest: parseCheckpointManifest(new TextDecoder().decode(bytes)) });
    } catch (error) {
      found.push({ version, error: (error as Error).message });
    }
  }
  const at = (p: PublishedManifest) => ('manifest' in p ? Date.parse(p.manifest.created_at) : -Infinity);
  return found.sort((a, b) => at(b) - at(a));
}
