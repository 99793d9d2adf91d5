import { gunzip, sha256Hex } from '../bytes.ts';
import { formatIssues } from '../schemas/issues.ts';
import type { QueueMessage } from '../schemas/queue-message.ts';
import { READABLE_TRAJECTORY_SCHEMA_VERSIONS, TrajectoryRecordSchema, type TrajectoryRecord } from '../schemas/trajectory.ts';
import type { ObjectStore } from '../storage/object-store.ts';

/**
 * The trainer's side of the log: turn a queue message back into the records it announces, checking
 * everything the writer promised (objects present, checksum, gzip, one valid record per line).
 */

export type TrajectoryReadErrorKind =
  /** A named object is not in the store (yet, or any more). */
  | 'missing_object'
  /** The objects' bytes do not hash to the message's checksum. */
  | 'checksum_mismatch'
  /** An object is not valid gzip. */
  | 'corrupt_gzip'
  /** The objects hold a different number of lines than the message's count. */
  | 'count_mismatch'
  /** A line is not JSON. */
  | 'malformed_line'
  /** A line's schema_version is not the one this build reads. */
  | 'schema_version'
  /** A line is JSON with the right version but not a valid record. */
  | 'invalid_record';

/** Says what is wrong and where: the object key and, for line problems, the 1-based line number. */
export class TrajectoryReadError extends Error {
  constructor(
    readonly kind: TrajectoryReadErrorKind,
    readonly object: string,
    readonly line: number | null,
    detail: string,
  ) {
    super(`${object}${line === null ? '' : `:${line}`}: ${kind.replaceAll('_', ' ')}: ${detail}`);
    this.name = 'TrajectoryReadError';
  }

  /** Problems of a single line; the rest of the message may still be usable. */
  get isLineError(): boolean {
    return this.line !== null;
  }
}

export interface ReadOptions {
  /**
   * Called for each bad line, which is then skipped. Without it the first bad line throws. Problems
   * with a whole object (missing, checksum, gzip, count) always throw.
   */
  onInvalidLine?: (error: TrajectoryReadError) => void;
}

/** Fetches, verifies and parses the records a queue message announces, in order. */
export async function readTrajectories(
  store: ObjectStore,
  message: QueueMessage,
  options: ReadOptions = {},
): Promise<TrajectoryRecord[]> {
  const objects: { key: string; bytes: Uint8Array }[] = [];
  for (const key of message.objects) {
    const bytes = await store.get(key);
    if (bytes === null) throw new TrajectoryReadError('missing_object', key, null, 'not found in the store');
    objects.push({ key, bytes });
  }

  const actual = await sha256Hex(concat(objects.map((o) => o.bytes)));
  if (actual !== message.checksum) {
    throw new TrajectoryReadError('checksum_mismatch', message.objects.join(','), null, `expected sha256 ${message.checksum}, got ${actual}`);
  }

  const perObject: { key: string; lines: string[] }[] = [];
  for (const { key, bytes } of objects) {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(await gunzip(bytes));
    } catch (error) {
      throw new TrajectoryReadError('corrupt_gzip', key, null, error instanceof Error ? error.message : String(error));
    }
    perObject.push({ key, lines: jsonlLines(text) });
  }
  const lineCount = perObject.reduce((n, o) => n + o.lines.length, 0);
  if (lineCount !== message.count) {
    throw new TrajectoryReadError('count_mismatch', message.objects.join(','), null, `message says ${message.count} records, objects hold ${lineCount} lines`);
  }

  const records: TrajectoryRecord[] = [];
  for (const { key, lines } of perObject) {
    lines.forEach((line, i) => {
      const result = parseLine(line, key, i + 1);
      if (!(result instanceof TrajectoryReadError)) records.push(result);
      else if (options.onInvalidLine) options.onInvalidLine(result);
      else throw result;
    });
  }
  return records;
}

function parseLine(line: string, key: string, lineNumber: number): TrajectoryRecord | TrajectoryReadError {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (error) {
    return new TrajectoryReadError('malformed_line', key, lineNumber, error instanceof Error ? error.message : 'not JSON');
  }
  const version = (json as { schema_version?: unknown } | null)?.schema_version;
  const parsed = TrajectoryRecordSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issues = formatIssues(parsed.error);
  return !(READABLE_TRAJECTORY_SCHEMA_VERSIONS as readonly unknown[]).includes(version)
    ? new TrajectoryReadError('schema_version', key, lineNumber, issues.find((i) => i.startsWith('schema_version')) ?? issues.join('; '))
    : new TrajectoryReadError('invalid_record', key, lineNumber, issues.join('; '));
}

/** JSONL lines: every line ends with '\n', so the text after the last one is not a line. */
function jsonlLines(text: string): string[] {
  if (text === '') return [];
  return (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
