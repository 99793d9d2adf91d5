/**
 * Generation against the reference implementation: on Qwen2, Llama (llama3 rope scaling) and Qwen3
 * (q/k norms) checkpoints made by transformers, with the real Qwen tokenizer, our ONNX runtime greedy-
 * decodes exactly what transformers' `generate` does, token for token, through a code-integrated
 * rollout (generate, append a tool-output block as ids, continue from the KV cache), and reports
 * per-token logprobs within 1e-4 of transformers' log-softmax. Both ONNX files are checked: the one
 * `cir import` writes, and the Optimum-layout export of torch.onnx.export (what `optimum-cli` gives users),
 * which the runtime loads as it is.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxBackend } from '../../api/models/onnx/backend.ts';
import { loadTokenizer } from '../../api/models/tokenizer.ts';
import { importHfCheckpoint } from '../../core/hf/convert.ts';
import { CpuEngine } from '../../trainer/engines/cpu/engine.ts';
import { hfFixture, reference, runPython, type FixtureArch, type HfFixture } from './env.ts';

interface Reference {
  turns: number[][];
  sequence: number[];
  logprobs: number[];
  min_margin: number;
}

const TURN_TOKENS = 24;
const EMBEDDED_MODEL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'model', 'default');
const TOLERANCE = 1e-4;
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

describe.each<FixtureArch>(['qwen2', 'llama', 'qwen3'])('%s checkpoint: generation equals transformers', (arch) => {
  let fixture: HfFixture;
  let work: string;
  let imported: OnnxBackend;
  let optimum: OnnxBackend;
  let prompts: number[][];
  let tool: number[];
  let refs: Reference[];

  beforeAll(async () => {
    fixture = await hfFixture(arch);
    work = await mkdtemp(join(tmpdir(), `cir-hf-gen-${arch}-`));
    await importHfCheckpoint(fixture.hf, join(work, 'model'));
    imported = await OnnxBackend.load(join(work, 'model'), { threads: 1 });
    optimum = await OnnxBackend.load(fixture.optimum, { threads: 1 });
    const tokenizer = await loadTokenizer(fixture.hf);
    prompts = PROBLEMS.map((problem) => tokenizer.applyChatTemplate([{ role: 'system', content: 'Write Python in ```python blocks.' }, { role: 'user', content: problem }]));
    tool = tokenizer.encode('```output\n4\n```\n', { addSpecialTokens: false });
    refs = await reference<Reference>(
      fixture.hf,
      prompts.map((prompt) => ({ op: 'generate', prompt, turns: [{ max_new_tokens: TURN_TOKENS }, { append: tool, max_new_tokens: TURN_TOKENS }] })),
    );
  }, 600_000);

  afterAll(async () => {
    await imported?.dispose();
    await optimum?.dispose();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('the fixture has no near-ties that float rounding could flip (so equality is a fair test)', () => {
    for (const ref of refs) expect(ref.min_margin).toBeGreaterThan(1e-4);
  });

  for (const [name, backend] of [['cir import', () => imported], ['Optimum-layout export', () => optimum]] as const) {
    it(`${name}: a multi-turn rollout equals generate token for token, logprobs within 1e-4`, async () => {
      const ours = await rollout(backend(), prompts[0]!, tool);
      expect(ours.turns).toEqual(refs[0]!.turns);
      expect(maxLogprobDiff(ours.logprobs, refs[0]!.logprobs)).toBeLessThan(TOLERANCE);
    });
  }

  it('cir import: prompts of different lengths decoded together in one batch each equal their own generate', async () => {
    const results = await Promise.all(prompts.map((prompt) => rollout(imported, prompt, tool)));
    results.forEach((ours, i) => {
      expect(ours.turns).toEqual(refs[i]!.turns);
      expect(maxLogprobDiff(ours.logprobs, refs[i]!.logprobs)).toBeLessThan(TOLERANCE);
    });
  });
});

describe('cir import storage options', () => {
  let fixture: HfFixture;
  let work: string;
  let prompt: number[];
  let tool: number[];
  let fp32: Reference;
  let fp16: Reference;
  let bf16: Reference;
  /** The fixture as a Qwen2.5 release is stored: bf16, in shards with an index. */
  let shardedBf16: string;

  beforeAll(async () => {
    fixture = await hfFixture('qwen2');
    work = await mkdtemp(join(tmpdir(), 'cir-hf-import-'));
    const tokenizer = await loadTokenizer(fixture.hf);
    prompt = tokenizer.applyChatTemplate([{ role: 'user', content: 'What is 6 * 7?' }]);
    tool = tokenizer.encode('```output\n42\n```\n', { addSpecialTokens: false });
    const turns = [{ max_new_tokens: TURN_TOKENS }, { append: tool, max_new_tokens: TURN_TOKENS }];
    [fp32, fp16, bf16] = (await reference<Reference>(fixture.hf, [
      { op: 'generate', prompt, turns },
      { op: 'generate', prompt, turns, weights: 'fp16' },
      { op: 'generate', prompt, turns, weights: 'bf16' },
    ])) as [Reference, Reference, Reference];
    shardedBf16 = join(work, 'sharded-bf16');
    const reshard = [
      'import sys, torch',
      'from transformers import AutoModelForCausalLM, AutoTokenizer',
      'model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.bfloat16)',
      'model.save_pretrained(sys.argv[2], max_shard_size="8MB")',
      'AutoTokenizer.from_pretrained(sys.argv[1]).save_pretrained(sys.argv[2])',
    ].join('\n');
    await runPython('-c', [reshard, fixture.hf, shardedBf16]);
  }, 600_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function check(options: Parameters<typeof importHfCheckpoint>[2], ref: () => Reference, files: string[], source = () => fixture.hf): Promise<void> {
    const dir = join(work, `out${JSON.stringify(options).replace(/\W+/g, '-')}${source() === fixture.hf ? '' : '-sharded'}`);
    const imported = await importHfCheckpoint(source(), dir, options);
    expect(imported.files.filter((f) => f.startsWith('model.onnx'))).toEqual(files);
    const backend = await OnnxBackend.load(dir, { threads: 1 });
    try {
      const ours = await rollout(backend, prompt, tool);
      expect(ours.turns).toEqual(ref().turns);
      expect(maxLogprobDiff(ours.logprobs, ref().logprobs)).toBeLessThan(TOLERANCE);
    } finally {
      await backend.dispose();
    }
  }

  it('fp16 storage equals transformers on the fp16-rounded weights', () => check({ dtype: 'fp16' }, () => fp16, ['model.onnx']));
  it('weights in external data (model.onnx_data) serve the same model', () => check({ externalData: true }, () => fp32, ['model.onnx', 'model.onnx_data']));
  it('fp16 in external data', () => check({ dtype: 'fp16', externalData: true }, () => fp16, ['model.onnx', 'model.onnx_data']));
  it('a bf16 checkpoint in shards (as Qwen2.5 ships) equals transformers on the bf16 weights', async () => {
    await check({}, () => bf16, ['model.onnx'], () => shardedBf16);
    const files = (await importHfCheckpoint(shardedBf16, join(work, 'sharded-files'))).files;
    expect(files.filter((f) => f.startsWith('model-'))).toHaveLength(2);
    expect(files).toContain('model.safetensors.index.json');
  });
});

