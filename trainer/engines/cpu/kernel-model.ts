import { encodeModel, type GraphProto } from '../../../core/onnx/proto.ts';

/**
 * Serialises one of the engine's small kernel graphs (products, SwiGLU, attention) as an ONNX
 * model: default opset 17 at IR 8 unless a kernel needs newer ops or contrib domains.
 */
export function encodeKernel(
  graph: GraphProto,
  opsetImports: readonly { domain: string; version: number }[] = [{ domain: '', version: 17 }],
  irVersion = 8,
): Uint8Array {
  return encodeModel({ irVersion, opsetImports, producerName: 'cir-trainer', producerVersion: '0.1.0', graph });
}
