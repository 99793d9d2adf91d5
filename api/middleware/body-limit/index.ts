import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../../errors.ts';

/**
 * Refuses bodies over `maxBytes` with 413. A declared Content-Length is judged from the header
 * alone, without opening the body: Node then reads and drops the rest (bounded by the request
 * timeout) and the keep-alive connection serves the client's next request. (Hono's bodyLimit opens
 * the body stream first; the connection was then reset under the client's next request, which
 * behind a proxy is another client's.) A body without a length is read up to the limit; past it
 * the 413 says `Connection: close`, since the rest of an unbounded stream is not worth draining.
 */
export function limitBody(maxBytes: number): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const declared = c.req.header('content-length');
    if (declared !== undefined && c.req.header('transfer-encoding') === undefined) {
      if (Number(declared) > maxBytes) throw tooLarge(maxBytes, `its Content-Length is ${declared}`);
      return next();
    }
    const body = c.req.raw.body;
    if (!body) return next();
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    let size = 0;
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxBytes) {
        reader.releaseLock();
        throw tooLarge(maxBytes, 'it was longer', { Connection: 'close' });
      }
      // A request body's chunks are never shared memory.
      chunks.push(value as Uint8Array<ArrayBuffer>);
    }
    c.req.raw = new Request(c.req.raw, { body: new Blob(chunks) });
    return next();
  };
}

function tooLarge(maxBytes: number, why: string, headers: Record<string, string> = {}): ApiError {
  return new ApiError(413, 'payload_too_large', `request body exceeds ${maxBytes} bytes: ${why}`, headers);
}
