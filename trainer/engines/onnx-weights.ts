/**
 * Reads the float initializers (weights) of an ONNX model file: the inverse of core/onnx/proto.ts's
 * writer for the one thing a trainer needs back. Our exporter keeps HF tensor names and layouts, so
 * the result maps `model.layers.0.self_attn.q_proj.weight` etc. to row-major Float32Arrays.
 *
 * Only the protobuf subset ONNX uses for tensors is decoded: ModelProto.graph (7) →
 * GraphProto.initializer (5) → TensorProto { dims (1), data_type (2), float_data (4), name (8),
 * raw_data (9) }. Other fields are skipped by wire type. External data is not supported.
 */

const FLOAT = 1;

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      // Numbers past 2^53 do not occur in the fields read here (dims, types, lengths).
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
      if (shift > 63) throw new Error('varint too long');
    }
  }

  /** Skips one field of the given wire type. */
  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.pos += this.varint();
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wireType}`);
    if (this.pos > this.end) throw new Error('truncated field');
  }

  /** Iterates fields; for length-delimited ones `sub` is [start, end). */
  *fields(): Generator<{ field: number; wireType: number; start: number; end: number }> {
    while (this.pos < this.end) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wireType = key & 7;
      if (wireType === 2) {
        const length = this.varint();
        const start = this.pos;
        this.pos += length;
        if (this.pos > this.end) throw new Error(`field ${field} runs past the end of its message`);
        yield { field, wireType, start, end: this.pos };
      } else {
        const start = this.pos;
        this.skip(wireType);
        yield { field, wireType, start, end: this.pos };
      }
    }
  }
}

function readTensor(buf: Uint8Array, start: number, end: number): { name: string; dims: number[]; data: Float32Array } | null {
  let name = '';
  const dims: number[] = [];
  let dataType = 0;
  let raw: Uint8Array | null = null;
  let floats: Float32Array | null = null;
  const r = new Reader(buf, start, end);
  for (const f of r.fields()) {
    if (f.field === 1) {
      if (f.wireType === 2) {
        const inner = new Reader(buf, f.start, f.end);
        while (inner.pos < inner.end) dims.push(inner.varint());
      } else dims.push(new Reader(buf, f.start, f.end).varint());
    } else if (f.field === 2) dataType = new Reader(buf, f.start, f.end).varint();
    else if (f.field === 8) name = new TextDecoder().decode(buf.subarray(f.start, f.end));
    else if (f.field === 9) raw = buf.subarray(f.start, f.end);
    else if (f.field === 4 && f.wireType === 2) floats = new Float32Array(buf.slice(f.start, f.end).buffer);
  }
  if (dataType !== FLOAT) return null;
  const count = dims.reduce((a, b) => a * b, 1);
  // Copy into an aligned buffer (raw_data may start at any byte offset).
  const data = raw ? new Float32Array(raw.slice().buffer) : (floats ?? new Float32Array(0));
  if (data.length !== count) throw new Error(`initializer ${name}: ${data.length} values for shape [${dims.join(', ')}]`);
  return { name, dims, data };
}

/** Float initializers of an ONNX model, by name. */
export function readOnnxFloatInitializers(bytes: Uint8Array): Map<string, { dims: number[]; data: Float32Array }> {
  // A plain Uint8Array view: Buffer's slice() shares memory, and tensor data must be copied out aligned.
  const model = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Map<string, { dims: number[]; data: Float32Array }>();
  const top = new Reader(model);
  let sawGraph = false;
  for (const f of top.fields()) {
    if (f.field !== 7 || f.wireType !== 2) continue;
    sawGraph = true;
    for (const g of new Reader(model, f.start, f.end).fields()) {
      if (g.field !== 5 || g.wireType !== 2) continue;
      const tensor = readTensor(model, g.start, g.end);
      if (tensor) out.set(tensor.name, { dims: tensor.dims, data: tensor.data });
    }
  }
  if (!sawGraph) throw new Error('not an ONNX model (no graph)');
  return out;
}
