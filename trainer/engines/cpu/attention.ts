import * as ort from 'onnxruntime-node';
import { encodeKernel } from './kernel-model.ts';
import { kernelSessionOptions } from './session-options.ts';
import { DataType, int64Tensor, type NodeProto, type TensorProto, type ValueInfo } from '../../../core/onnx/proto.ts';

/**
 * Causal self-attention forward and backward as small ONNX graphs on onnxruntime's kernels.
 * Written as JavaScript loops, attention took over half of a training step at 200-token sequences
 * (0.4 GFLOPS); here it runs on the same kernels as the linear layers.
 *
 * The forward is the fused opset-23 `Attention` op (is_causal) and keeps nothing but its inputs: the
 * backward graph recomputes the probabilities (one more batched product and softmax). Returning the
 * [B, H, L, L] probabilities from the forward instead cost ~10x the forward itself (measured: B 8, L 600,
 * 2 threads, 383 ms with them vs 37 ms fused), all of it moving a ~100 MB tensor per layer into JavaScript
 * and back; the recomputing backward costs ~10% more than one that is handed them.
 * Sequences of SPLIT_BACKWARD_FROM tokens or more take a backward that splits the queries at L/2
 * (splitBackwardModel): 3.0 vs 4.5 ms at L 340, 12 vs 23 ms at L 700 (one sequence, 6 heads, 1 thread).
 *
 * Tensors are [B, H, L, D]: B sequences right-padded to L, H query heads (grouped KV heads are repeated
 * by the caller), q already scaled by 1/sqrt(D). Padding sits after each sequence's last token, so the
 * causal mask alone keeps real queries from seeing it; padded query rows produce values nobody reads
 * and receive zero gradient.
 */

const MASK_MIN = -3.4028234663852886e38;

const f = (name: string) => ({ name, elemType: DataType.FLOAT, shape: ['b', 'h', 'l', 'd'] as const });

function forwardModel(): Uint8Array {
  return encodeKernel({
    name: 'attention_forward',
    // scale 1: q arrives scaled.
    nodes: [{ opType: 'Attention', name: 'attention', inputs: ['q', 'k', 'v'], outputs: ['ctx'], attributes: { is_causal: { kind: 'int', value: 1 }, scale: { kind: 'float', value: 1 } } }],
    initializers: [],
    inputs: [f('q'), f('k'), f('v')],
    outputs: [f('ctx')],
  }, [{ domain: '', version: 23 }], 10);
}

/** A batched product with the transposes folded in (onnxruntime's FusedMatMul): no [B, H, L, L] Transpose copies. */
function product(name: string, a: string, b: string, transA: 0 | 1, transB: 0 | 1): NodeProto {
  return { opType: 'FusedMatMul', domain: 'com.microsoft', name, inputs: [a, b], outputs: [name], attributes: { transA: { kind: 'int', value: transA }, transB: { kind: 'int', value: transB } } };
}

/**
 * Nodes of the attention gradients for queries `q` over keys `k` / values `v` under the additive mask
 * `bias`, given the context gradient `dctx`: outputs `${out}dq`, `${out}dk`, `${out}dv`.
 */
function gradientNodes(out: string, q: string, k: string, v: string, dctx: string, bias: string): NodeProto[] {
  const n = (name: string) => `${out}${name}`;
  return [
    // p = softmax(q·kᵀ + mask), recomputed (the forward does not return it)
    product(n('s'), q, k, 0, 1),
    { opType: 'Add', name: n('masked'), inputs: [n('s'), bias], outputs: [n('masked')] },
    { opType: 'Softmax', name: n('p'), inputs: [n('masked')], outputs: [n('p')], attributes: { axis: { kind: 'int', value: -1 } } },
    product(n('dp'), dctx, v, 0, 1),
    product(n('dv'), n('p'), dctx, 1, 0),
    { opType: 'Mul', name: n('pdp'), inputs: [n('dp'), n('p')], outputs: [n('pdp')] },
    { opType: 'ReduceSum', name: n('rowdot'), inputs: [n('pdp'), 'last_axis'], outputs: [n('rowdot')], attributes: { keepdims: { kind: 'int', value: 1 } } },
    { opType: 'Sub', name: n('centred'), inputs: [n('dp'), n('rowdot')], outputs: [n('centred')] },
    { opType: 'Mul', name: n('ds'), inputs: [n('p'), n('centred')], outputs: [n('ds')] },
    { opType: 'MatMul', name: n('dq'), inputs: [n('ds'), k], outputs: [n('dq')] },
    product(n('dk'), n('ds'), q, 1, 0),
  ];
}

