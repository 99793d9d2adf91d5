/**
 * Trainer benchmark: steps/s and tokens/s of the cpu engine's RL step (forward + backward + AdamW)
 * on small decoders, against baselines measured in the same run, round by round so they share the
 * machine's load:
 *  - onnxruntime inference: one forward of the exported model.onnx over the same tokens (what the
 *    API's runtime does per prefill); a training step costs about 3 forwards at best (forward,
 *    backward of activations, backward of weights), so "step / ORT fwd" near 3 means little overhead;
 *  - the engine's own forward (logprobs, no gradient);
 *  - the same step with the linear layers' products in plain JavaScript (the alternative to
 *    onnxruntime's kernels that the engine was chosen against; see trainer/README.md).
 *
 * CIR_BENCH_THREADS (default 1) sets compute threads for every contender.
 */
import * as ort from 'onnxruntime-node';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { headDim, type DecoderConfig } from '../core/onnx/decoder.ts';
import { ensureModel } from '../scripts/make-model.ts';
import type { TrainBatch, TrainSample } from '../trainer/batch/types.ts';
import { CpuEngine } from '../trainer/engines/cpu/engine.ts';
import { table } from './stats.ts';

const THREADS = Number(process.env.CIR_BENCH_THREADS ?? 1);
const ROUNDS = 3;
const WARMUP_STEPS = 3;
const STEPS_PER_ROUND = 2;
const SEQUENCES = 16;
const SEQ_LEN = 192;
const PROMPT = 64;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A GRPO-like batch: 4 groups of 4, half the samples with advantage +1, half -1, every response token in the loss. */
function makeBatch(vocab: number): TrainBatch {
  const samples: TrainSample[] = Array.from({ length: SEQUENCES }, (_, i) => ({
    id: `s${i}`,
    groupId: `g${i >> 2}`,
    inputIds: Int32Array.from({ length: SEQ_LEN }, (_, t) => 1 + ((t * 31 + i * 97) % (vocab - 10))),
    promptLength: PROMPT,
    lossMask: new Uint8Array(SEQ_LEN - PROMPT).fill(1),
    oldLogprobs: new Float32Array(SEQ_LEN - PROMPT).fill(-Math.log(vocab)),
    advantages: new Float32Array(SEQ_LEN - PROMPT).fill(i % 2 ? 1 : -1),
    reward: i % 2 ? 1 : -1,
    temperature: 1,
  }));
  const stats = { records: SEQUENCES, duplicates: 0, partial: 0, unscored: 0, groups: 4, keptGroups: 4, samples: SEQUENCES, meanReward: 0, accuracy: 0.5, toolCallsPerSample: 0, toolCallRate: 0, meanResponseLength: SEQ_LEN - PROMPT, lossTokens: SEQUENCES * (SEQ_LEN - PROMPT), voidTurnsFiltered: 0 };
  return { samples, stats };
}

