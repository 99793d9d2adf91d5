import type * as ort from 'onnxruntime-node';

/**
 * onnxruntime session options of the engine's kernels. Intra-op threads do not spin between runs:
 * the engine alternates many short onnxruntime calls with JavaScript work on the main thread, and
 * spinning workers took the CPU that JavaScript needed (with spinning, 2 threads ran a step slower
 * than 1 on this 2-vCPU machine).
 */
export function kernelSessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}
