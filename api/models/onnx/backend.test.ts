import { copyFile, mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataType, encodeModel } from '../../../core/onnx/proto.ts';
import { ensureModel } from '../../../scripts/make-model.ts';
import { logSumExp } from '../generation/sampler.ts';
import { ContextLengthError, type TokenEvent, type TurnResult } from '../types.ts';
import { OnnxBackend } from './backend.ts';
import { DecoderSession, openDecoderSessions, threadPolicy } from './decoder-session.ts';
import { emptyBlock, type KvBlock } from './kv-cache.ts';

let dir: string;
let backend: OnnxBackend;
let session: DecoderSession;
let prompt: number[];

beforeAll(async () => {
  dir = await ensureModel('tiny');
  backend = await OnnxBackend.load(dir, { maxBatchSize: 8 });
  session = await DecoderSession.open(join(dir, 'model.onnx'), {});
  prompt = backend.tokenizer.applyChatTemplate([{ role: 'user', content: 'Compute 37 * 12 with python.' }]);
});

afterAll(async () => {
  await backend?.dispose();
  await session?.release();
});

const i64 = (xs: readonly number[]) => BigInt64Array.from(xs, (x) => BigInt(x));
const ones = (n: number) => new BigInt64Array(n).fill(1n);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** Logits for every position of `ids`, recomputed from scratch (no cache). */
async function fullLogits(ids: readonly number[]): Promise<Float32Array> {
  const out = await session.forward({
    batch: 1,
    seqLen: ids.length,
    inputIds: i64(ids),
    positionIds: i64(range(0, ids.length)),
    attentionMask: ones(ids.length),
    past: emptyBlock(session.layout, 1),
  });
  return out.logits;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** log softmax(logits[position] / T)[token] from a [len, vocab] logits buffer. */
function logprobAt(logits: Float32Array, position: number, token: number, temperature: number): number {
  const V = session.layout.vocabSize;
  const row = logits.slice(position * V, (position + 1) * V).map((v) => v / temperature);
  return row[token]! - logSumExp(row);
}

describe('KV cache', () => {
  it('gives the logits of full recomputation, decoding token by token and prefilling in chunks', async () => {
    const V = session.layout.vocabSize;
    const steps = 24;
    // Prefill in three uneven chunks, then decode greedily one token at a time.
    const tokens = [...prompt];
    let past: KvBlock = emptyBlock(session.layout, 1);
    const cuts = [0, 5, 11, prompt.length];
    let last: Float32Array = new Float32Array(0);
    for (let c = 0; c + 1 < cuts.length; c++) {
      const chunk = prompt.slice(cuts[c], cuts[c + 1]);
      const out = await session.forward({
        batch: 1,
        seqLen: chunk.length,
        inputIds: i64(chunk),
        positionIds: i64(range(cuts[c]!, cuts[c + 1]!)),
        attentionMask: ones(cuts[c + 1]!),
        past,
      });
      past = out.present;
      last = out.logits.slice((chunk.length - 1) * V);
    }
    const incremental = [last];
    for (let s = 0; s < steps; s++) {
      const next = last.indexOf(Math.max(...last));
      tokens.push(next);
      const out = await session.forward({ batch: 1, seqLen: 1, inputIds: i64([next]), positionIds: i64([tokens.length - 1]), attentionMask: ones(tokens.length), past });
      past = out.present;
      last = out.logits;
      incremental.push(last);
    }
    const full = await fullLogits(tokens);
    incremental.forEach((logits, s) => {
      const position = prompt.length - 1 + s;
      expect(maxAbsDiff(logits, full.slice(position * V, (position + 1) * V))).toBeLessThan(1e-4);
    });
  });
});

describe('OnnxBackend generation', () => {
  it('returns logprobs equal to log_softmax(logits / T) at the chosen tokens', async () => {
    const T = 0.8;
    const result = await backend.generate({ prompt, n: 3, maxTokens: 20, temperature: T, topK: 50, seed: 11, ignoreEos: true });
    for (const s of result.sequences) {
      const full = await fullLogits([...prompt, ...s.tokenIds]);
      s.tokenIds.forEach((token, i) => expect(Math.abs(s.logprobs[i]! - logprobAt(full, prompt.length - 1 + i, token, T))).toBeLessThan(1e-4));
    }
  });

  it('is deterministic when greedy', async () => {
    const a = await backend.generate({ prompt, maxTokens: 30, temperature: 0, ignoreEos: true });
    const b = await backend.generate({ prompt, n: 3, maxTokens: 30, temperature: 0, ignoreEos: true });
    for (const s of b.sequences) expect(s.tokenIds).toEqual(a.sequences[0]!.tokenIds);
    expect(a.sequences[0]!.tokenIds).toHaveLength(30);
    expect(a.sequences[0]!.finishReason).toBe('length');
  });

  it('reproduces seeded sampling, and a batch of n equals n single runs with seeds seed..seed+n-1', async () => {
    const params = { maxTokens: 40, temperature: 1, topP: 0.95, stop: ['e'] } as const;
    const batch = await backend.generate({ prompt, n: 6, seed: 100, ...params });
    const again = await backend.generate({ prompt, n: 6, seed: 100, ...params });
    expect(again.sequences.map((s) => s.tokenIds)).toEqual(batch.sequences.map((s) => s.tokenIds));
    // The samples finish at different steps; each must equal its own single run.
    expect(new Set(batch.sequences.map((s) => s.tokenIds.length)).size).toBeGreaterThan(1);
    for (const s of batch.sequences) {
      const single = (await backend.generate({ prompt, n: 1, seed: 100 + s.index, ...params })).sequences[0]!;
      expect(single.tokenIds).toEqual(s.tokenIds);
      single.logprobs.forEach((lp, i) => expect(Math.abs(lp - s.logprobs[i]!)).toBeLessThan(1e-4));
      expect(single.text).toBe(s.text);
    }
    const other = await backend.generate({ prompt, n: 6, seed: 101, ...params });
    expect(other.sequences.map((s) => s.tokenIds)).not.toEqual(batch.sequences.map((s) => s.tokenIds));
  });

  it('takes one thread without spinning on a small host, onnxruntime defaults on a larger one, and the caller overrides either', async () => {
    expect(threadPolicy({}, 2)).toEqual({ threads: 1, spinning: false });
    expect(threadPolicy({}, 4)).toEqual({ threads: 1, spinning: false });
    expect(threadPolicy({}, 16)).toEqual({ threads: undefined, spinning: undefined });
    expect(threadPolicy({ threads: 2 }, 2)).toEqual({ threads: 2, spinning: false });
    expect(threadPolicy({ threads: 2, spinning: true }, 2)).toEqual({ threads: 2, spinning: true });
    // A session opens with the spinning setting and decodes as the default one does.
    const spinning = await OnnxBackend.load(dir, { threads: 2, spinning: true });
    try {
      const request = { prompt, maxTokens: 8, temperature: 0 };
      expect((await spinning.generate(request)).sequences[0]!.tokenIds).toEqual((await backend.generate(request)).sequences[0]!.tokenIds);
    } finally {
      await spinning.dispose();
    }
  });

  it('leaves logprobs out when not asked for, and samples the same tokens', async () => {
    for (const params of [{ temperature: 0 }, { temperature: 0.8, topK: 40, topP: 0.9 }]) {
      const request = { prompt, n: 3, seed: 7, maxTokens: 24, ...params };
      const asked = await backend.generate(request);
      const events: TokenEvent[] = [];
      const plain = await backend.generate({ ...request, logprobs: false }, { onToken: (e) => events.push(e) });
      expect(plain.sequences.map((s) => s.tokenIds)).toEqual(asked.sequences.map((s) => s.tokenIds));
      for (const s of plain.sequences) expect(s.logprobs).toEqual([]);
      expect(events.length).toBeGreaterThan(0);
      expect(events.some((e) => 'logprob' in e)).toBe(false);
      expect(asked.sequences.every((s) => s.logprobs.length === s.tokenIds.length && s.logprobs.every(Number.isFinite))).toBe(true);
    }
  });

  it('batches requests with different prompt lengths without changing their results', async () => {
    const prompts = ['Hi', 'What is the sum of 1 and 2? Explain each step.', 'print(x)'].map((t) => backend.tokenizer.encode(t));
    const params = { maxTokens: 16, temperature: 0, ignoreEos: true };
    const alone: TurnResult[] = [];
    for (const p of prompts) alone.push((await backend.generate({ prompt: p, ...params })).sequences[0]!);
    const together = await Promise.all(prompts.map((p) => backend.generate({ prompt: p, ...params })));
    together.forEach((r, i) => {
      expect(r.sequences[0]!.tokenIds).toEqual(alone[i]!.tokenIds);
      r.sequences[0]!.logprobs.forEach((lp, j) => expect(Math.abs(lp - alone[i]!.logprobs[j]!)).toBeLessThan(1e-4));
    });
  });

  it('cuts exactly at stop strings and stop token sequences', async () => {
    const free = (await backend.generate({ prompt, maxTokens: 40, temperature: 0, ignoreEos: true })).sequences[0]!;
    const detok = backend.tokenizer;
    // A stop string taken from the middle of the free-running text, spanning token boundaries.
    const text = free.text;
    const stop = text.slice(10, 14);
    const at = text.indexOf(stop);
    const cut = (await backend.generate({ prompt, maxTokens: 40, temperature: 0, ignoreEos: true, stop: [stop] })).sequences[0]!;
    expect(cut.text).toBe(text.slice(0, at));
    expect(cut.stop).toEqual({ type: 'stop_string', text: stop });
    expect(cut.finishReason).toBe('stop');
    // The kept tokens are exactly those up to the one that completes the stop string.
    expect(cut.tokenIds).toEqual(free.tokenIds.slice(0, cut.tokenIds.length));
    expect(detok.decode(cut.tokenIds).length).toBeGreaterThanOrEqual(at + stop.length);
    expect(detok.decode(cut.tokenIds.slice(0, -1)).length).toBeLessThan(at + stop.length);
    const kept = (await backend.generate({ prompt, maxTokens: 40, temperature: 0, ignoreEos: true, stop: [stop], includeStopStringInText: true })).sequences[0]!;
    expect(kept.text).toBe(text.slice(0, at + stop.length));

    const sequence = free.tokenIds.slice(5, 8);
    const bySequence = (await backend.generate({ prompt, maxTokens: 40, temperature: 0, ignoreEos: true, stopSequences: [sequence] })).sequences[0]!;
    expect(bySequence.tokenIds).toEqual(free.tokenIds.slice(0, 8));
    expect(bySequence.stop).toEqual({ type: 'stop_sequence', tokenIds: sequence });
  });

  it('streams tokens whose text adds up to the result', async () => {
    const events: { index: number; tokenId: number; text: string }[] = [];
    const result = await backend.generate({ prompt, n: 2, seed: 3, maxTokens: 20, stop: ['a'] }, { onToken: (e) => events.push(e) });
    for (const s of result.sequences) {
      const mine = events.filter((e) => e.index === s.index);
      expect(mine.map((e) => e.tokenId)).toEqual(s.tokenIds);
      expect(mine.map((e) => e.text).join('')).toBe(s.text);
    }
  });
});

describe('continuation', () => {
  it('resumes each sample from its cache after appended tool output, as if recomputed', async () => {
    const group = backend.startGroup({ prompt, n: 3, seed: 9 });
    try {
      const first = await Promise.all(group.sequences.map((s) => s.generate({ maxTokens: 6 + 2 * s.index, temperature: 1, ignoreEos: true })));
      first.forEach((r, i) => expect(r.tokenIds).toHaveLength(6 + 2 * i));
      const tool = (i: number) => backend.tokenizer.encode(`\n\`\`\`output\n${'4'.repeat(i + 1)}\n\`\`\`\n`);
      group.sequences.forEach((s, i) => s.append(tool(i)));
      // Samples resume independently: sample 0 goes first and alone, the others together.
      const second0 = await group.sequences[0]!.generate({ maxTokens: 8, temperature: 0.9, ignoreEos: true });
      const rest = await Promise.all(group.sequences.slice(1).map((s) => s.generate({ maxTokens: 8, temperature: 0.9, ignoreEos: true })));
      const seconds = [second0, ...rest];
      for (const [i, s] of group.sequences.entries()) {
        const expectedIds = [...prompt, ...first[i]!.tokenIds, ...tool(i), ...seconds[i]!.tokenIds];
        expect(s.tokenIds).toEqual(expectedIds);
        const full = await fullLogits(expectedIds);
        const start = expectedIds.length - seconds[i]!.tokenIds.length;
        seconds[i]!.tokenIds.forEach((token, j) => expect(Math.abs(seconds[i]!.logprobs[j]! - logprobAt(full, start - 1 + j, token, 0.9))).toBeLessThan(1e-4));
        first[i]!.tokenIds.forEach((token, j) => expect(Math.abs(first[i]!.logprobs[j]! - logprobAt(full, prompt.length - 1 + j, token, 1))).toBeLessThan(1e-4));
      }
      expect(backend.stats().cacheBytes).toBeGreaterThan(0);
    } finally {
      group.dispose();
    }
    await new Promise((r) => setTimeout(r, 10));
    expect(backend.stats()).toMatchObject({ sequences: 0, active: 0, batchRows: 0, cacheBytes: 0 });
  });

  it('continues greedily to the same tokens as a one-shot run over the whole sequence', async () => {
    const group = backend.startGroup({ prompt });
    try {
      const seq = group.sequences[0]!;
      await seq.generate({ maxTokens: 5, temperature: 0, ignoreEos: true });
      seq.append(backend.tokenizer.encode('```output\n7\n```\n'));
      const resumed = await seq.generate({ maxTokens: 10, temperature: 0, ignoreEos: true });
      const oneShot = await backend.generate({ prompt: seq.tokenIds.slice(0, seq.tokenIds.length - 10), maxTokens: 10, temperature: 0, ignoreEos: true });
      expect(resumed.tokenIds).toEqual(oneShot.sequences[0]!.tokenIds);
    } finally {
      group.dispose();
    }
  });

  it('refuses to append past the context, or while a turn runs', async () => {
    const group = backend.startGroup({ prompt });
    try {
      const seq = group.sequences[0]!;
      expect(() => seq.append(new Array(seq.remaining + 1).fill(1))).toThrow(ContextLengthError);
      const running = seq.generate({ maxTokens: 3, temperature: 0 });
      expect(() => seq.append([1])).toThrow(/while a turn is running/);
      await running;
      expect(() => seq.append([10 ** 6])).toThrow(/outside the vocabulary/);
    } finally {
      group.dispose();
    }
  });
});

describe('bad input', () => {
  it('rejects out-of-range requests with clear errors', async () => {
    const { contextLength, maxN } = backend.info;
    await expect(backend.generate({ prompt: new Array(contextLength).fill(5), maxTokens: 1 })).rejects.toThrow(ContextLengthError);
    await expect(backend.generate({ prompt, n: 0, maxTokens: 1 })).rejects.toThrow(/n must be/);
    await expect(backend.generate({ prompt, n: maxN + 1, maxTokens: 1 })).rejects.toThrow(/n must be/);
    await expect(backend.generate({ prompt, maxTokens: 0 })).rejects.toThrow(/max_tokens/);
    await expect(backend.generate({ prompt, maxTokens: contextLength + 1 })).rejects.toThrow(/max_tokens/);
    await expect(backend.generate({ prompt: [], maxTokens: 1 })).rejects.toThrow(/empty/);
    await expect(backend.generate({ prompt: [1, -2], maxTokens: 1 })).rejects.toThrow(/outside the vocabulary/);
    await expect(backend.generate({ prompt, maxTokens: 1, topLogprobs: 21 })).rejects.toThrow(/top logprobs/);
    // Generation still stops at the context when max_tokens would run past it.
    const long = new Array(contextLength - 4).fill(7);
    const r = await backend.generate({ prompt: long, maxTokens: 100, temperature: 0, ignoreEos: true });
    expect(r.sequences[0]!.tokenIds).toHaveLength(4);
    expect(r.sequences[0]!.finishReason).toBe('length');
  });

  it('aborts on the signal and leaves nothing behind', async () => {
    const controller = new AbortController();
    let seen = 0;
    const running = backend.generate({ prompt, n: 4, maxTokens: 200, ignoreEos: true }, {
      signal: controller.signal,
      onToken: () => {
        if (++seen === 10) controller.abort(new Error('client went away'));
      },
    });
    await expect(running).rejects.toThrow('client went away');
    await new Promise((r) => setTimeout(r, 20));
    expect(backend.stats()).toMatchObject({ sequences: 0, active: 0, batchRows: 0, cacheBytes: 0 });
    // The engine keeps serving afterwards.
    // (ignoreEos: unseeded sampling from the random fixture could otherwise end early on EOS.)
    expect((await backend.generate({ prompt, maxTokens: 3, ignoreEos: true })).sequences[0]!.tokenIds).toHaveLength(3);
  });

  describe('loading', () => {
    let scratch: string;
    beforeAll(async () => {
      scratch = await mkdtemp(join(tmpdir(), 'cir-bad-model-'));
    });
    afterAll(async () => {
      await rm(scratch, { recursive: true, force: true });
    });

    /** A copy of the fixture's side files with `model` as model.onnx. */
    async function modelDir(name: string, model: Uint8Array | undefined): Promise<string> {
      const d = join(scratch, name);
      await mkdir(d, { recursive: true });
      for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) await copyFile(join(dir, f), join(d, f));
      if (model) await writeFile(join(d, 'model.onnx'), model);
      return d;
    }

    it('names what is wrong, and leaks no session', async () => {
      const before = openDecoderSessions();
      await expect(OnnxBackend.load(join(scratch, 'nope'))).rejects.toThrow(/model directory not found: .*nope/);
      await expect(OnnxBackend.load(await modelDir('no-model', undefined))).rejects.toThrow(/no ONNX model in .*no-model \(looked for model.onnx and onnx\/model.onnx\)/);
      await expect(OnnxBackend.load(await modelDir('garbage', new TextEncoder().encode('not a model')))).rejects.toThrow(/cannot load ONNX model .*garbage.model\.onnx/);
      const identity = encodeModel({
        irVersion: 8,
        opsetImports: [{ domain: '', version: 17 }],
        producerName: 'test',
        producerVersion: '0',
        graph: {
          name: 'identity',
          nodes: [{ opType: 'Identity', name: 'id', inputs: ['x'], outputs: ['y'] }],
          initializers: [],
          inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: [1] }],
          outputs: [{ name: 'y', elemType: DataType.FLOAT, shape: [1] }],
        },
      });
      await expect(OnnxBackend.load(await modelDir('layout', identity))).rejects.toThrow(/not a decoder in the expected layout: missing input 'input_ids' \(inputs: x; outputs: y\)/);
      const noConfig = await modelDir('no-config', identity);
      await rm(join(noConfig, 'config.json'));
      await expect(OnnxBackend.load(noConfig)).rejects.toThrow(/config.json not found/);
      await expect(OnnxBackend.load(dir, { contextLength: 10_000 })).rejects.toThrow(/contextLength must be/);
      expect(openDecoderSessions()).toBe(before);
    });

    it('releases the session on dispose and refuses work afterwards', async () => {
      const before = openDecoderSessions();
      const b = await OnnxBackend.load(dir);
      expect(openDecoderSessions()).toBe(before + 1);
      const pending = expect(b.generate({ prompt, maxTokens: 200, ignoreEos: true })).rejects.toThrow(/disposed/);
      await b.dispose();
      await pending;
      expect(openDecoderSessions()).toBe(before);
      await expect(b.generate({ prompt, maxTokens: 1 })).rejects.toThrow(/disposed/);
    });
  });
});
