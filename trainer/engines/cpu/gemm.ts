import * as ort from 'onnxruntime-node';
import { encodeKernel } from './kernel-model.ts';
import { kernelSessionOptions } from './session-options.ts';
import { DataType, floatTensor } from '../../../core/onnx/proto.ts';

/**
 * Matrix products for the cpu engine. Large products go to onnxruntime's CPU Gemm (MLAS kernels,
 * multi-threaded), which measured 12-19 GFLOPS per core here against 1.5-2.7 for the best plain
 * JavaScript loop (see trainer/README.md); tiny products, where a session call's fixed cost
 * dominates, run in JavaScript.
 *
 * Products with a weight matrix (x·Wᵀ forward, dy·W for the input gradient) go through a session that
 * holds W as a constant: onnxruntime pre-packs constant operands, which ran 4-7x faster than the same
 * Gemm with W fed as an input. Weights change at every optimizer update, so these sessions live until
 * `weightsChanged()` (one session per weight matrix per step, ~8 ms each to build).
 *
 * Layout: row-major. `mul(a, b, m, k, n, transA, transB)` returns C (m×n) = op(A)·op(B), where
 * op(A) is m×k (A stored m×k, or k×m when transA) and op(B) is k×n (B stored k×n, or n×k when transB).
 */

/** Products with fewer multiply-adds than this run in JavaScript. */
const JS_LIMIT = 1 << 15;

type Variant = 'nn' | 'nt' | 'tn';

function gemmModel(transA: number, transB: number): Uint8Array {
  return encodeKernel({
    name: 'gemm',
    nodes: [{ opType: 'Gemm', name: 'gemm', inputs: ['a', 'b'], outputs: ['c'], attributes: { transA: { kind: 'int', value: transA }, transB: { kind: 'int', value: transB } } }],
    initializers: [],
    inputs: [
      { name: 'a', elemType: DataType.FLOAT, shape: ['a0', 'a1'] },
      { name: 'b', elemType: DataType.FLOAT, shape: ['b0', 'b1'] },
    ],
    outputs: [{ name: 'c', elemType: DataType.FLOAT, shape: ['m', 'n'] }],
  });
}

/** rows×cols → cols×rows. */
function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c]!;
  return out;
}

/**
 * The JavaScript product: operands transposed up front (O(n²)) so the O(n³) loop always walks rows
 * contiguously (i-k-j order), the fastest plain-JavaScript form we measured.
 */
export function jsGemm(a: Float32Array, b: Float32Array, m: number, k: number, n: number, transA: boolean, transB: boolean): Float32Array {
  const A = transA ? transpose(a, k, m) : a;
  const B = transB ? transpose(b, n, k) : b;
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const av = A[i * k + p]!;
      if (av === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) c[ci + j]! += av * B[bp + j]!;
    }
  }
  return c;
}

/**
 * A session computing x·Wᵀ (output `y`) and dy·W (output `dx`) for one constant W [rows, cols]; each call
 * feeds one input (the other gets an empty batch) and fetches one output.
 */
function weightModel(w: Float32Array, rows: number, cols: number): Uint8Array {
  return encodeKernel({
    name: 'weight_products',
    nodes: [
      { opType: 'Gemm', name: 'forward', inputs: ['x', 'w'], outputs: ['y'], attributes: { transB: { kind: 'int', value: 1 } } },
      { opType: 'Gemm', name: 'input_grad', inputs: ['dy', 'w'], outputs: ['dx'] },
    ],
    initializers: [floatTensor('w', [rows, cols], w)],
    inputs: [
      { name: 'x', elemType: DataType.FLOAT, shape: ['m', cols] },
      { name: 'dy', elemType: DataType.FLOAT, shape: ['m2', rows] },
    ],
    outputs: [
      { name: 'y', elemType: DataType.FLOAT, shape: ['m', rows] },
      { name: 'dx', elemType: DataType.FLOAT, shape: ['m2', cols] },
    ],
  });
}

export class Gemm {
  private released = false;

  private readonly weightSessions = new Map<string, Promise<ort.InferenceSession>>();

  private constructor(
    private readonly sessions: Record<Variant, ort.InferenceSession>,
    private readonly jsLimit: number,
    private readonly sessionOptions: ort.InferenceSession.SessionOptions,
  ) {}

