/**
 * Model runtime benchmark: prefill and decode tokens/s of our ONNX backend against
 * transformers.js (@huggingface/transformers) generating from the same ONNX files, at batch 1
 * and 16, on the shipped model (model/default, 1.9M parameters: per-step overhead dominates) and
 * on a generated ~30M parameter Llama (weights and KV traffic dominate). Greedy, EOS ignored, so
 * both engines do exactly the same forwards; ours computes no logprobs (none are asked for, and
 * transformers.js computes none).
 *
 * Each engine runs in its own child process (so peak RSS is per engine), and the engines take
 * turns round by round, so they share whatever load the machine has at each moment. Ratios are
 * medians of per-round ratios, printed with their spread (lowest and highest round): on a shared
 * 2-core box they mean more than absolute numbers.
 *
 * A third engine, "onnxruntime alone", is the floor of any engine on onnxruntime-node: bare
 * forwards and an argmax (loadBareLoop). Its ratio to transformers.js bounds ours.
 *
 * A second table measures our thread policy on the shipped model: the default (one intra-op
 * thread on a small host) against two threads, spinning and not.
 */
import { fork } from 'node:child_process';
import { mkdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureModel } from '../scripts/make-model.ts';
import { DECODE_NODE_FLAGS } from '../api/models/onnx/heap.ts';
import { table } from './stats.ts';

const PROMPT_TOKENS = 128;
/** Enough decoded tokens that decode time (a generation's time less a 1-token one's) stands clear of the noise. */
const DECODE_TOKENS = 128;
const ROUNDS = Number(process.env.CIR_BENCH_ROUNDS ?? 7);
/**
 * onnxruntime intra-op threads for both engines. One by default (our default on a small host);
 * both engines get the same setting.
 */
const THREADS = Number(process.env.CIR_BENCH_THREADS ?? 1);

type Engine = 'ours' | 'transformers.js' | 'ours (n=16, one prompt)' | 'onnxruntime alone';

interface WorkerSpec {
  engine: Engine;
  /** Model directory (ours), or the transformers.js view of it. */
  dir: string;
  batch: number;
  /** Intra-op threads (default: our policy; transformers.js always gets THREADS). */
  threads?: number;
  /** Whether idle onnxruntime threads spin (ours only; default: our policy). */
  spinning?: boolean;
}

/** One round: wall time of a 1-token generation, and the extra wall and CPU time of a (1+N)-token one. */
interface Round {
  prefillMs: number;
  decodeMs: number;
  decodeCpuMs: number;
}

type ToWorker = { type: 'round' } | { type: 'finish' };
type FromWorker = { type: 'ready' } | ({ type: 'round' } & Round) | { type: 'finished'; peakRssMiB: number };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Distinct, deterministic prompts of PROMPT_TOKENS ids each (away from the special tokens at the end). */
function prompts(batch: number, vocab: number): number[][] {
  return Array.from({ length: batch }, (_, b) => Array.from({ length: PROMPT_TOKENS }, (_, i) => 1 + ((i * 31 + b * 97) % (vocab - 10))));
}

