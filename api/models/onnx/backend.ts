import { readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import { checkN, generateOnce, promptTokenIds } from '../generate.ts';
import { loadTokenizer, type HfTokenizerFiles } from '../tokenizer.ts';
import type { GenerateRequest, GenerateResult, GroupRequest, ModelBackend, ModelInfo, RunOptions, SequenceGroup } from '../types.ts';
import { DecoderSession } from './decoder-session.ts';
import { GenerationEngine, type EngineStats } from './engine.ts';

/**
 * The in-process backend: a decoder exported in the HF optimum layout (`model.onnx` or
 * `onnx/model.onnx`, with `config.json`, `tokenizer.json`, `tokenizer_config.json` beside it),
 * run on onnxruntime-node's CPU provider by our own generation engine.
 */

export interface OnnxBackendOptions {
  /** Model name in ModelInfo and the API (default: the directory's name). */
  id?: string;
  /** Tokens per sequence; default and maximum: config.json's max_position_embeddings. */
  contextLength?: number;
  /** Sequences decoded together (default 32). */
  maxBatchSize?: number;
  /** Tokens per prefill forward (default: what keeps a chunk's logits near 64 MiB, 16 to 2048). */
  prefillChunk?: number;
  /** Largest n per request (default 64). */
  maxN?: number;
  /** onnxruntime intra-op threads. Default: one on a host of up to 4 cores, else onnxruntime's choice (see threadPolicy). */
  threads?: number;
  /** Whether idle onnxruntime threads spin. Default: not on a host of up to 4 cores (see threadPolicy). */
  spinning?: boolean;
}

const tokenIds = z.union([z.number().int(), z.array(z.number().int())]);

/** The config.json fields the runtime reads (the file has many more). */
const HfConfig = z.looseObject({
  vocab_size: z.number().int().positive().optional(),
  max_position_embeddings: z.number().int().positive(),
  num_attention_heads: z.number().int().positive().optional(),
  num_key_value_heads: z.number().int().positive().optional(),
  hidden_size: z.number().int().positive().optional(),
  head_dim: z.number().int().positive().optional(),
  eos_token_id: tokenIds.nullish(),
});

const GenerationConfig = z.looseObject({ eos_token_id: tokenIds.nullish() });

const asList = (v: number | number[] | null | undefined): number[] => (v === null || v === undefined ? [] : Array.isArray(v) ? v : [v]);

async function readJsonFile<T>(path: string, schema: z.ZodType<T>, what: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new Error(`${what} not found: ${path}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`${path}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

async function findModelFile(dir: string): Promise<string> {
  for (const candidate of ['model.onnx', join('onnx', 'model.onnx')]) {
    const path = join(dir, candidate);
    if ((await stat(path).catch(() => undefined))?.isFile()) return path;
  }
  throw new Error(`no ONNX model in ${dir} (looked for model.onnx and onnx/model.onnx)`);
}

export class OnnxBackend implements ModelBackend {
  private disposed = false;

  private constructor(
    readonly info: ModelInfo,
    readonly tokenizer: HfTokenizerFiles,
    private readonly session: DecoderSession,
    private readonly engine: GenerationEngine,
  ) {}

  static async load(dir: string, options: OnnxBackendOptions = {}): Promise<OnnxBackend> {
    const root = resolve(dir);
    if (!(await stat(root).catch(() => undefined))?.isDirectory()) throw new Error(`model directory not found: ${root}`);
    const config = await readJsonFile(join(root, 'config.json'), HfConfig, 'config.json');
    const modelFile = await findModelFile(root);
    const tokenizer = await loadTokenizer(root);
    const generation = await readJsonFile(join(root, 'generation_config.json'), GenerationConfig, 'generation_config.json').catch(() => undefined);

    const contextLength = options.contextLength ?? config.max_position_embeddings;
    if (!Number.isInteger(contextLength) || contextLength < 2 || contextLength > config.max_position_embeddings) {
      throw new Error(`contextLength must be an integer in [2, ${config.max_position_embeddings}] (config.json max_position_embeddings), got ${contextLength}`);
    }
    const session = await DecoderSession.open(
      modelFile,
      {
        vocabSize: config.vocab_size,
        numKvHeads: config.num_key_value_heads ?? config.num_attention_heads,
        headDim: config.head_dim ?? (config.hidden_size && config.num_attention_heads ? config.hidden_size / config.num_attention_heads : undefined),
      },
      { threads: options.threads, spinning: options.spinning },
    );
    try {
      const { vocabSize } = session.layout;
      const eos = new Set([...asList(generation?.eos_token_id), ...asList(config.eos_token_id)]);
      if (tokenizer.eosTokenId !== undefined) eos.add(tokenizer.eosTokenId);
      if (tokenizer.vocabSize > vocabSize) {
        throw new Error(`tokenizer.json has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${vocabSize}: tokenizer and model do not match`);
      }
      const prefillChunk = options.prefillChunk ?? Math.min(2048, Math.max(16, Math.floor(2 ** 24 / vocabSize)));
      const maxBatchSize = options.maxBatchSize ?? 32;
      const maxN = options.maxN ?? 64;
      for (const [name, value] of Object.entries({ prefillChunk, maxBatchSize, maxN })) {
        if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${value}`);
      }
      const info: ModelInfo = { id: options.id ?? basename(root), backend: 'onnx', contextLength, eosTokenIds: [...eos], logprobs: 'sampling', maxN };
      const engine = new GenerationEngine(session, tokenizer, { contextLength, maxBatchSize, prefillChunk, eosTokenIds: eos });
      return new OnnxBackend(info, tokenizer, session, engine);
    } catch (error) {
      await session.release();
      throw error;
    }
  }

  generate(request: GenerateRequest, options: RunOptions = {}): Promise<GenerateResult> {
    return generateOnce((r) => this.openGroup(r, false), request, options);
  }

  startGroup(request: GroupRequest): SequenceGroup {
    return this.openGroup(request, true);
  }

  /** Engine bookkeeping, for metrics and leak checks. */
  stats(): EngineStats {
    return this.engine.stats();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.engine.dispose();
    await this.session.release();
  }

  private openGroup(request: GroupRequest, retain: boolean): SequenceGroup {
    if (this.disposed) throw new Error('the model has been disposed');
    const n = request.n ?? 1;
    checkN(n, this.info.maxN);
    if (request.seed !== undefined && !Number.isSafeInteger(request.seed)) throw new RangeError(`seed must be an integer, got ${request.seed}`);
    return this.engine.createGroup(promptTokenIds(request.prompt, this.tokenizer), n, request.seed, retain);
  }
}
