/**
 * Writes a random-weight Llama/Qwen2-style decoder in the HF optimum ONNX layout, with a
 * byte-level BPE tokenizer learned on a synthetic math/code corpus:
 *
 *   npx tsx scripts/make-model.ts --out DIR [--preset tiny|small|bench-30m] [--seed N]
 *
 * Everything is derived from the seed, so the same command always writes the same files.
 * Tests and the benchmark call `ensureModel()`, which builds into a cache directory once;
 * no model is committed or downloaded.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseScriptArgs } from './args.ts';
import { learnByteLevelBpe, specialTokenIds, writeTokenizerFiles } from '../core/onnx/bpe.ts';
import { countParameters, decoderWeightShapes, exportDecoder, type DecoderConfig } from '../core/onnx/decoder.ts';
import { Rng } from '../api/models/generation/rng.ts';

type Architecture = Omit<DecoderConfig, 'vocabSize' | 'bosTokenId' | 'eosTokenId' | 'padTokenId'>;

interface Preset {
  arch: Architecture;
  /** BPE merges to learn (the vocabulary is 256 bytes + merges + 3 special tokens). */
  merges: number;
  /** Characters of synthetic corpus to learn them from. */
  corpusChars: number;
  /** Std of the normal init. Larger than HF's 0.02 for tiny models so logits are not flat. */
  initStd: number;
}

export const PRESETS = {
  tiny: {
    arch: {
      modelType: 'qwen2', hiddenSize: 64, intermediateSize: 128, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
      maxPositionEmbeddings: 256, ropeTheta: 10000, rmsNormEps: 1e-6, tieWordEmbeddings: true, attentionBias: true,
    },
    merges: 300,
    corpusChars: 40_000,
    initStd: 0.1,
  },
  small: {
    arch: {
      modelType: 'llama', hiddenSize: 128, intermediateSize: 352, numHiddenLayers: 4, numAttentionHeads: 4, numKeyValueHeads: 2,
      maxPositionEmbeddings: 1024, ropeTheta: 10000, rmsNormEps: 1e-5, tieWordEmbeddings: false, attentionBias: false,
    },
    merges: 1000,
    corpusChars: 150_000,
    initStd: 0.05,
  },
  /** ~30M parameters, 4:1 grouped-query attention as in current small models (Qwen2.5, Llama 3.2). */
  'bench-30m': {
    arch: {
      modelType: 'llama', hiddenSize: 512, intermediateSize: 1536, numHiddenLayers: 8, numAttentionHeads: 8, numKeyValueHeads: 2,
      maxPositionEmbeddings: 2048, ropeTheta: 10000, rmsNormEps: 1e-5, tieWordEmbeddings: false, attentionBias: false,
    },
    merges: 3800,
    corpusChars: 600_000,
    initStd: 0.02,
  },
} satisfies Record<string, Preset>;

export type PresetName = keyof typeof PRESETS;

const WORDS = (
  'the of and to in is that for it as with be on by this we are from at or an which let find compute value answer ' +
  'number sum product equation solve integer prime divisible remainder square root fraction total each step first ' +
  'then therefore so since because result check verify function return print import range list len math sympy ' +
  'def for while if else elif true false none lambda count digits factorial modulo probability expected triangle ' +
  'area perimeter radius circle angle degrees point line slope intercept sequence series term ratio difference ' +
  'minimum maximum positive negative even odd greater less equal between numbers values variable solution'
).split(' ');
/** 100 consonant-vowel syllables: identifiers made of them give the merge learner a long tail of pairs. */
const SYLLABLES = [...'bcdfghjklmnprstvwxyz'].flatMap((c) => [...'aeiou'].map((v) => c + v));

/** A deterministic corpus that looks like tool-integrated math reasoning: prose, python blocks, output blocks. */
export function syntheticCorpus(chars: number, rng: Rng): string {
  const pick = <T>(xs: readonly T[]): T => xs[rng.nextInt(xs.length)]!;
  const num = () => String(rng.nextInt(rng.nextFloat() < 0.5 ? 100 : 100000));
  const ident = () => Array.from({ length: 1 + rng.nextInt(3) }, () => pick(SYLLABLES)).join('') + (rng.nextFloat() < 0.3 ? `_${pick(WORDS)}` : '');
  const sentence = () => {
    const words = Array.from({ length: 5 + rng.nextInt(10) }, () => {
      const r = rng.nextFloat();
      return r < 0.15 ? num() : r < 0.45 ? ident() : pick(WORDS);
    });
    const s = words.join(' ');
    return `${s[0]!.toUpperCase()}${s.slice(1)}.`;
  };
  const parts: string[] = [];
  let size = 0;
  while (size < chars) {
    const a = num();
    const b = num();
    const v = ident();
    const op = pick(['+', '-', '*', '//', '%', '**']);
    const block =
      `${sentence()} ${sentence()}\n` +
      `Let's compute ${a} ${op} ${b} with code.\n` +
      '```python\n' +
      `${v} = ${a} ${op} ${b}\n` +
      (rng.nextFloat() < 0.5 ? `for i in range(${rng.nextInt(20)}):\n    ${v} += i\n` : '') +
      `print(${v})\n` +
      '```\n' +
      '```output\n' +
      `${num()}\n` +
      '```\n' +
      `${sentence()} The answer is $\\boxed{${num()}}$.\n\n`;
    parts.push(block);
    size += block.length;
  }
  return parts.join('');
}

