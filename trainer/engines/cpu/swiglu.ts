import * as ort from 'onnxruntime-node';
import { encodeKernel } from './kernel-model.ts';
import { kernelSessionOptions } from './session-options.ts';
import { DataType, floatTensor, int64Tensor, type NodeProto, type TensorProto } from '../../../core/onnx/proto.ts';

/**
 * SwiGLU forward and backward as two small ONNX graphs: onnxruntime's vectorised Sigmoid and
 * element-wise kernels ran these ~T·ff-sized loops faster than JavaScript, where one Math.exp per
 * element made SwiGLU the largest piece of plain-JavaScript time in a step.
 *
 * Forward: gu [T, 2ff] (gate | up) → a = silu(gate)·up and s = sigmoid(gate).
 * Backward: gu, s, da → d[gate | up] = [da·up·s·(1 + gate·(1 − s)) | da·gate·s].
 */

function split(): NodeProto {
  return { opType: 'Split', name: 'split', inputs: ['gu', 'halves'], outputs: ['g', 'u'], attributes: { axis: { kind: 'int', value: 1 } } };
}

function graph(name: string, nodes: NodeProto[], inputs: string[], outputs: string[], ff: number, constants: TensorProto[] = []): Uint8Array {
  const width = (n: string) => (n === 'gu' || n === 'dgu' ? 2 * ff : ff);
  return encodeKernel({
    name,
    nodes,
    initializers: [int64Tensor('halves', [2], [ff, ff]), ...constants],
    inputs: inputs.map((n) => ({ name: n, elemType: DataType.FLOAT, shape: ['t', width(n)] })),
    outputs: outputs.map((n) => ({ name: n, elemType: DataType.FLOAT, shape: ['t', width(n)] })),
  });
}

const op = (opType: string, inputs: string[], output: string, attributes?: NodeProto['attributes']): NodeProto => ({ opType, name: output, inputs, outputs: [output], attributes });

export class SwigluKernel {
  private released = false;

  private constructor(
    private readonly ff: number,
    private readonly forwardSession: ort.InferenceSession,
    private readonly backwardSession: ort.InferenceSession,
  ) {}

  static async create(ff: number, threads: number): Promise<SwigluKernel> {
    const options = kernelSessionOptions(threads);
    const forward = graph('swiglu_forward', [split(), op('Sigmoid', ['g'], 's'), op('Mul', ['g', 's'], 'silu'), op('Mul', ['silu', 'u'], 'a')], ['gu'], ['a', 's'], ff);
    const backward = graph(
      'swiglu_backward',
      [
        split(),
        // dgate = da·up·s·(1 + gate·(1 − s)); dup = da·gate·s
        op('Mul', ['da', 's'], 'da_s'),
        op('Sub', ['one', 's'], 'one_minus_s'),
        op('Mul', ['g', 'one_minus_s'], 'g_oms'),
        op('Add', ['one', 'g_oms'], 'dsilu_over_s'),
        op('Mul', ['da_s', 'u'], 'da_s_u'),
        op('Mul', ['da_s_u', 'dsilu_over_s'], 'dg'),
        op('Mul', ['da_s', 'g'], 'du'),
        op('Concat', ['dg', 'du'], 'dgu', { axis: { kind: 'int', value: 1 } }),
      ],
      ['gu', 's', 'da'],
      ['dgu'],
      ff,
      [floatTensor('one', [], new Float32Array([1]))],
    );
    const [fwd, bwd] = await Promise.all([ort.InferenceSession.create(forward, options), ort.InferenceSession.create(backward, options)]);
    return new SwigluKernel(ff, fwd, bwd);
  }

  async forward(gu: Float32Array, T: number): Promise<{ a: Float32Array; sig: Float32Array }> {
    this.checkUsable();
    const out = await this.forwardSession.run({ gu: new ort.Tensor('float32', gu, [T, 2 * this.ff]) });
    return { a: out.a!.data as Float32Array, sig: out.s!.data as Float32Array };
  }

  async backward(gu: Float32Array, sig: Float32Array, da: Float32Array, T: number): Promise<Float32Array> {
    this.checkUsable();
    const out = await this.backwardSession.run({
      gu: new ort.Tensor('float32', gu, [T, 2 * this.ff]),
      s: new ort.Tensor('float32', sig, [T, this.ff]),
      da: new ort.Tensor('float32', da, [T, this.ff]),
    });
    return out.dgu!.data as Float32Array;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await Promise.all([this.forwardSession.release(), this.backwardSession.release()]);
  }

  private checkUsable(): void {
    if (this.released) throw new Error('the SwiGLU kernel has been released');
  }
}
