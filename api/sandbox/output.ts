/**
 * Output capping shared by every executor: keep the head and the tail of a stream
 * and put a marker line between them, so a model can see that output was cut and
 * still read the end (where errors and final prints usually are).
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

export interface CappedText {
  text: string;
  truncated: boolean;
}

export function truncationMarker(omittedBytes: number): string {
  return `\n... [output truncated: ${omittedBytes} bytes omitted] ...\n`;
}

/** Largest index <= i that does not split a UTF-8 sequence (i.e. not on a continuation byte). */
function backToCharBoundary(bytes: Uint8Array, i: number): number {
  while (i > 0 && i < bytes.length && (bytes[i]! & 0xc0) === 0x80) i--;
  return i;
}

/** Smallest index >= i that does not split a UTF-8 sequence. */
function forwardToCharBoundary(bytes: Uint8Array, i: number): number {
  while (i < bytes.length && (bytes[i]! & 0xc0) === 0x80) i++;
  return i;
}

/**
 * Caps `text` to about `maxBytes` UTF-8 bytes (head ~ half, tail ~ half, plus the marker).
 * Never splits a multi-byte character.
 */
export function capOutput(text: string, maxBytes: number): CappedText {
  // Fast path: a JS string never takes more than 3 UTF-8 bytes per UTF-16 unit.
  if (text.length * 3 <= maxBytes) return { text, truncated: false };
  const bytes = encoder.encode(text);
  if (bytes.length <= maxBytes) return { text, truncated: false };
  const headEnd = backToCharBoundary(bytes, Math.floor(maxBytes / 2));
  const tailStart = forwardToCharBoundary(bytes, bytes.length - (maxBytes - headEnd));
  const head = decoder.decode(bytes.subarray(0, headEnd));
  const tail = decoder.decode(bytes.subarray(tailStart));
  return { text: head + truncationMarker(tailStart - headEnd) + tail, truncated: true };
}

/**
 * Collects a stream of chunks with bounded memory: the first `maxBytes/2` bytes and a rolling
 * tail of the last `maxBytes/2`. Executors that stream output (subprocess pipes, console.log
 * callbacks) use it so that an output flood costs O(maxBytes) memory, not O(output).
 */
export class OutputCollector {
  private readonly headBudget: number;
  private readonly tailBudget: number;
  private head: Uint8Array[] = [];
  private headBytes = 0;
  /** Set once a byte went to the tail: later bytes must never go back to the head. */
  private headClosed = false;
  private tail: Uint8Array[] = [];
  private tailBytes = 0;
  private totalBytes = 0;

  constructor(readonly maxBytes: number) {
    this.headBudget = Math.floor(maxBytes / 2);
    this.tailBudget = maxBytes - this.headBudget;
  }

  get bytesSeen(): number {
    return this.totalBytes;
  }

  get overflowed(): boolean {
    return this.totalBytes > this.maxBytes;
  }

  push(chunk: string | Uint8Array): void {
    let bytes = typeof chunk === 'string' ? encoder.encode(chunk) : chunk;
    if (bytes.length === 0) return;
    this.totalBytes += bytes.length;
    if (!this.headClosed) {
      const room = this.headBudget - this.headBytes;
      const take = bytes.length <= room ? bytes.length : backToCharBoundary(bytes, room);
      if (take > 0) {
        this.head.push(bytes.subarray(0, take));
        this.headBytes += take;
      }
      if (take === bytes.length) return;
      this.headClosed = true;
      bytes = bytes.subarray(take);
    }
    this.tail.push(bytes);
    this.tailBytes += bytes.length;
    if (this.tailBytes > 2 * this.tailBudget) this.compactTail();
  }

  private compactTail(): void {
    const all = concat(this.tail, this.tailBytes);
    const kept = all.slice(Math.max(0, all.length - this.tailBudget));
    this.tail = [kept];
    this.tailBytes = kept.length;
  }

  /** The collected text, capped to maxBytes with head+tail and a marker when it overflowed. */
  result(): CappedText {
    const head = concat(this.head, this.headBytes);
    const tail = concat(this.tail, this.tailBytes);
    if (!this.overflowed) return { text: decoder.decode(concat([head, tail], head.length + tail.length)), truncated: false };
    // The tail starts at a char boundary only by luck: skip a partial leading character.
    const tailStart = forwardToCharBoundary(tail, Math.max(0, tail.length - this.tailBudget));
    const kept = head.length + tail.length - tailStart;
    return {
      text: decoder.decode(head) + truncationMarker(this.totalBytes - kept) + decoder.decode(tail.subarray(tailStart)),
      truncated: true,
    };
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
