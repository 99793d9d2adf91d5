/**
 * Generation against the reference implementation: on Qwen2, Llama (llama3 rope scaling) and Qwen3
 * (q/k norms) checkpoints made by transformers, with the real Qwen tokenizer, our ONNX runtime greedy-
 * decodes exactly what transformers' `generate` does, token for token, through a code-integrated
 * rollout (generate, append a tool-output block as ids, continue from the KV cache), and reports
 * per-token logprobs within 1e-4 of transformers' log-softmax. Both ONNX files are checked: the one
 * `cir import` writes, and the Optimum-layout export of torch.onnx.export (what `optimum-cli` gives users),
 * which the runtime loads as it is. All reference answers come from one Python process (importing
 * transformers once).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxBackend } from '../../api/models/onnx/backend.ts';
import { loadTokenizer } from '../../api/models/tokenizer.ts';
import { importHfCheckpoint, type ImportOptions } from '../../core/hf/convert.ts';
import { CpuEngine } from '../../trainer/engines/cpu/engine.ts';
import { hfFixture, referenceMany, runPython, type FixtureArch, type HfFixture } from './env.ts';

interface Reference {
  turns: number[][];
  sequence: number[];
  logprobs: number[];
  min_margin: number;
}

const ARCHS: FixtureArch[] = ['qwen2', 'llama', 'qwen3'];
const TURN_TOKENS = 24;
const TOLERANCE = 1e-4;
const EMBEDDED_MODEL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'model', 'default');
const PROBLEMS = ['What is 2 + 2? Check it with code.', 'Compute \\frac{3}{4} + 0.25.', '求 12 × 34 的值。'];

/** Our side of a rollout: greedy turns with the tool output appended as ids in between, as the reasoning loop does. */
async function rollout(backend: OnnxBackend, prompt: number[], tool: number[]): Promise<{ turns: number[][]; logprobs: (number | null)[] }> {
  const group = backend.startGroup({ prompt, n: 1 });
  try {
    const seq = group.sequences[0]!;
    const first = await seq.generate({ maxTokens: TURN_TOKENS, temperature: 0 });
    seq.append(tool);
    const second = await seq.generate({ maxTokens: TURN_TOKENS, temperature: 0 });
    return { turns: [first.tokenIds, second.tokenIds], logprobs: [...first.logprobs, ...tool.map(() => null), ...second.logprobs] };
  } finally {
    group.dispose();
  }
}

function maxLogprobDiff(ours: (number | null)[], theirs: number[]): number {
  expect(ours.length).toBe(theirs.length);
  return ours.reduce<number>((max, x, i) => (x === null ? max : Math.max(max, Math.abs(x - theirs[i]!))), 0);
}

/** The ops of a reference rollout of `prompt`, like `rollout` above. */
const generateOp = (prompt: number[], tool: number[], extra: Record<string, unknown> = {}) => ({
  op: 'generate',
  prompt,
  turns: [{ max_new_tokens: TURN_TOKENS }, { append: tool, max_new_tokens: TURN_TOKENS }],
  ...extra,
});