/** One inference forward of the exported graph over the batch (empty KV cache), as the API's runtime runs it. */
async function ortForward(session: ort.InferenceSession, config: DecoderConfig, batch: TrainBatch): Promise<void> {
  const B = batch.samples.length;
  const i64 = (f: (b: number, t: number) => number) => BigInt64Array.from({ length: B * SEQ_LEN }, (_, k) => BigInt(f(Math.floor(k / SEQ_LEN), k % SEQ_LEN)));
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', i64((b, t) => batch.samples[b]!.inputIds[t]!), [B, SEQ_LEN]),
    attention_mask: new ort.Tensor('int64', i64(() => 1), [B, SEQ_LEN]),
    position_ids: new ort.Tensor('int64', i64((_, t) => t), [B, SEQ_LEN]),
  };
  for (let l = 0; l < config.numHiddenLayers; l++) {
    for (const kind of ['key', 'value']) feeds[`past_key_values.${l}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [B, config.numKeyValueHeads, 0, headDim(config)]);
  }
  await session.run(feeds);
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

interface Model {
  name: string;
  init: () => Promise<CpuEngine>;
  /** Also time the plain-JavaScript matmul variant (slow: only on the smaller model). */
  withJs: boolean;
}

export async function benchTrainer(): Promise<void> {
  const small = await ensureModel('small');
  // Issue 8's shape: a char-level vocabulary, 256 wide, 4 layers (3.3M parameters).
  const charLevel: DecoderConfig = {
    modelType: 'llama', vocabSize: 96, hiddenSize: 256, intermediateSize: 704, numHiddenLayers: 4, numAttentionHeads: 4, numKeyValueHeads: 4,
    maxPositionEmbeddings: 512, ropeTheta: 10000, rmsNormEps: 1e-5, tieWordEmbeddings: true, attentionBias: false, bosTokenId: null, eosTokenId: 1,
  };
  const options = { threads: THREADS, optimizer: { lr: 1e-5 } };
  const models: Model[] = [
    { name: "preset 'small' (1.0M, vocab 1003)", init: () => CpuEngine.create({ kind: 'model-dir', dir: small }, options), withJs: true },
    { name: 'char-level 3.3M (vocab 96)', init: () => CpuEngine.create({ kind: 'fresh', config: charLevel, seed: 1, initStd: 0.02, tokenizerDir: small }, options), withJs: false },
  ];
  const work = await mkdtemp(join(tmpdir(), 'cir-bench-trainer-'));
  const tokens = SEQUENCES * SEQ_LEN;
  console.log(`RL step on ${SEQUENCES} sequences x ${SEQ_LEN} tokens (${SEQ_LEN - PROMPT} in the loss each), ${THREADS} thread(s), median of ${ROUNDS} rounds`);
  const rows: (string | number)[][] = [];
  try {
    for (const model of models) {
      const engine = await model.init();
      const jsEngine = model.withJs ? await CpuEngine.create({ kind: 'model-dir', dir: small }, { ...options, matmul: 'js' }) : null;
      const dir = join(work, String(rows.length));
      await engine.exportOnnx(dir);
      const session = await ort.InferenceSession.create(join(dir, 'model.onnx'), { intraOpNumThreads: THREADS, interOpNumThreads: 1 });
      const batch = makeBatch(engine.config.vocabSize);
      const requests = batch.samples.map((s) => ({ ids: s.inputIds, from: PROMPT }));
      try {
        // Warm-up: the first steps allocate, plan onnxruntime's kernels and let V8 optimise (they ran 2-5x slower).
        for (let i = 0; i < WARMUP_STEPS; i++) await engine.step(batch);
        await engine.logprobs(requests);
        await ortForward(session, engine.config, batch);
        const t = { step: [] as number[], fwd: [] as number[], ort: [] as number[], js: [] as number[] };
        for (let r = 0; r < ROUNDS; r++) {
          t.ort.push(await time(() => ortForward(session, engine.config, batch)));
          t.fwd.push(await time(() => engine.logprobs(requests)));
          t.step.push((await time(async () => {
            for (let i = 0; i < STEPS_PER_ROUND; i++) await engine.step(batch);
          })) / STEPS_PER_ROUND);
          if (jsEngine && r === 0) t.js.push(await time(() => jsEngine.step(batch)));
        }
        const step = median(t.step);
        rows.push([model.name, 'cpu engine: RL step', 1 / step, tokens / step, step / median(t.ort)]);
        rows.push(['', 'cpu engine: forward only', 1 / median(t.fwd), tokens / median(t.fwd), median(t.fwd) / median(t.ort)]);
        rows.push(['', 'onnxruntime inference forward (baseline)', 1 / median(t.ort), tokens / median(t.ort), 1]);
        if (t.js.length > 0) rows.push(['', 'RL step, JS matmul (alternative)', 1 / t.js[0]!, tokens / t.js[0]!, t.js[0]! / median(t.ort)]);
      } finally {
        await session.release();
        await engine.dispose();
        await jsEngine?.dispose();
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  console.log(table(['model', 'what', 'per s', 'tokens/s', 'time / ORT forward'], rows));
}
