/**
 * Hugging Face checkpoints: `cir import` and serving the import, each against a baseline measured in the
 * same run, on a random Qwen2 of ~110M parameters (Qwen2.5's 151,936-token vocabulary, tied embeddings,
 * stored in bf16 as Qwen2.5 releases are), made by transformers in a temp directory:
 *  - import: `importHfCheckpoint` (bf16 safetensors → fp32 ONNX, plus copying the checkpoint) against
 *    copying the checkpoint's files alone (the I/O floor) and against Optimum's way (torch.onnx.export of
 *    the model with past key values, in Python, test/hf/make_fixture.py's export);
 *  - decode: greedy tokens/s of our ONNX runtime on the imported model against transformers' `generate`
 *    on the checkpoint (PyTorch, CPU), same prompt, same thread count, EOS ignored.
 * Needs the Python environment (`npm run setup:python`).
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxBackend } from '../api/models/onnx/backend.ts';
import { importHfCheckpoint } from '../core/hf/convert.ts';
import { QWEN_TOKENIZER_DIR, runPython } from '../test/hf/env.ts';
import { table } from './stats.ts';

const ROUNDS = 3;
const PROMPT_TOKENS = 128;
const DECODE_TOKENS = 64;
const THREADS = Number(process.env.CIR_BENCH_THREADS ?? 1);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const MAKE_CHECKPOINT = `
import sys, torch
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM
torch.manual_seed(0)
config = Qwen2Config(vocab_size=151936, hidden_size=512, intermediate_size=1536, num_hidden_layers=8, num_attention_heads=8,
                     num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True, rope_theta=1e6,
                     bos_token_id=151643, eos_token_id=151645)
model = Qwen2ForCausalLM(config).to(torch.bfloat16)
model.save_pretrained(sys.argv[2])
AutoTokenizer.from_pretrained(sys.argv[1]).save_pretrained(sys.argv[2])
print(sum(p.numel() for p in model.parameters()))
`;

/** Optimum's export of the same checkpoint (fp32), timed inside Python: prints seconds. */
const OPTIMUM_EXPORT = `
import sys, time, torch
sys.path.insert(0, sys.argv[3])
from transformers import AutoModelForCausalLM
from make_fixture import export_onnx
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32).eval()
started = time.time()
export_onnx(model, sys.argv[2])
print(time.time() - started)
`;

/** transformers' greedy generate, timed inside Python: prints one line of prefill and decode seconds per round. */
const TRANSFORMERS_DECODE = `
import json, sys, time, torch
from transformers import AutoModelForCausalLM
torch.set_num_threads(int(sys.argv[2]))
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32).eval()
prompt = torch.tensor([json.loads(sys.argv[3])])
def run(n):
    started = time.time()
    with torch.no_grad():
        model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n, min_new_tokens=n, do_sample=False)
    return time.time() - started
run(2)
rounds = []
for _ in range(int(sys.argv[5])):
    one = run(1)
    rounds.append([one, run(1 + int(sys.argv[4])) - one])
print(json.dumps(rounds))
`;

async function timed<T>(fn: () => Promise<T>): Promise<number> {
  const started = performance.now();
  await fn();
  return (performance.now() - started) / 1000;
}

export async function benchHf(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'cir-bench-hf-'));
  try {
    const checkpoint = join(work, 'checkpoint');
    const parameters = Number((await runPython('-c', [MAKE_CHECKPOINT, QWEN_TOKENIZER_DIR, checkpoint])).trim());
    console.log(`random Qwen2ForCausalLM, ${(parameters / 1e6).toFixed(0)}M parameters, bf16 safetensors; ${THREADS} thread(s) for decoding`);

    const copy: number[] = [];
    const ours: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      copy.push(await timed(() => cp(checkpoint, join(work, `copy-${round}`), { recursive: true })));
      ours.push(await timed(() => importHfCheckpoint(checkpoint, join(work, 'imported'), { force: true })));
    }
    const optimum = Number((await runPython('-c', [OPTIMUM_EXPORT, checkpoint, join(work, 'optimum'), join(import.meta.dirname, '..', 'test', 'hf')])).trim());
    console.log(`\nimport (median of ${ROUNDS}; Optimum's export once)`);
    console.log(
      table(
        ['what', 'seconds', 'vs copy'],
        [
          ['copy the checkpoint (floor)', median(copy), 1],
          ['cir import (fp32 ONNX + checkpoint copy)', median(ours), median(ours) / median(copy)],
          ["torch.onnx.export with past (Optimum's way, export only)", optimum, optimum / median(copy)],
        ],
      ),
    );

    const prompt = Array.from({ length: PROMPT_TOKENS }, (_, i) => 1 + ((i * 31) % 150000));
    const backend = await OnnxBackend.load(join(work, 'imported'), { threads: THREADS });
    const oursRounds: [number, number][] = [];
    try {
      const run = (n: number) => timed(() => backend.generate({ prompt, maxTokens: n, temperature: 0, ignoreEos: true }));
      await run(2);
      for (let round = 0; round < ROUNDS; round++) {
        const one = await run(1);
        oursRounds.push([one, (await run(1 + DECODE_TOKENS)) - one]);
      }
    } finally {
      await backend.dispose();
    }
    const theirs = JSON.parse(await runPython('-c', [TRANSFORMERS_DECODE, checkpoint, String(THREADS), JSON.stringify(prompt), String(DECODE_TOKENS), String(ROUNDS)])) as [number, number][];
    const rate = (rounds: [number, number][], i: 0 | 1) => (i === 0 ? PROMPT_TOKENS : DECODE_TOKENS) / median(rounds.map((r) => r[i]));
    console.log(`\ngreedy generation, prompt ${PROMPT_TOKENS} tokens, ${DECODE_TOKENS} decoded (median of ${ROUNDS})`);
    console.log(
      table(
        ['engine', 'prefill tokens/s', 'decode tokens/s', 'decode vs transformers'],
        [
          ['transformers generate (PyTorch)', rate(theirs, 0), rate(theirs, 1), 1],
          ['ours (onnxruntime, cir import)', rate(oursRounds, 0), rate(oursRounds, 1), rate(oursRounds, 1) / rate(theirs, 1)],
        ],
      ),
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