describe('a checkpoint the cpu engine exports (the embedded model)', () => {
  it('loads in transformers from its model.safetensors and config.json, and generates what our runtime does', async () => {
    const work = await mkdtemp(join(tmpdir(), 'cir-cpu-export-'));
    const engine = await CpuEngine.create({ kind: 'model-dir', dir: EMBEDDED_MODEL_DIR }, { threads: 1 });
    try {
      expect(await engine.exportOnnx(work)).toContain('model.safetensors');
      const backend = await OnnxBackend.load(work, { threads: 1 });
      try {
        const prompt = backend.tokenizer.applyChatTemplate([{ role: 'user', content: 'What is 407 times 94? Give the answer modulo 748.' }]);
        const tool = backend.tokenizer.encode('```output\n110\n```\n', { addSpecialTokens: false });
        const [ref] = await reference<Reference>(work, [{ op: 'generate', prompt, turns: [{ max_new_tokens: TURN_TOKENS }, { append: tool, max_new_tokens: TURN_TOKENS }] }]);
        const ours = await rollout(backend, prompt, tool);
        expect(ours.turns).toEqual(ref!.turns);
        expect(maxLogprobDiff(ours.logprobs, ref!.logprobs)).toBeLessThan(TOLERANCE);
      } finally {
        await backend.dispose();
      }
    } finally {
      await engine.dispose();
      await rm(work, { recursive: true, force: true });
    }
  }, 600_000);
});
