/**
 * Minimal protobuf encoding of the ONNX messages a model file needs (ModelProto, GraphProto,
 * NodeProto, AttributeProto, TensorProto, ValueInfoProto), following onnx/onnx.proto3.
 *
 * Only writing is supported: models are built in code and handed to onnxruntime, which does
 * the reading. Field numbers are the ones from onnx.proto; a message is encoded as
 * length-delimited bytes, and tensor payloads go in `raw_data` (little-endian), so a 100 MB
 * weight is copied once into the output instead of being boxed number by number.
 */

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10 } as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType values used here. */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

export interface TensorProto {
  name: string;
  dataType: DataType;
  dims: readonly number[];
  /**
   * Little-endian element bytes (what a Float32Array/BigInt64Array holds on every platform Node runs on),
   * or where they lie in a file beside the model (ONNX external data: how a model past protobuf's
   * 2 GiB limit is stored; the runtime resolves `location` relative to the model file).
   */
  raw: Uint8Array | { location: string; offset: number; length: number };
}

/** A dimension: a fixed size, or a symbolic name such as "batch_size". */
export type Dim = number | string;

export interface ValueInfo {
  name: string;
  elemType: DataType;
  shape: readonly Dim[];
}

export type AttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: TensorProto };

export interface NodeProto {
  opType: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Readonly<Record<string, AttributeValue>>;
  domain?: string;
}

export interface GraphProto {
  name: string;
  nodes: readonly NodeProto[];
  initializers: readonly TensorProto[];
  inputs: readonly ValueInfo[];
  outputs: readonly ValueInfo[];
}

export interface ModelProto {
  irVersion: number;
  opsetImports: readonly { domain: string; version: number }[];
  producerName: string;
  producerVersion: string;
  graph: GraphProto;
  metadata?: Readonly<Record<string, string>>;
}

/**
 * Protobuf writer over a list of byte parts. Large payloads (tensor data) are kept by
 * reference and nested messages splice their parts into the parent, so each weight byte is
 * copied exactly once, in `finish()`.
 */
class Writer {
  private readonly parts: Uint8Array[] = [];
  private scratch = new Uint8Array(256);
  private used = 0;
  /** Total encoded length so far. */
  length = 0;

  private flushScratch(): void {
    if (this.used === 0) return;
    this.parts.push(this.scratch.slice(0, this.used));
    this.used = 0;
  }

  private byte(b: number): void {
    if (this.used === this.scratch.length) this.flushScratch();
    this.scratch[this.used++] = b;
    this.length++;
  }

  /** Unsigned varint; negative int64 values are written as their 10-byte two's complement. */
  varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.byte(Number(v));
  }

  private tag(field: number, wireType: number): void {
    this.varint((field << 3) | wireType);
  }

  private append(data: Uint8Array): void {
    if (data.length <= 64) {
      for (const b of data) this.byte(b);
      return;
    }
    this.flushScratch();
    this.parts.push(data);
    this.length += data.length;
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(data.length);
    this.append(data);
  }

  string(field: number, value: string): void {
    this.bytes(field, new TextEncoder().encode(value));
  }

  int(field: number, value: number): void {
    this.tag(field, 0);
    this.varint(value);
  }

  float(field: number, value: number): void {
    this.tag(field, 5);
    for (const b of new Uint8Array(new Float32Array([value]).buffer)) this.byte(b);
  }

  packedInts(field: number, values: readonly number[]): void {
    const inner = new Writer();
    for (const v of values) inner.varint(v);
    this.bytes(field, inner.finish());
  }

  packedFloats(field: number, values: readonly number[]): void {
    this.bytes(field, new Uint8Array(new Float32Array(values).buffer));
  }

  message(field: number, encode: (w: Writer) => void): void {
    const inner = new Writer();
    encode(inner);
    inner.flushScratch();
    this.tag(field, 2);
    this.varint(inner.length);
    this.flushScratch();
    for (const part of inner.parts) this.parts.push(part);
    this.length += inner.length;
  }

  finish(): Uint8Array {
    this.flushScratch();
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const p of this.parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  }
}

function writeTensor(w: Writer, t: TensorProto): void {
  w.packedInts(1, t.dims);
  w.int(2, t.dataType);
  w.string(8, t.name);
  if (t.raw instanceof Uint8Array) {
    w.bytes(9, t.raw);
    return;
  }
  // external_data (13): key/value entries; data_location (14): EXTERNAL = 1.
  for (const [key, value] of [['location', t.raw.location], ['offset', String(t.raw.offset)], ['length', String(t.raw.length)]] as const) {
    w.message(13, (entry) => {
      entry.string(1, key);
      entry.string(2, value);
    });
  }
  w.int(14, 1);
}

function writeValueInfo(w: Writer, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensorType) => {
      tensorType.int(1, v.elemType);
      tensorType.message(2, (shape) => {
        for (const d of v.shape) {
          shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        }
      });
    }),
  );
}

function writeAttribute(w: Writer, name: string, a: AttributeValue): void {
  w.string(1, name);
  switch (a.kind) {
    case 'float':
      w.float(2, a.value);
      w.int(20, AttributeType.FLOAT);
      break;
    case 'int':
      w.int(3, a.value);
      w.int(20, AttributeType.INT);
      break;
    case 'string':
      w.string(4, a.value);
      w.int(20, AttributeType.STRING);
      break;
    case 'tensor':
      w.message(5, (t) => writeTensor(t, a.value));
      w.int(20, AttributeType.TENSOR);
      break;
    case 'floats':
      w.packedFloats(7, a.value);
      w.int(20, AttributeType.FLOATS);
      break;
    case 'ints':
      w.packedInts(8, a.value);
      w.int(20, AttributeType.INTS);
      break;
  }
}

function writeNode(w: Writer, n: NodeProto): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const [name, value] of Object.entries(n.attributes ?? {})) {
    w.message(5, (a) => writeAttribute(a, name, value));
  }
  if (n.domain) w.string(7, n.domain);
}

function writeGraph(w: Writer, g: GraphProto): void {
  for (const n of g.nodes) w.message(1, (m) => writeNode(m, n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, (m) => writeTensor(m, t));
  for (const v of g.inputs) w.message(11, (m) => writeValueInfo(m, v));
  for (const v of g.outputs) w.message(12, (m) => writeValueInfo(m, v));
}

/** Serialises a ModelProto to the bytes of a `.onnx` file. */
export function encodeModel(model: ModelProto): Uint8Array {
  const w = new Writer();
  w.int(1, model.irVersion);
  w.string(2, model.producerName);
  w.string(3, model.producerVersion);
  w.message(7, (g) => writeGraph(g, model.graph));
  for (const op of model.opsetImports) {
    w.message(8, (m) => {
      m.string(1, op.domain);
      m.int(2, op.version);
    });
  }
  for (const [key, value] of Object.entries(model.metadata ?? {})) {
    w.message(14, (m) => {
      m.string(1, key);
      m.string(2, value);
    });
  }
  return w.finish();
}

/** Tensor helpers: the bytes of typed arrays, viewed without copying. */
export function floatTensor(name: string, dims: readonly number[], data: Float32Array): TensorProto {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new Error(`tensor ${name}: ${data.length} values for shape [${dims.join(', ')}] (expected ${expected})`);
  }
  return { name, dataType: DataType.FLOAT, dims, raw: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): TensorProto {
  const data = BigInt64Array.from(values, (v) => BigInt(v));
  return { name, dataType: DataType.INT64, dims, raw: new Uint8Array(data.buffer) };
}
