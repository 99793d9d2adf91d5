/**
 * The byte protocol between Node and zygote.py (its docstring is the reference):
 * requests are u32be length + JSON; frames back are u8 kind + u32be length + payload.
 */

/** Per-snippet limits the zygote's child applies to itself. */
export interface ChildLimits {
  timeoutMs: number;
  memoryMb: number;
  maxProcesses: number;
  maxOpenFiles: number;
}

export interface ZygoteRequest {
  code: string;
  stdin: string;
  limits: ChildLimits;
}

/** Sent once the zygote has started and preloaded its modules. */
export interface ReadyInfo {
  python: string;
  modules: { sympy: boolean; numpy: boolean };
  /** The preloaded modules that imported, with the top-level packages outside the standard library they brought in. */
  preloaded: string[];
  /** The zygote's private writable memory: at most what a forked child copies on write beyond its own allocations. */
  image_bytes: number;
}

/** The child's own verdict, written just before interpreter shutdown. */
export interface ChildOutcome {
  kind: 'ok' | 'error' | 'memory';
  error: string | null;
}

/** Sent once the child and everything it started are gone and its output is relayed. */
export interface DoneInfo {
  exitCode: number | null;
  /** Signal number that ended the child, if one did. */
  signal: number | null;
  /** Null when the child died without reporting (killed, os._exit, crash). */
  outcome: ChildOutcome | null;
}

export type Frame =
  | { kind: 'ready'; info: ReadyInfo }
  | { kind: 'stdout' | 'stderr'; data: Uint8Array }
  | { kind: 'done'; info: DoneInfo };

const HEADER_BYTES = 5;

export function encodeRequest(request: ZygoteRequest): Buffer {
  const body = Buffer.from(JSON.stringify(request), 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}

/** Splits the zygote's stdout into frames, whatever the chunking of the pipe. */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  /** Frames completed by this chunk, in order. Throws on a malformed stream. */
  push(chunk: Buffer): Frame[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: Frame[] = [];
    let offset = 0;
    while (this.pending.length - offset >= HEADER_BYTES) {
      const length = this.pending.readUInt32BE(offset + 1);
      const end = offset + HEADER_BYTES + length;
      if (end > this.pending.length) break;
      frames.push(toFrame(this.pending[offset]!, this.pending.subarray(offset + HEADER_BYTES, end)));
      offset = end;
    }
    // Copy the remainder so that the consumed bytes (possibly a large chunk) can be freed.
    this.pending = offset === 0 ? this.pending : Buffer.from(this.pending.subarray(offset));
    return frames;
  }
}

const OUTCOME_KINDS = new Set(['ok', 'error', 'memory']);

/** The D frame: exit status, then the report pipe's JSON lines, of which the child's own counts. */
function parseDone(payload: Buffer): DoneInfo {
  const exitCode = payload.readInt32BE(0);
  const signal = payload.readInt32BE(4);
  const pid = payload.readUInt32BE(8);
  let outcome: ChildOutcome | null = null;
  for (const line of payload.subarray(12).toString('utf8').split('\n')) {
    try {
      const record = JSON.parse(line) as { pid?: unknown; kind?: unknown; error?: unknown };
      if (record.pid === pid && OUTCOME_KINDS.has(record.kind as string)) {
        outcome = { kind: record.kind as ChildOutcome['kind'], error: typeof record.error === 'string' ? record.error : null };
      }
    } catch {
      // Not a report line: the snippet wrote to the report pipe itself.
    }
  }
  return { exitCode: exitCode < 0 ? null : exitCode, signal: signal === 0 ? null : signal, outcome };
}

function toFrame(kind: number, payload: Buffer): Frame {
  switch (String.fromCharCode(kind)) {
    case 'O':
      return { kind: 'stdout', data: payload };
    case 'E':
      return { kind: 'stderr', data: payload };
    case 'R':
      return { kind: 'ready', info: JSON.parse(payload.toString('utf8')) as ReadyInfo };
    case 'D':
      return { kind: 'done', info: parseDone(payload) };
    default:
      throw new Error(`zygote sent an unknown frame kind 0x${kind.toString(16)}`);
  }
}
