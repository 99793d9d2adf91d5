import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { z } from 'zod';
import { formatIssues } from '../../core/schemas/issues.ts';
import { writeFileAtomic } from '../../core/storage/atomic-file.ts';

/**
 * Small durable-file helpers for the run directory. Every state file is written whole and atomically
 * (temp file, fsync, rename, fsync dir), so after a crash it holds either the old or the new content.
 */

/** Temp files live beside their target (same filesystem), in one hidden folder per directory. */
export function tmpDirFor(path: string): string {
  return join(dirname(path), '.tmp');
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`), tmpDirFor(path));
}

/** A run-directory file that exists but does not hold what this build expects. */
export class RunFileError extends Error {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
    this.name = 'RunFileError';
  }
}

/** Reads and validates a JSON file; null when it does not exist. */
export async function readJsonFile<S extends z.ZodType>(path: string, schema: S): Promise<z.infer<S> | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new RunFileError(path, 'not valid JSON');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new RunFileError(path, formatIssues(parsed.error).join('; '));
  return parsed.data;
}

export function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}
