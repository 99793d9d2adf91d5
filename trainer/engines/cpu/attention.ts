import * as ort from 'onnxruntime-node';
import { kernelSessionOptions } from './session-options.ts';
import { DataType, encodeModel, int64Tensor, type NodeProto } from '../../../core/onnx/proto.ts';

/**
 * Causal self-attention forward and backward as two small ONNX graphs on onnxruntime's batched MatMul
 * and Softmax kernels. Written as JavaScript loops, attention took over half of a training step at
 * 200-token sequences (0.4 GFLOPS); here it runs on the same kernels as the linear layers.
 *
 * Tensors are [B, H, L, D]: B sequences right-padded to L, H query heads (grouped KV heads are repeated
 * by the caller), q already scaled by 1/sqrt(D). Padding sits after each sequence's last token, so the
 * causal mask alone keeps real queries from seeing it; padded query rows produce values nobody reads
 * and receive zero gradient.
 */

const MASK_MIN = -3.4028234663852886e38;

const f = (name: string) => ({ name, elemType: DataType.FLOAT, shape: ['b', 'h', 'l', name === 'p' ? 'l2' : 'd'] as const });

function forwardModel(): Uint8Array {
  const nodes: NodeProto[] = [
    { opType: 'Transpose', name: 'kt', inputs: ['k'], outputs: ['kt'], attributes: { perm: { kind: 'ints', value: [0, 1, 3, 2] } } },
    { opType: 'MatMul', name: 's', inputs: ['q', 'kt'], outputs: ['s'] },
    { opType: 'Add', name: 'masked', inputs: ['s', 'bias'], outputs: ['masked'] },
    { opType: 'Softmax', name: 'p', inputs: ['masked'], outputs: ['p'], attributes: { axis: { kind: 'int', value: -1 } } },
    { opType: 'MatMul', name: 'ctx', inputs: ['p', 'v'], outputs: ['ctx'] },
  ];
  return encodeModel({
    irVersion: 8,
    opsetImports: [{ domain: '', version: 17 }],
    producerName: 'cir-trainer',
    producerVersion: '0.1.0',
    graph: {
      name: 'attention_forward',
      nodes,
      initializers: [],
      inputs: [f('q'), f('k'), f('v'), { name: 'bias', elemType: DataType.FLOAT, shape: ['l', 'l2'] }],
      outputs: [f('ctx'), f('p')],
    },
  });
}

function backwardModel(): Uint8Array {
  const t = (name: string, input: string): NodeProto => ({ opType: 'Transpose', name, inputs: [input], outputs: [name], attributes: { perm: { kind: 'ints', value: [0, 1, 3, 2] } } });
  const nodes: NodeProto[] = [
    t('vt', 'v'),
    { opType: 'MatMul', name: 'dp', inputs: ['dctx', 'vt'], outputs: ['dp'] },
    t('pt', 'p'),
    { opType: 'MatMul', name: 'dv', inputs: ['pt', 'dctx'], outputs: ['dv'] },
    { opType: 'Mul', name: 'pdp', inputs: ['dp', 'p'], outputs: ['pdp'] },
    { opType: 'ReduceSum', name: 'rowdot', inputs: ['pdp', 'axes'], outputs: ['rowdot'], attributes: { keepdims: { kind: 'int', value: 1 } } },
    { opType: 'Sub', name: 'centred', inputs: ['dp', 'rowdot'], outputs: ['centred'] },
    { opType: 'Mul', name: 'ds', inputs: ['p', 'centred'], outputs: ['ds'] },
    { opType: 'MatMul', name: 'dq', inputs: ['ds', 'k'], outputs: ['dq'] },
    t('dst', 'ds'),
    { opType: 'MatMul', name: 'dk', inputs: ['dst', 'q'], outputs: ['dk'] },
  ];
  return encodeModel({
    irVersion: 8,
    opsetImports: [{ domain: '', version: 17 }],
    producerName: 'cir-trainer',
    producerVersion: '0.1.0',
    graph: {
      name: 'attention_backward',
      nodes,
      initializers: [int64Tensor('axes', [1], [-1])],
      inputs: [f('q'), f('k'), f('v'), f('p'), f('dctx')],
      outputs: [f('dq'), f('dk'), f('dv')],
    },
  });
}

export interface AttentionSaved {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  p: Float32Array;
}

export class AttentionKernel {
  private released = false;
  /** Causal additive masks by length (0 on and below the diagonal). */
  private readonly masks = new Map<number, Float32Array>();

  private constructor(
    private readonly forwardSession: ort.InferenceSession,
    private readonly backwardSession: ort.InferenceSession,
  ) {}

  static async create(threads: number): Promise<AttentionKernel> {
    const options = kernelSessionOptions(threads);
    const [fwd, bwd] = await Promise.all([ort.InferenceSession.create(forwardModel(), options), ort.InferenceSession.create(backwardModel(), options)]);
    return new AttentionKernel(fwd, bwd);
  }

  private mask(L: number): Float32Array {
    let m = this.masks.get(L);
    if (!m) {
      m = new Float32Array(L * L);
      for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) m[i * L + j] = MASK_MIN;
      if (this.masks.size > 64) this.masks.clear();
      this.masks.set(L, m);
    }
    return m;
  }

  /** ctx [B, H, L, D] and the saved tensors backward needs. */
  async forward(q: Float32Array, k: Float32Array, v: Float32Array, B: number, H: number, L: number, D: number): Promise<{ ctx: Float32Array; saved: AttentionSaved }> {
    this.checkUsable();
    const dims = [B, H, L, D];
    const out = await this.forwardSession.run({
      q: new ort.Tensor('float32', q, dims),
      k: new ort.Tensor('float32', k, dims),
      v: new ort.Tensor('float32', v, dims),
      bias: new ort.Tensor('float32', this.mask(L), [L, L]),
    });
    return { ctx: out.ctx!.data as Float32Array, saved: { q, k, v, p: out.p!.data as Float32Array } };
  }

  /** Gradients of q, k, v ([B, H, L, D] each) from the gradient of ctx. */
  async backward(saved: AttentionSaved, dctx: Float32Array, B: number, H: number, L: number, D: number): Promise<{ dq: Float32Array; dk: Float32Array; dv: Float32Array }> {
    this.checkUsable();
    const dims = [B, H, L, D];
    const out = await this.backwardSession.run({
      q: new ort.Tensor('float32', saved.q, dims),
      k: new ort.Tensor('float32', saved.k, dims),
      v: new ort.Tensor('float32', saved.v, dims),
      p: new ort.Tensor('float32', saved.p, [B, H, L, L]),
      dctx: new ort.Tensor('float32', dctx, dims),
    });
    return { dq: out.dq!.data as Float32Array, dk: out.dk!.data as Float32Array, dv: out.dv!.data as Float32Array };
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await Promise.all([this.forwardSession.release(), this.backwardSession.release()]);
  }

  private checkUsable(): void {
    if (this.released) throw new Error('the attention kernel has been released');
  }
}
