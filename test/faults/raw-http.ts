import { connect, type Socket } from 'node:net';

/**
 * HTTP/1.1 by hand over a raw socket, for what a client library hides: keep-alive reuse after an
 * error, stalled headers and bodies, connections from other loopback addresses (127.0.0.2 is
 * another client to the server), resets versus clean closes.
 */

/** A raw TCP connection to the server: what arrived and how it ended, with HTTP/1.1 responses parsed as they complete. */
export class RawConnection {
  readonly socket: Socket;
  readonly connected: Promise<void>;
  /** 'end': the server closed it; 'reset': it was reset. */
  readonly ended: Promise<'end' | 'reset'>;
  private received = '';

  constructor(port: number, localAddress = '127.0.0.1') {
    this.socket = connect({ port, host: '127.0.0.1', localAddress });
    this.socket.on('data', (d) => (this.received += d.toString('latin1')));
    this.connected = new Promise((resolve) => this.socket.once('connect', () => resolve()));
    let reset = false;
    this.socket.on('error', () => (reset = true));
    this.ended = new Promise((resolve) => this.socket.on('close', () => resolve(reset ? 'reset' : 'end')));
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Resolves with the first `count` complete responses, or rejects if the connection ends before. */
  async responses(count: number): Promise<RawResponse[]> {
    for (;;) {
      const parsed = parseResponses(this.received);
      if (parsed.length >= count) return parsed;
      const more = await Promise.race([
        new Promise<'data'>((resolve) => this.socket.once('data', () => resolve('data'))),
        this.ended,
      ]);
      if (more !== 'data' && parseResponses(this.received).length < count) {
        throw new Error(`connection ${more} after ${parsed.length} of ${count} responses; received: ${this.received.slice(0, 200)}`);
      }
    }
  }

  text(): string {
    return this.received;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export interface RawResponse {
  status: number;
  head: string;
  body: string;
}

function parseResponses(text: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = text;
  for (;;) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd < 0) return out;
    const head = rest.slice(0, headEnd);
    const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
    if (rest.length < headEnd + 4 + length) return out;
    out.push({ status: Number(head.split(' ')[1]), head, body: rest.slice(headEnd + 4, headEnd + 4 + length) });
    rest = rest.slice(headEnd + 4 + length);
  }
}

/** The head of a request with a body, for writing by hand. */
export function requestHead(method: string, path: string, { contentType = 'application/json', length }: { contentType?: string | null; length: number | 'chunked' }): string {
  const type = contentType === null ? '' : `Content-Type: ${contentType}\r\n`;
  const framing = length === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`;
  return `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${type}${framing}\r\n\r\n`;
}

/** A complete request; its response is read with `responses`. */
export function fullRequest(method: string, path: string, body: string | Buffer, contentType: string | null = 'application/json'): Buffer {
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.concat([Buffer.from(requestHead(method, path, { contentType, length: payload.length })), payload]);
}
