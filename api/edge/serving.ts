import { sha256Hex } from '../../core/bytes.ts';
import { chatTemplateFrom, type ChatTemplateSource } from '../../core/hf/chat-template.ts';
import { CheckpointReadError, checkpointKey, readLatestPointer, readPointedManifest } from '../../core/checkpoints/layout.ts';
import type { CheckpointManifest } from '../../core/schemas/checkpoint.ts';
import type { ObjectStore } from '../../core/storage/object-store.ts';
import { ServedSlot } from '../checkpoints/slot.ts';
import { CheckpointRefusals, POINTER_REFUSAL } from '../checkpoints/refusals.ts';
import { SwapHistory } from '../checkpoints/swaps.ts';
import type { CheckpointControl, CheckpointWatchStatus, CheckResult } from '../checkpoints/status.ts';
import { ApiError } from '../errors.ts';
import { tokenizerFromFiles, type HfTokenizerFiles, type TokenizerConfig } from '../models/hf-tokenizer.ts';
import { OpenAIBackend, type OpenAIServerOptions } from '../models/openai/backend.ts';
import { servedCheckpoint } from '../models/served.ts';
import { MODEL_RETRY_AFTER_S } from '../routes/completions.ts';

/**
 * What a Worker serves: the OpenAI-compatible backend (token-in/token-out against CIR_MODEL_URL, e.g.
 * vLLM) with a tokenizer the Worker can read without a disk. Either the bundled tokenizer of the
 * embedded model (`static`), or the latest checkpoint in R2: its `latest` pointer is read at most every
 * pollMs per isolate (a Worker has no background timers: requests trigger the look), its manifest
 * checked against the pointer's sha256 and its tokenizer files against the manifest's, and its version
 * and tool budget served with the model server's weights. The model server must be serving that
 * checkpoint's weights under the model name (the trainer job restarts or reloads vLLM after publishing).
 *
 * Nothing here blocks a request on a dead model server for long: a failed connection is remembered and
 * answered as 503 with Retry-After until the next try is due.
 */

/** Tokenizer files read from a checkpoint when its manifest lists them (tokenizer.json is required). */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja', 'chat_template.json', 'config.json'] as const;
type TokenizerFileName = (typeof TOKENIZER_FILES)[number];

/** How soon a failed connection to the model server is tried again (requests meanwhile get the 503 at once). */
const RECONNECT_MS = 2_000;
/** Longest a request waits for a first connection (a server that accepts and never answers must not hold /healthz). */
const CONNECT_WAIT_MS = 5_000;

export interface TokenizerSource {
  tokenizer: HfTokenizerFiles;
  /** config.json's max_position_embeddings, if known. */
  maxPositionEmbeddings?: number;
}

export interface EdgeServingOptions {
  /** The model server and the model name it serves. */
  server: OpenAIServerOptions;
  /** The tokenizer served without checkpoints (the embedded model's, bundled). */
  staticTokenizer: () => TokenizerSource;
  /** With checkpoints: the store (the R2 binding CHECKPOINTS), the key prefix and how often `latest` may be read. */
  checkpoints?: { store: ObjectStore; prefix: string; pollMs: number };
  /** Longest a request waits for the first connection or checkpoint; the look goes on in the background. Default 5000. */
  connectWaitMs?: number;
  /** Injected by tests; Date.now otherwise. */
  now?: () => number;
  log?: (message: string) => void;
}

export class EdgeServing implements CheckpointControl {
  readonly slot: ServedSlot;
  private readonly now: () => number;
  private running: Promise<CheckResult> | null = null;
  private lastLookAt = -Infinity;
  private lastCheckAt: string | null = null;
  private lastError: string | null = null;
  private serving: string | null = null;
  private loading: string | null = null;
  private readonly swappedIn = new SwapHistory();
  private readonly refusals: CheckpointRefusals;

  constructor(private readonly options: EdgeServingOptions) {
    this.slot = new ServedSlot(undefined, (message, error) => options.log?.(`${message}: ${(error as Error)?.message ?? ''}`));
    this.now = options.now ?? Date.now;
    this.refusals = new CheckpointRefusals({ now: this.now, log: options.log });
  }