  /**
   * `jsBelow`: products with fewer multiply-adds run in JavaScript (default JS_LIMIT; Infinity runs
   * everything in JavaScript, the baseline the benchmark compares against).
   */
  static async create(threads: number, options: { jsBelow?: number } = {}): Promise<Gemm> {
    const session = kernelSessionOptions(threads);
    const entries = await Promise.all(
      ([['nn', 0, 0], ['nt', 0, 1], ['tn', 1, 0]] as const).map(async ([name, ta, tb]) => [name, await ort.InferenceSession.create(gemmModel(ta, tb), session)] as const),
    );
    return new Gemm(Object.fromEntries(entries) as Record<Variant, ort.InferenceSession>, options.jsBelow ?? JS_LIMIT, session);
  }

  async mul(a: Float32Array, b: Float32Array, m: number, k: number, n: number, transA = false, transB = false): Promise<Float32Array> {
    if (this.released) throw new Error('the gemm kernel has been released');
    if (a.length !== m * k || b.length !== k * n) throw new RangeError(`gemm shapes: a has ${a.length} (m×k = ${m * k}), b has ${b.length} (k×n = ${k * n})`);
    if (m === 0 || n === 0) return new Float32Array(m * n);
    if (k === 0) return new Float32Array(m * n);
    if (m * k * n < this.jsLimit) return jsGemm(a, b, m, k, n, transA, transB);
    if (transA && transB) throw new Error('gemm: transA with transB is not used');
    const variant: Variant = transA ? 'tn' : transB ? 'nt' : 'nn';
    const out = await this.sessions[variant].run({
      a: new ort.Tensor('float32', a, transA ? [k, m] : [m, k]),
      b: new ort.Tensor('float32', b, transB ? [n, k] : [k, n]),
    });
    return out.c!.data as Float32Array;
  }

  /**
   * x·Wᵀ for the weight W [rows, cols] (x: m×cols → m×rows). `key` names W's current values: the
   * session built for it is reused until weightsChanged().
   */
  async timesWeightT(key: string, w: Float32Array, rows: number, cols: number, x: Float32Array, m: number): Promise<Float32Array> {
    return this.weightProduct(key, w, rows, cols, x, m, 'y');
  }

  /** dy·W for the weight W [rows, cols] (dy: m×rows → m×cols). */
  async timesWeight(key: string, w: Float32Array, rows: number, cols: number, dy: Float32Array, m: number): Promise<Float32Array> {
    return this.weightProduct(key, w, rows, cols, dy, m, 'dx');
  }

  private async weightProduct(key: string, w: Float32Array, rows: number, cols: number, input: Float32Array, m: number, output: 'y' | 'dx'): Promise<Float32Array> {
    if (this.released) throw new Error('the gemm kernel has been released');
    const forward = output === 'y';
    if (w.length !== rows * cols || input.length !== m * (forward ? cols : rows)) {
      throw new RangeError(`weight product ${key}: weight has ${w.length} values (${rows}×${cols}), input has ${input.length} (${m} rows)`);
    }
    if (m * rows * cols < this.jsLimit) return forward ? jsGemm(input, w, m, cols, rows, false, true) : jsGemm(input, w, m, rows, cols, false, false);
    let session = this.weightSessions.get(key);
    if (!session) {
      // No memory arena: these sessions live for one step, and an arena would hold activation-sized buffers until then.
      session = ort.InferenceSession.create(weightModel(w, rows, cols), { ...this.sessionOptions, enableCpuMemArena: false });
      this.weightSessions.set(key, session);
      // A failed build is not cached: the next call tries again.
      session.catch(() => this.weightSessions.delete(key));
    }
    const empty = (width: number) => new ort.Tensor('float32', new Float32Array(0), [0, width]);
    const feeds = forward
      ? { x: new ort.Tensor('float32', input, [m, cols]), dy: empty(rows) }
      : { x: empty(cols), dy: new ort.Tensor('float32', input, [m, rows]) };
    const out = await (await session).run(feeds, [output]);
    return out[output]!.data as Float32Array;
  }

  /** Drops the weight sessions: call after the weights changed (an optimizer update). */
  async weightsChanged(): Promise<void> {
    const sessions = [...this.weightSessions.values()];
    this.weightSessions.clear();
    // A session whose build failed has nothing to release (its error went to the call that built it).
    await Promise.all(sessions.map((s) => s.then((session) => session.release(), () => undefined)));
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.weightsChanged();
    await Promise.all(Object.values(this.sessions).map((s) => s.release()));
  }
}
