/**
 * Byte helpers built only on Web APIs (CompressionStream, crypto.subtle), which Node ≥ 18 and
 * Cloudflare Workers both provide, so the logger and the reader share one implementation.
 */

/** gzip-compresses `bytes`. */
export function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  return transform(bytes, new CompressionStream('gzip'));
}

/** Decompresses gzip data; rejects on corrupt or truncated input. */
export function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  return transform(bytes, new DecompressionStream('gzip'));
}

/** Lower-case hex SHA-256 of `bytes`. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', asArrayBufferView(bytes)));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}

/** A lower-case hex SHA-256, as written in queue messages, spool entries and object metadata. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

async function transform(bytes: Uint8Array, stream: TransformStream<BufferSource, Uint8Array>): Promise<Uint8Array> {
  const output = new Blob([asArrayBufferView(bytes)]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(output).arrayBuffer());
}

/** Narrows to an ArrayBuffer-backed view (what DOM typings want); copies only a SharedArrayBuffer-backed one. */
function asArrayBufferView(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}