let work: string;
const fixtures = new Map<FixtureArch, HfFixture>();
let prompts: number[][];
let tool: number[];
/** The qwen2 fixture stored as a Qwen2.5 release is: bf16, in shards with an index. */
let shardedBf16: string;
/** What the cpu engine exports from the embedded model (model.safetensors + config.json beside model.onnx). */
let cpuExport: string;
let cpuPrompt: number[];
let cpuTool: number[];
/** Per architecture: one reference rollout per problem. */
const refs = new Map<FixtureArch, Reference[]>();
let storageRefs: { fp32: Reference; fp16: Reference; bf16: Reference };
let cpuRef: Reference;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cir-hf-gen-'));
  for (const arch of ARCHS) fixtures.set(arch, await hfFixture(arch));
  const qwen2 = fixtures.get('qwen2')!;
  const tokenizer = await loadTokenizer(qwen2.hf);
  prompts = PROBLEMS.map((problem) => tokenizer.applyChatTemplate([{ role: 'system', content: 'Write Python in ```python blocks.' }, { role: 'user', content: problem }]));
  tool = tokenizer.encode('```output\n4\n```\n', { addSpecialTokens: false });

  shardedBf16 = join(work, 'sharded-bf16');
  const reshard = [
    'import sys, torch',
    'from transformers import AutoModelForCausalLM, AutoTokenizer',
    'model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.bfloat16)',
    'model.save_pretrained(sys.argv[2], max_shard_size="8MB")',
    'AutoTokenizer.from_pretrained(sys.argv[1]).save_pretrained(sys.argv[2])',
  ].join('\n');
  await runPython('-c', [reshard, qwen2.hf, shardedBf16]);

  cpuExport = join(work, 'cpu-export');
  const engine = await CpuEngine.create({ kind: 'model-dir', dir: EMBEDDED_MODEL_DIR }, { threads: 1 });
  try {
    expect(await engine.exportOnnx(cpuExport)).toContain('model.safetensors');
  } finally {
    await engine.dispose();
  }
  const embedded = await loadTokenizer(cpuExport);
  cpuPrompt = embedded.applyChatTemplate([{ role: 'user', content: 'What is 407 times 94? Give the answer modulo 748.' }]);
  cpuTool = embedded.encode('```output\n110\n```\n', { addSpecialTokens: false });

  const answers = await referenceMany<Reference>([
    ...ARCHS.map((arch) => ({ dir: fixtures.get(arch)!.hf, ops: prompts.map((prompt) => generateOp(prompt, tool)) })),
    { dir: qwen2.hf, ops: [generateOp(prompts[0]!, tool), generateOp(prompts[0]!, tool, { weights: 'fp16' }), generateOp(prompts[0]!, tool, { weights: 'bf16' })] },
    { dir: cpuExport, ops: [generateOp(cpuPrompt, cpuTool)] },
  ]);
  ARCHS.forEach((arch, i) => refs.set(arch, answers[i]!));
  const [fp32, fp16, bf16] = answers[ARCHS.length]!;
  storageRefs = { fp32: fp32!, fp16: fp16!, bf16: bf16! };
  cpuRef = answers[ARCHS.length + 1]![0]!;
}, 600_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe.each(ARCHS)('%s checkpoint: generation equals transformers', (arch) => {
  let imported: OnnxBackend;
  let optimum: OnnxBackend;

  beforeAll(async () => {
    await importHfCheckpoint(fixtures.get(arch)!.hf, join(work, arch));
    imported = await OnnxBackend.load(join(work, arch), { threads: 1 });
    optimum = await OnnxBackend.load(fixtures.get(arch)!.optimum, { threads: 1 });
  }, 120_000);

  afterAll(async () => {
    await imported?.dispose();
    await optimum?.dispose();
  });

  it('the fixture has no near-ties that float rounding could flip (so equality is a fair test)', () => {
    for (const ref of refs.get(arch)!) expect(ref.min_margin).toBeGreaterThan(1e-4);
  });

  for (const [name, backend] of [['cir import', () => imported], ['Optimum-layout export', () => optimum]] as const) {
    it(`${name}: a multi-turn rollout equals generate token for token, logprobs within 1e-4`, async () => {
      const ref = refs.get(arch)![0]!;
      const ours = await rollout(backend(), prompts[0]!, tool);
      expect(ours.turns).toEqual(ref.turns);
      expect(maxLogprobDiff(ours.logprobs, ref.logprobs)).toBeLessThan(TOLERANCE);
    });
  }

  it('cir import: prompts of different lengths decoded together in one batch each equal their own generate', async () => {
    const results = await Promise.all(prompts.map((prompt) => rollout(imported, prompt, tool)));
    results.forEach((ours, i) => {
      expect(ours.turns).toEqual(refs.get(arch)![i]!.turns);
      expect(maxLogprobDiff(ours.logprobs, refs.get(arch)![i]!.logprobs)).toBeLessThan(TOLERANCE);
    });
  });
});

describe('cir import storage options', () => {
  async function check(source: string, options: ImportOptions, ref: Reference, onnxFiles: string[]): Promise<string[]> {
    const dir = join(work, `storage-${Object.keys(options).length ? JSON.stringify(options).replace(/\W+/g, '-') : 'default'}-${source === shardedBf16 ? 'sharded' : 'single'}`);
    const imported = await importHfCheckpoint(source, dir, options);
    expect(imported.files.filter((f) => f.startsWith('model.onnx'))).toEqual(onnxFiles);
    const backend = await OnnxBackend.load(dir, { threads: 1 });
    try {
      const ours = await rollout(backend, prompts[0]!, tool);
      expect(ours.turns).toEqual(ref.turns);
      expect(maxLogprobDiff(ours.logprobs, ref.logprobs)).toBeLessThan(TOLERANCE);
    } finally {
      await backend.dispose();
    }
    return imported.files;
  }
  const qwen2 = () => fixtures.get('qwen2')!.hf;

  it('fp16 storage equals transformers on the fp16-rounded weights', () => check(qwen2(), { dtype: 'fp16' }, storageRefs.fp16, ['model.onnx']));
  it('weights in external data (model.onnx_data) serve the same model', () => check(qwen2(), { externalData: true }, storageRefs.fp32, ['model.onnx', 'model.onnx_data']));
  it('fp16 in external data', () => check(qwen2(), { dtype: 'fp16', externalData: true }, storageRefs.fp16, ['model.onnx', 'model.onnx_data']));
  it('a bf16 checkpoint in shards (as Qwen2.5 ships) equals transformers on the bf16 weights', async () => {
    const files = await check(shardedBf16, {}, storageRefs.bf16, ['model.onnx']);
    expect(files.filter((f) => f.startsWith('model-'))).toHaveLength(2);
    expect(files).toContain('model.safetensors.index.json');
  });
});

describe('a checkpoint the cpu engine exports (the embedded model)', () => {
  it('loads in transformers from its model.safetensors and config.json, and generates what our runtime does', async () => {
    const backend = await OnnxBackend.load(cpuExport, { threads: 1 });
    try {
      const ours = await rollout(backend, cpuPrompt, cpuTool);
      expect(ours.turns).toEqual(cpuRef.turns);
      expect(maxLogprobDiff(ours.logprobs, cpuRef.logprobs)).toBeLessThan(TOLERANCE);
    } finally {
      await backend.dispose();
    }
  });
});