/** Loads the engine and returns its `generate(maxNewTokens)`, all sequences greedy with EOS ignored. */
async function loadEngine(spec: WorkerSpec): Promise<(maxNewTokens: number) => Promise<unknown>> {
  if (spec.engine === 'transformers.js') {
    const { AutoModelForCausalLM, Tensor, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.localModelPath = `${join(spec.dir, '..')}/`;
    const model = await AutoModelForCausalLM.from_pretrained(basename(spec.dir), {
      dtype: 'fp32',
      device: 'cpu',
      session_options: { intraOpNumThreads: spec.threads ?? THREADS },
    });
    const vocab = (model.config as unknown as { vocab_size: number }).vocab_size;
    const ids = prompts(spec.batch, vocab);
    const inputIds = new Tensor('int64', BigInt64Array.from(ids.flat(), (v) => BigInt(v)), [spec.batch, PROMPT_TOKENS]);
    const attentionMask = new Tensor('int64', new BigInt64Array(spec.batch * PROMPT_TOKENS).fill(1n), [spec.batch, PROMPT_TOKENS]);
    return (max) => model.generate({ input_ids: inputIds, attention_mask: attentionMask, max_new_tokens: max, min_new_tokens: max, do_sample: false } as never);
  }
  if (spec.engine === 'onnxruntime alone') return loadBareLoop(spec);
  const { OnnxBackend } = await import('../api/models/onnx/backend.ts');
  const model = await OnnxBackend.load(spec.dir, { threads: spec.threads, spinning: spec.spinning });
  const ids = prompts(spec.batch, model.tokenizer.vocabSize);
  const params = { temperature: 0, ignoreEos: true, logprobs: false };
  if (spec.engine === 'ours') return (max) => Promise.all(ids.map((prompt) => model.generate({ prompt, maxTokens: max, ...params })));
  // RL shape: n samples of one prompt share one prefill.
  return (max) => model.generate({ prompt: ids[0]!, n: spec.batch, maxTokens: max, ...params });
}

/**
 * The floor for any engine on onnxruntime-node: a greedy loop of bare forwards through our
 * session wrapper (same session options), feeding each present back as the next past, with
 * nothing else per token than an argmax: no scheduling, no stopping, no detokenising.
 */
async function loadBareLoop(spec: WorkerSpec): Promise<(maxNewTokens: number) => Promise<unknown>> {
  const { DecoderSession } = await import('../api/models/onnx/decoder-session.ts');
  const { emptyBlock } = await import('../api/models/onnx/kv-cache.ts');
  const { argmax } = await import('../api/models/generation/sampler.ts');
  const session = await DecoderSession.open(join(spec.dir, 'model.onnx'), {}, { threads: spec.threads });
  const { batch } = spec;
  const vocab = session.layout.vocabSize;
  const ids = prompts(batch, vocab);
  return async (max) => {
    let out = await session.forward({
      batch,
      seqLen: PROMPT_TOKENS,
      inputIds: BigInt64Array.from(ids.flat(), (v) => BigInt(v)),
      positionIds: BigInt64Array.from({ length: batch * PROMPT_TOKENS }, (_, i) => BigInt(i % PROMPT_TOKENS)),
      attentionMask: new BigInt64Array(batch * PROMPT_TOKENS).fill(1n),
      past: emptyBlock(session.layout, batch),
    });
    let next = Array.from({ length: batch }, (_, r) => argmax(out.logits.subarray(((r + 1) * PROMPT_TOKENS - 1) * vocab, (r + 1) * PROMPT_TOKENS * vocab)));
    for (let t = 1; t < max; t++) {
      const length = out.present.length;
      out = await session.forward({
        batch,
        seqLen: 1,
        inputIds: BigInt64Array.from(next, (v) => BigInt(v)),
        positionIds: new BigInt64Array(batch).fill(BigInt(length)),
        attentionMask: new BigInt64Array(batch * (length + 1)).fill(1n),
        past: out.present,
      });
      next = next.map((_, r) => argmax(out.logits.subarray(r * vocab, (r + 1) * vocab)));
    }
    return next;
  };
}

/** Child side: load, warm up, then time one round per request from the parent. */
async function runWorker(spec: WorkerSpec): Promise<void> {
  const generate = await loadEngine(spec);
  await generate(2); // warm-up: session arenas, JIT
  const send = (m: FromWorker) => process.send!(m);
  process.on('message', async (m: ToWorker) => {
    if (m.type === 'finish') {
      process.send!({ type: 'finished', peakRssMiB: process.resourceUsage().maxRSS / 1024 } satisfies FromWorker, () => process.exit(0));
      return;
    }
    const cpuMs = () => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1000;
    };
    let t = performance.now();
    let cpu = cpuMs();
    await generate(1);
    const prefillMs = performance.now() - t;
    const prefillCpuMs = cpuMs() - cpu;
    t = performance.now();
    cpu = cpuMs();
    await generate(1 + DECODE_TOKENS);
    send({ type: 'round', prefillMs, decodeMs: performance.now() - t - prefillMs, decodeCpuMs: cpuMs() - cpu - prefillCpuMs });
  });
  send({ type: 'ready' });
}

/** Parent side of one worker process (tsx loader), driven round by round. */
class Worker {
  private readonly child;
  /** Messages not asked for yet (a worker can be ready before the parent waits for it). */
  private readonly inbox: FromWorker[] = [];
  private pending: { resolve: (m: FromWorker) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(readonly spec: WorkerSpec) {
    this.child = fork(fileURLToPath(import.meta.url), [], {
      // Every engine runs under the flags our launcher gives node (the same for all, so ratios compare engines).
      execArgv: [...DECODE_NODE_FLAGS, '--import', 'tsx'],
      env: { ...process.env, CIR_BENCH_MODELS_WORKER: JSON.stringify(spec) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: FromWorker) => {
      const pending = this.pending;
      this.pending = undefined;
      if (pending) pending.resolve(m);
      else this.inbox.push(m);
    });
    this.child.on('exit', (code) => {
      this.failure ??= new Error(`${spec.engine} worker exited with code ${code}`);
      this.pending?.reject(this.failure);
    });
  }

  /** Sends `request` (or nothing) and waits for the worker's next message. */
  next(request?: ToWorker): Promise<FromWorker> {
    if (request) this.child.send(request);
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.pending = { resolve, reject };
    });
  }
}

