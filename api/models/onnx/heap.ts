/**
 * Node flags for a process that decodes with onnxruntime-node. The binding returns every output
 * of every forward as a fresh ArrayBuffer (the present KV cache: megabytes per step at batch 16),
 * and with V8's default small initial old space a process that holds an application's heap (zod,
 * the grader, the tokenizer) answers that with a full mark-compact every few tokens: decoding the
 * shipped model at batch 16 took 1.6x the CPU of the same loop in a bare process, and merely
 * importing zod or mathjs into the bare loop's process made it as slow (measured with `npm run
 * bench models`' workers, 2 shared cores). A 128 MiB initial old space removes the difference.
 *
 * The flag must be given when node starts (it sizes the heap; NODE_OPTIONS does not accept it):
 * bin/cir.mjs's shebang, `npm start` and `npm run bench` pass it, and so does every process this
 * repository spawns to decode. A program embedding the API should start node with it too.
 */
export const DECODE_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128'];