  /**
   * Called at the start of every request. Nothing served yet: connects (or looks at `latest`) now, if a
   * try is due, and the request waits for it, up to connectWaitMs. Serving: looks at `latest` when pollMs
   * have passed, in the background (`waitUntil`), so the request goes on with the model it found.
   */
  async beforeRequest(waitUntil: (work: Promise<unknown>) => void): Promise<void> {
    const since = this.now() - this.lastLookAt;
    if (!this.slot.current()) {
      if (!this.running && since < RECONNECT_MS) return;
      const look = this.check({ force: false });
      waitUntil(look);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const waited = new Promise((resolve) => (timer = setTimeout(resolve, this.options.connectWaitMs ?? CONNECT_WAIT_MS)));
      await Promise.race([look, waited]).finally(() => clearTimeout(timer));
      return;
    }
    const pollMs = this.options.checkpoints?.pollMs;
    if (pollMs !== undefined && since >= pollMs && !this.running) waitUntil(this.check({ force: false }));
  }

  /** The 503 of the model routes while nothing is served: why, and when to come back. */
  noModel(): ApiError {
    const where = this.options.checkpoints ? `checkpoints from ${this.options.checkpoints.prefix}/ in the R2 bucket bound as CHECKPOINTS` : 'the bundled tokenizer of the embedded model';
    const why =
      this.refusals.last()?.reason ??
      this.lastError ??
      (this.running ? 'connecting' : this.options.checkpoints ? `nothing is published under ${this.options.checkpoints.prefix}/ yet` : 'not connected yet');
    return new ApiError(503, 'overloaded', `no model is served yet (model server ${this.options.server.baseUrl}, ${where}): ${why}`, { 'Retry-After': MODEL_RETRY_AFTER_S });
  }