function backwardGraph(name: string, nodes: NodeProto[], extraInputs: ValueInfo[], initializers: TensorProto[] = []): Uint8Array {
  return encodeKernel({
    name,
    nodes,
    initializers: [int64Tensor('last_axis', [1], [-1]), ...initializers],
    inputs: [f('q'), f('k'), f('v'), f('dctx'), ...extraInputs],
    outputs: [f('dq'), f('dk'), f('dv')],
  }, [
    { domain: '', version: 17 },
    { domain: 'com.microsoft', version: 1 },
  ]);
}

const maskInput = (name: string): ValueInfo => ({ name, elemType: DataType.FLOAT, shape: [`${name}_rows`, `${name}_cols`] });

/** The gradients over the whole causal L×L square. */
function backwardModel(): Uint8Array {
  return backwardGraph('attention_backward', gradientNodes('', 'q', 'k', 'v', 'dctx', 'bias'), [maskInput('bias')]);
}

/**
 * The same gradients with the queries split at `mid` (≈ L/2): the first half only against the first
 * half of the keys, the second half against all of them. That skips the top-right quarter of the
 * L×L products, which the causal mask zeroes anyway: a quarter of the backward's work.
 */
function splitBackwardModel(): Uint8Array {
  const slice = (out: string, input: string, from: string, to: string): NodeProto => ({ opType: 'Slice', name: out, inputs: [input, from, to, 'length_axis'], outputs: [out] });
  const nodes: NodeProto[] = [
    slice('q_a', 'q', 'zero', 'mid'),
    slice('k_a', 'k', 'zero', 'mid'),
    slice('v_a', 'v', 'zero', 'mid'),
    slice('dctx_a', 'dctx', 'zero', 'mid'),
    slice('q_b', 'q', 'mid', 'end'),
    slice('dctx_b', 'dctx', 'mid', 'end'),
    ...gradientNodes('a_', 'q_a', 'k_a', 'v_a', 'dctx_a', 'bias_a'),
    ...gradientNodes('b_', 'q_b', 'k', 'v', 'dctx_b', 'bias_b'),
    { opType: 'Concat', name: 'dq', inputs: ['a_dq', 'b_dq'], outputs: ['dq'], attributes: { axis: { kind: 'int', value: 2 } } },
  ];
  // Keys and values before `mid` get gradient from both halves of the queries, the rest from the second.
  for (const g of ['dk', 'dv']) {
    nodes.push(
      slice(`b_${g}_head`, `b_${g}`, 'zero', 'mid'),
      slice(`b_${g}_tail`, `b_${g}`, 'mid', 'end'),
      { opType: 'Add', name: `${g}_head`, inputs: [`a_${g}`, `b_${g}_head`], outputs: [`${g}_head`] },
      { opType: 'Concat', name: g, inputs: [`${g}_head`, `b_${g}_tail`], outputs: [g], attributes: { axis: { kind: 'int', value: 2 } } },
    );
  }
  return backwardGraph(
    'attention_backward_split',
    nodes,
    [maskInput('bias_a'), maskInput('bias_b'), { name: 'mid', elemType: DataType.INT64, shape: [1] }],
    [int64Tensor('zero', [1], [0]), int64Tensor('end', [1], [Number.MAX_SAFE_INTEGER]), int64Tensor('length_axis', [1], [2])],
  );
}