/** Random HF-named weights: norms at 1, everything else N(0, std). */
export function randomWeights(config: DecoderConfig, rng: Rng, std: number): Record<string, Float32Array> {
  const weights: Record<string, Float32Array> = {};
  for (const [name, dims] of Object.entries(decoderWeightShapes(config))) {
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    if (name.endsWith('norm.weight')) data.fill(1);
    else for (let i = 0; i < data.length; i++) data[i] = rng.nextNormal() * std;
    weights[name] = data;
  }
  return weights;
}

export interface MadeModel {
  dir: string;
  config: DecoderConfig;
  parameters: number;
}

/** Builds a model of the preset into `outDir` (overwriting model files there). */
export async function makeModel(options: { outDir: string; preset?: PresetName; seed?: number }): Promise<MadeModel> {
  const preset: Preset = PRESETS[options.preset ?? 'tiny'];
  const seed = options.seed ?? 0;
  // Separate streams for the corpus and the weights, so a preset change in one leaves the other intact.
  const bpe = learnByteLevelBpe(syntheticCorpus(preset.corpusChars, new Rng(seed)), preset.merges);
  const special = specialTokenIds(bpe.tokens.length);
  const config: DecoderConfig = {
    ...preset.arch,
    vocabSize: bpe.tokens.length + 3,
    bosTokenId: special['<|endoftext|>'],
    eosTokenId: [special['<|im_end|>'], special['<|endoftext|>']],
    padTokenId: special['<|endoftext|>'],
  };
  await exportDecoder(config, randomWeights(config, new Rng(seed + 1), preset.initStd), options.outDir);
  await writeTokenizerFiles(bpe, options.outDir, config.maxPositionEmbeddings);
  return { dir: options.outDir, config, parameters: countParameters(config) };
}

/** Bump when the generator's output changes for an unchanged preset (presets themselves are hashed into the cache key). */
const GENERATOR_VERSION = 1;

/**
 * Returns the directory of the preset's model, building it on first use under
 * `$CIR_MODEL_CACHE` (default: the OS temp dir). Concurrent callers (parallel test files)
 * each build into a private directory and rename it into place; the loser's copy is dropped.
 */
export async function ensureModel(preset: PresetName = 'tiny', seed = 0): Promise<string> {
  const root = process.env.CIR_MODEL_CACHE ?? join(tmpdir(), 'cir-models');
  const key = createHash('sha256').update(JSON.stringify([GENERATOR_VERSION, PRESETS[preset]])).digest('hex').slice(0, 12);
  const dir = join(root, `${preset}-s${seed}-${key}`);
  const marker = join(dir, '.complete');
  if (existsSync(marker)) return dir;
  const staging = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await makeModel({ outDir: staging, preset, seed });
  await writeFile(join(staging, '.complete'), '');
  try {
    await rename(staging, dir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    if (!existsSync(marker)) throw error;
  }
  return dir;
}

async function main(): Promise<void> {
  const args = parseScriptArgs(`usage: npx tsx scripts/make-model.ts --out DIR [--preset ${Object.keys(PRESETS).join('|')}] [--seed N]`, {
    options: { out: { type: 'string' }, preset: { type: 'string', default: 'tiny' }, seed: { type: 'string', default: '0' } },
  });
  const out = resolve(args.required('out'));
  const preset = args.oneOf('preset', Object.keys(PRESETS) as PresetName[]);
  const seed = args.int('seed', 0);
  const started = performance.now();
  const made = await makeModel({ outDir: out, preset, seed });
  const bytes = (await readFile(join(made.dir, 'model.onnx'))).length;
  console.log(
    `wrote ${made.dir}: ${made.config.modelType}, ${(made.parameters / 1e6).toFixed(2)}M parameters, vocab ${made.config.vocabSize}, ` +
      `model.onnx ${(bytes / 2 ** 20).toFixed(1)} MiB in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main();
}