  /** One look (shared by concurrent callers). `force` (POST /v1/checkpoints/check) also retries a refused pointer. */
  check({ force = true }: { force?: boolean } = {}): Promise<CheckResult> {
    this.running ??= this.look(force).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  status(): CheckpointWatchStatus {
    return {
      prefix: this.options.checkpoints?.prefix ?? '(static)',
      poll_ms: this.options.checkpoints?.pollMs ?? 0,
      serving: this.serving,
      loading: this.loading,
      last_check_at: this.lastCheckAt,
      last_error: this.lastError,
      refused: this.refusals.list(),
      swaps: this.swappedIn.count,
      swapped_in: this.swappedIn.list(),
      draining: this.slot.drainingCount,
      checking_since: this.running ? this.lastCheckAt : null,
      note: null,
    };
  }

  private async look(force: boolean): Promise<CheckResult> {
    this.lastLookAt = this.now();
    this.lastCheckAt = new Date(this.lastLookAt).toISOString();
    const checkpoints = this.options.checkpoints;
    if (!checkpoints) {
      if (this.slot.current()) return { outcome: 'unchanged' };
      return this.install('static', this.options.staticTokenizer(), undefined);
    }
    const { store, prefix } = checkpoints;
    try {
      const pointer = await readLatestPointer(store, prefix);
      const settled = this.refusals.afterPointerRead(pointer, this.serving, force);
      if (settled || pointer === null) {
        this.lastError = null;
        return settled ?? { outcome: 'empty' };
      }
      this.loading = pointer.version;
      try {
        const { manifest } = await readPointedManifest(store, prefix, pointer);
        const source = await readCheckpointTokenizer(store, prefix, manifest);
        const result = await this.install(manifest.version, source, manifest);
        if (result.outcome === 'swapped') this.refusals.accepted(pointer);
        return result;
      } catch (error) {
        if (!(error instanceof CheckpointReadError) || error.transient) throw error;
        this.refusals.refusePointer(pointer, error.message, this.serving);
        return { outcome: 'refused', version: pointer.version, reason: error.message };
      } finally {
        this.loading = null;
      }
    } catch (error) {
      if (error instanceof CheckpointReadError && error.kind === 'pointer') {
        this.refusals.refuse(POINTER_REFUSAL, error.message, this.serving);
        return { outcome: 'refused', version: POINTER_REFUSAL, reason: error.message };
      }
      return this.failed(`checkpoint store: ${(error as Error).message}`);
    }
  }

  /** Connects to the model server with this tokenizer and makes it the served model; a server that cannot be reached is a transient error. */
  private async install(version: string, source: TokenizerSource, manifest: CheckpointManifest | undefined): Promise<CheckResult> {
    const started = this.now();
    let backend: OpenAIBackend;
    try {
      backend = await OpenAIBackend.connect({ ...this.options.server, ...source });
    } catch (error) {
      return this.failed(`model server ${this.options.server.baseUrl}: ${(error as Error).message}`);
    }
    const previous = this.serving;
    this.slot.install({ backend, checkpoint: manifest ? servedCheckpoint(manifest) : { version } });
    this.serving = version;
    this.lastError = null;
    if (manifest) {
      this.swappedIn.record(version);
      this.options.log?.(`checkpoint ${version} (step ${manifest.step}, tool budget ${manifest.tool_budget.limit}) now serving, replacing ${previous ?? 'nothing'}`);
    }
    return { outcome: 'swapped', version, ms: this.now() - started };
  }

  private failed(reason: string): CheckResult {
    if (this.lastError !== reason) this.options.log?.(`${reason} (will retry)`);
    this.lastError = reason;
    return { outcome: 'error', reason };
  }
}

/** The checkpoint's tokenizer files from the store, each verified against the manifest's sha256. */
export async function readCheckpointTokenizer(store: ObjectStore, prefix: string, manifest: CheckpointManifest): Promise<TokenizerSource> {
  const texts: Partial<Record<TokenizerFileName, string>> = {};
  for (const name of TOKENIZER_FILES) {
    const expected = manifest.files[name];
    if (expected === undefined) continue;
    const key = checkpointKey(prefix, manifest.version, name);
    let bytes: Uint8Array | null;
    try {
      bytes = await store.get(key);
    } catch (error) {
      throw new CheckpointReadError('storage', `store error reading ${key}: ${(error as Error).message}`);
    }
    if (bytes === null) throw new CheckpointReadError('missing_file', `checkpoint ${manifest.version}: file ${name} is missing from the store`);
    const actual = await sha256Hex(bytes);
    if (actual !== expected) throw new CheckpointReadError('checksum', `checkpoint ${manifest.version}: ${name} has sha256 ${actual}, its manifest says ${expected}`);
    texts[name] = new TextDecoder().decode(bytes);
  }
  const parse = (name: TokenizerFileName): unknown => {
    try {
      return JSON.parse(texts[name]!);
    } catch {
      throw new CheckpointReadError('manifest', `checkpoint ${manifest.version}: ${name} is not JSON`);
    }
  };
  if (texts['tokenizer.json'] === undefined) throw new CheckpointReadError('manifest', `checkpoint ${manifest.version} has no tokenizer.json: the Worker cannot tokenize for it`);
  const config = (texts['tokenizer_config.json'] === undefined ? {} : parse('tokenizer_config.json')) as TokenizerConfig;
  const modelConfig = (texts['config.json'] === undefined ? {} : parse('config.json')) as { max_position_embeddings?: unknown };
  try {
    const chatTemplate = chatTemplateFrom({ jinja: texts['chat_template.jinja'], json: texts['chat_template.json'], fromConfig: config.chat_template as ChatTemplateSource | undefined });
    const tokenizer = tokenizerFromFiles(parse('tokenizer.json'), { ...config, chat_template: chatTemplate }, `checkpoint ${manifest.version}`);
    const max = modelConfig.max_position_embeddings;
    return { tokenizer, ...(typeof max === 'number' && { maxPositionEmbeddings: max }) };
  } catch (error) {
    if (error instanceof CheckpointReadError) throw error;
    throw new CheckpointReadError('manifest', `checkpoint ${manifest.version}: ${(error as Error).message}`);
  }
}