interface Measured {
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  /** Decode tokens per CPU-second: the work, whatever the machine's load did to wall time. */
  decodeTokensPerCpuSecond: number;
  peakRssMiB: number;
  /** Per-round decode tokens/s, to pair rounds of different engines. */
  decodeRounds: number[];
  /** Per-round decode tokens per CPU-second. */
  cpuRounds: number[];
}

/**
 * Measures the engines at one batch size with every engine loaded in its own process, taking
 * turns round by round: engines share whatever load the machine has at each moment.
 */
async function measureTogether(specs: WorkerSpec[]): Promise<Measured[]> {
  const workers = specs.map((s) => new Worker(s));
  for (const w of workers) await w.next(); // ready
  const rounds: Round[][] = workers.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, w] of workers.entries()) rounds[i]!.push((await w.next({ type: 'round' })) as Round);
  }
  const measured: Measured[] = [];
  for (const [i, w] of workers.entries()) {
    const { batch, engine } = w.spec;
    const finished = (await w.next({ type: 'finish' })) as { peakRssMiB: number };
    // n samples of one prompt prefill it once; everything else prefills batch prompts.
    const prefillTokens = engine === 'ours (n=16, one prompt)' ? PROMPT_TOKENS : batch * PROMPT_TOKENS;
    const decodeRounds = rounds[i]!.map((x) => ((batch * DECODE_TOKENS) / x.decodeMs) * 1000);
    const cpuRounds = rounds[i]!.map((x) => ((batch * DECODE_TOKENS) / x.decodeCpuMs) * 1000);
    measured.push({
      prefillTokensPerSecond: (prefillTokens / median(rounds[i]!.map((x) => x.prefillMs))) * 1000,
      decodeTokensPerSecond: median(decodeRounds),
      decodeTokensPerCpuSecond: median(cpuRounds),
      peakRssMiB: finished.peakRssMiB,
      decodeRounds,
      cpuRounds,
    });
  }
  return measured;
}

/** Per-round ratios a/b of rounds measured side by side: median, lowest, highest. */
function pairedRatio(a: number[], b: number[]): { median: number; low: number; high: number } {
  const ratios = a.map((x, i) => x / b[i]!);
  return { median: median(ratios), low: Math.min(...ratios), high: Math.max(...ratios) };
}

function formatRatio(r: { median: number; low: number; high: number }, target?: number): string {
  const verdict = target === undefined ? '' : ` (target >= ${target}x: ${r.median >= target ? 'met' : 'NOT met'})`;
  return `${r.median.toFixed(2)}x, rounds ${r.low.toFixed(2)}-${r.high.toFixed(2)}x${verdict}`;
}

/** transformers.js looks for `<localModelPath>/<name>/onnx/model.onnx`; link our files into that shape. */
async function transformersView(dir: string, root: string): Promise<string> {
  const view = join(root, basename(dir));
  await mkdir(join(view, 'onnx'), { recursive: true });
  for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']) await symlink(join(dir, f), join(view, f));
  await symlink(join(dir, 'model.onnx'), join(view, 'onnx', 'model.onnx'));
  return view;
}

const row = (engine: string, batch: number, m: Measured) => [
  engine,
  batch,
  Math.round(m.prefillTokensPerSecond),
  Math.round(m.decodeTokensPerSecond),
  Math.round(m.decodeTokensPerCpuSecond),
  Math.round(m.peakRssMiB),
];
const HEADERS = ['engine', 'batch', 'prefill tok/s', 'decode tok/s', 'decode tok/CPU-s', 'peak RSS MiB'];

