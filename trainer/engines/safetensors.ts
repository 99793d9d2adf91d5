/**
 * The safetensors file format (https://huggingface.co/docs/safetensors), the subset the trainer uses
 * to hand tensors to and from the torch engine: an 8-byte little-endian header length, a JSON header
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: { string: string } }`, then the
 * raw little-endian tensor bytes. Readable by `safetensors` and by a few lines of plain torch.
 */

export type SafeTensor = Float32Array | Int32Array | Uint8Array;

const DTYPES = { F32: Float32Array, I32: Int32Array, U8: Uint8Array } as const;
type DType = keyof typeof DTYPES;

function dtypeOf(t: SafeTensor): DType {
  if (t instanceof Float32Array) return 'F32';
  if (t instanceof Int32Array) return 'I32';
  return 'U8';
}

export interface NamedTensor {
  data: SafeTensor;
  shape: readonly number[];
}

export function encodeSafetensors(tensors: Readonly<Record<string, NamedTensor>>, metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, { data, shape }] of Object.entries(tensors)) {
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new RangeError(`tensor ${name}: ${data.length} values for shape [${shape.join(', ')}]`);
    header[name] = { dtype: dtypeOf(data), shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  // The header is padded with spaces to a multiple of 8 so tensor data stays aligned.
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const { data } of Object.values(tensors)) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    at += data.byteLength;
  }
  return out;
}

export function decodeSafetensors(input: Uint8Array): { tensors: Record<string, NamedTensor>; metadata: Record<string, string> } {
  // A plain Uint8Array view: a Buffer's slice() would share (pooled) memory instead of copying.
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (bytes.length < 8) throw new Error('not a safetensors file (shorter than its header length)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > bytes.length) throw new Error('not a safetensors file (header runs past the end)');
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw new Error('not a safetensors file (header is not JSON)');
  }
  const base = 8 + headerLength;
  const tensors: Record<string, NamedTensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: [begin, end] } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const Ctor = DTYPES[dtype as DType];
    if (!Ctor) throw new Error(`tensor ${name}: unsupported dtype ${dtype}`);
    if (base + end > bytes.length || begin > end) throw new Error(`tensor ${name}: data offsets outside the file`);
    // Copy out: aligned, and independent of the file buffer.
    const data = new Ctor(bytes.slice(base + begin, base + end).buffer);
    if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`tensor ${name}: ${data.length} values for shape [${shape.join(', ')}]`);
    tensors[name] = { data, shape };
  }
  return { tensors, metadata };
}