/** Sequences at least this long take the split backward (shorter ones gain nothing from it). */
const SPLIT_BACKWARD_FROM = 64;

export interface AttentionSaved {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
}

export class AttentionKernel {
  private released = false;
  /** Causal additive masks by shape and offset (0 where key j ≤ offset + query i). */
  private readonly masks = new Map<string, Float32Array>();

  private constructor(
    private readonly forwardSession: ort.InferenceSession,
    private readonly backwardSession: ort.InferenceSession,
    private readonly splitBackwardSession: ort.InferenceSession,
  ) {}

  static async create(threads: number): Promise<AttentionKernel> {
    const options = kernelSessionOptions(threads);
    const [fwd, bwd, split] = await Promise.all([forwardModel(), backwardModel(), splitBackwardModel()].map((m) => ort.InferenceSession.create(m, options)));
    return new AttentionKernel(fwd!, bwd!, split!);
  }

  /** The additive mask of `rows` queries at positions offset.. over `cols` keys at 0... */
  private mask(rows: number, cols: number, offset: number): ort.Tensor {
    const key = `${rows}x${cols}+${offset}`;
    let m = this.masks.get(key);
    if (!m) {
      m = new Float32Array(rows * cols);
      for (let i = 0; i < rows; i++) for (let j = offset + i + 1; j < cols; j++) m[i * cols + j] = MASK_MIN;
      if (this.masks.size > 128) this.masks.clear();
      this.masks.set(key, m);
    }
    return new ort.Tensor('float32', m, [rows, cols]);
  }

  /** ctx [B, H, L, D] and the saved tensors backward needs. */
  async forward(q: Float32Array, k: Float32Array, v: Float32Array, B: number, H: number, L: number, D: number): Promise<{ ctx: Float32Array; saved: AttentionSaved }> {
    this.checkUsable();
    const dims = [B, H, L, D];
    const out = await this.forwardSession.run({
      q: new ort.Tensor('float32', q, dims),
      k: new ort.Tensor('float32', k, dims),
      v: new ort.Tensor('float32', v, dims),
    });
    return { ctx: out.ctx!.data as Float32Array, saved: { q, k, v } };
  }

  /** Gradients of q, k, v ([B, H, L, D] each) from the gradient of ctx. */
  async backward(saved: AttentionSaved, dctx: Float32Array, B: number, H: number, L: number, D: number): Promise<{ dq: Float32Array; dk: Float32Array; dv: Float32Array }> {
    this.checkUsable();
    const dims = [B, H, L, D];
    const feeds = {
      q: new ort.Tensor('float32', saved.q, dims),
      k: new ort.Tensor('float32', saved.k, dims),
      v: new ort.Tensor('float32', saved.v, dims),
      dctx: new ort.Tensor('float32', dctx, dims),
    };
    let out: ort.InferenceSession.OnnxValueMapType;
    if (L < SPLIT_BACKWARD_FROM) {
      out = await this.backwardSession.run({ ...feeds, bias: this.mask(L, L, 0) });
    } else {
      const mid = Math.ceil(L / 2);
      out = await this.splitBackwardSession.run({
        ...feeds,
        bias_a: this.mask(mid, mid, 0),
        bias_b: this.mask(L - mid, L, mid),
        mid: new ort.Tensor('int64', BigInt64Array.of(BigInt(mid)), [1]),
      });
    }
    return { dq: out.dq!.data as Float32Array, dk: out.dk!.data as Float32Array, dv: out.dv!.data as Float32Array };
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await Promise.all([this.forwardSession.release(), this.backwardSession.release(), this.splitBackwardSession.release()]);
  }

  private checkUsable(): void {
    if (this.released) throw new Error('the attention kernel has been released');
  }
}