/** Ours against transformers.js and the bare loop on one model: all seven workers take turns, round by round. */
async function compareEngines(name: string, dir: string, view: string): Promise<void> {
  const spec = (engine: Engine, batch: number): WorkerSpec => ({ engine, dir: engine === 'transformers.js' ? view : dir, batch, threads: THREADS });
  const [ours1, tjs1, bare1, ours16, tjs16, bare16, shared16] = await measureTogether([
    spec('ours', 1),
    spec('transformers.js', 1),
    spec('onnxruntime alone', 1),
    spec('ours', 16),
    spec('transformers.js', 16),
    spec('onnxruntime alone', 16),
    spec('ours (n=16, one prompt)', 16),
  ]);
  console.log(`\n${name} (${dir})`);
  console.log(`prompt ${PROMPT_TOKENS} tokens, ${DECODE_TOKENS} decoded, greedy, ${THREADS} intra-op thread(s); medians of ${ROUNDS} rounds, engines taking turns`);
  console.log(
    table(HEADERS, [
      row('ours', 1, ours1!),
      row('transformers.js', 1, tjs1!),
      row('onnxruntime alone', 1, bare1!),
      row('ours', 16, ours16!),
      row('transformers.js', 16, tjs16!),
      row('onnxruntime alone', 16, bare16!),
      row('ours, n=16 of one prompt', 16, shared16!),
    ]),
  );
  // Wall-clock ratios are the targets; per-CPU-second ones are the work, whatever other tenants of
  // the machine did to each round's wall time. No engine on onnxruntime-node beats its bare forwards.
  const both = (a: Measured, b: Measured) =>
    `${formatRatio(pairedRatio(a.decodeRounds, b.decodeRounds))} (per CPU-second ${formatRatio(pairedRatio(a.cpuRounds, b.cpuRounds))})`;
  console.log(`onnxruntime alone / transformers.js, the most any engine on it can reach: batch 1 ${both(bare1!, tjs1!)}; batch 16 ${both(bare16!, tjs16!)}`);
  console.log(`ours / onnxruntime alone: batch 1 ${both(ours1!, bare1!)}; batch 16 ${both(ours16!, bare16!)}`);
  const target = (label: string, a: number[], b: number[], aCpu: number[], bCpu: number[], goal: number) =>
    console.log(`${label}: ${formatRatio(pairedRatio(a, b), goal)}; per CPU-second ${formatRatio(pairedRatio(aCpu, bCpu))}`);
  target('decode at batch 1, ours / transformers.js', ours1!.decodeRounds, tjs1!.decodeRounds, ours1!.cpuRounds, tjs1!.cpuRounds, 1.5);
  target('decode at batch 16, ours / transformers.js', ours16!.decodeRounds, tjs16!.decodeRounds, ours16!.cpuRounds, tjs16!.cpuRounds, 1.3);
  target('ours, aggregate decode at batch 16 / batch 1', ours16!.decodeRounds, ours1!.decodeRounds, ours16!.cpuRounds, ours1!.cpuRounds, 5);
}

/** Our default thread policy against two intra-op threads, spinning and not, on one model. */
async function compareThreads(name: string, dir: string): Promise<void> {
  const variants = [
    { label: 'default (1 thread, small host)', threads: undefined, spinning: undefined },
    { label: '2 threads, spinning', threads: 2, spinning: true },
    { label: '2 threads, not spinning', threads: 2, spinning: false },
  ];
  const specs = [1, 16].flatMap((batch) => variants.map((v): WorkerSpec => ({ engine: 'ours', dir, batch, threads: v.threads, spinning: v.spinning })));
  const measured = await measureTogether(specs);
  console.log(`\nthread policy, ours on ${name}: medians of ${ROUNDS} rounds, variants taking turns; ratios to the default, per round`);
  const rows = specs.map((s, i) => {
    const base = measured[Math.floor(i / variants.length) * variants.length]!;
    const m = measured[i]!;
    const label = variants[i % variants.length]!.label;
    const ratio = (key: 'decodeRounds' | 'cpuRounds') => formatRatio(pairedRatio(m[key], base[key]));
    return [...row(label, s.batch, m).slice(0, 5), ratio('decodeRounds'), ratio('cpuRounds')];
  });
  console.log(table(['threads', 'batch', 'prefill tok/s', 'decode tok/s', 'decode tok/CPU-s', 'decode vs default', 'tok/CPU-s vs default'], rows));
}

export async function benchModels(): Promise<void> {
  const root = join(tmpdir(), `cir-bench-tjs-${process.pid}`);
  try {
    const shipped = resolve(fileURLToPath(import.meta.url), '../../model/default');
    const models: [string, string][] = [
      ['shipped model (model/default, 1.9M parameters)', shipped],
      ['bench-30m (random ~30M-parameter Llama)', await ensureModel('bench-30m')],
    ];
    for (const [name, dir] of models) await compareEngines(name, dir, await transformersView(dir, root));
    await compareThreads('the shipped model', shipped);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const workerSpec = process.env.CIR_BENCH_MODELS_WORKER;
if (workerSpec) await runWorker(JSON.parse(workerSpec) as WorkerSpec);
