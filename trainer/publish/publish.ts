import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../../core/bytes.ts';
import { defaultChatTemplate, readChatTemplate, type ChatTemplateSource } from '../../core/hf/files.ts';
import { putFileInStore, sha256File } from '../../core/storage/files.ts';
import {
  assertCheckpointVersion,
  CheckpointReadError,
  checkpointKey,
  LATEST_POINTER_SCHEMA_VERSION,
  latestKey,
  manifestKey,
  MANIFEST_FILE,
  readLatestPointer,
  type LatestPointer,
} from '../../core/checkpoints/layout.ts';
import { CHECKPOINT_SCHEMA_VERSION, parseCheckpointManifest, type CheckpointManifest } from '../../core/schemas/checkpoint.ts';
import type { ObjectStore } from '../../core/storage/object-store.ts';
import { budgetAt, type ToolBudgetSchedule } from '../run/budget.ts';

/**
 * Publishes a model directory as a checkpoint (layout: core/checkpoints/layout.ts): every file first
 * (each put verified against its SHA-256), the manifest next, the `latest` pointer last. Whatever
 * fails part-way leaves `latest` naming the previous checkpoint; the stray files of the failed attempt
 * are harmless (nothing points at them) and a retry with the same inputs overwrites them with the same
 * bytes, so republishing after a crash is idempotent.
 */

export interface PublishOptions {
  store: ObjectStore;
  /** Key prefix of the checkpoint area, e.g. `checkpoints`. */
  prefix: string;
  /** HF-optimum ONNX layout: model.onnx, config.json, tokenizer.json, tokenizer_config.json (with its chat template). */
  modelDir: string;
  version: string;
  parent: string | null;
  step: number;
  schedule: ToolBudgetSchedule;
  /** Per-call tool timeout the API applies while serving this checkpoint; absent: the server's. */
  toolTimeoutMs?: number;
  metrics?: Record<string, number>;
  /** Fixed by callers that may retry, so the retried manifest is byte-identical. Default now. */
  createdAt?: string;
  /**
   * The version `latest` must still name (null: nothing published yet) for this publish to go ahead:
   * catches a second trainer publishing into the same place. Undefined: no check.
   */
  expectLatest?: string | null;
  /**
   * Replace a damaged `latest` pointer (not JSON, or not a pointer) instead of refusing: the damaged
   * bytes are kept beside it as `latest.damaged-<time>`. Without it such a pointer stops the publish with
   * a message saying so. A pointer that reads fine is never overwritten by this.
   */
  repairLatest?: boolean;
  /** Progress per uploaded file. */
  onFile?: (path: string, index: number, total: number) => void;
}

export interface Published {
  manifest: CheckpointManifest;
  pointer: LatestPointer;
  /** Keys written, pointer last. */
  keys: string[];
}

/** `latest` moved to a version this publisher did not expect: another trainer is publishing here. */
export class PublishConflictError extends Error {
  constructor(
    readonly expected: string | null,
    readonly found: string | null,
  ) {
    super(
      `refusing to publish: ${found === null ? 'nothing' : `checkpoint ${found}`} is the latest, but this trainer expected ` +
        `${expected === null ? 'nothing' : expected} (another trainer is publishing to the same place?)`,
    );
    this.name = 'PublishConflictError';
  }
}

/** A publish that stopped part-way (storage down): says how far it got and that `latest` was not moved. */
export class PublishError extends Error {
  constructor(message: string, override readonly cause: unknown) {
    super(message);
    this.name = 'PublishError';
  }
}

/** `latest` is damaged and the publisher did not ask to replace it. */
export class DamagedLatestError extends Error {
  constructor(detail: string) {
    super(`${detail}; the store's latest pointer is damaged, so servers keep what they serve. Publish again with --repair-latest to replace it (the damaged bytes are kept beside it)`);
    this.name = 'DamagedLatestError';
  }
}

/** The current pointer; a damaged one is refused, or (repair) set aside and treated as none. */
async function readLatestForPublish(store: ObjectStore, prefix: string, repair: boolean): Promise<{ previous: LatestPointer | null; damaged: boolean }> {
  try {
    return { previous: await readLatestPointer(store, prefix), damaged: false };
  } catch (error) {
    if (!(error instanceof CheckpointReadError) || error.kind !== 'pointer') throw error;
    if (!repair) throw new DamagedLatestError(error.message);
    const bytes = (await store.get(latestKey(prefix)))!;
    await store.put(`${latestKey(prefix)}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`, bytes);
    return { previous: null, damaged: true };
  }
}

export async function publishCheckpoint(options: PublishOptions): Promise<Published> {
  const { store, prefix, version } = options;
  assertCheckpointVersion(version);
  const files = await hashModelDir(options.modelDir);
  const manifest = parseCheckpointManifest({
    schema_version: CHECKPOINT_SCHEMA_VERSION,
    version,
    parent: options.parent,
    created_at: options.createdAt ?? new Date().toISOString(),
    step: options.step,
    files: Object.fromEntries(files.map((f) => [f.path, f.sha256])),
    tool_budget: { limit: budgetAt(options.schedule, options.step), schedule: options.schedule },
    ...(options.toolTimeoutMs !== undefined && { tool_timeout_ms: options.toolTimeoutMs }),
    metrics: options.metrics ?? {},
    tokenizer: 'tokenizer.json',
    chat_template: await readModelChatTemplate(options.modelDir),
  });
  if (!('tokenizer.json' in manifest.files)) throw new Error(`${options.modelDir} has no tokenizer.json; a checkpoint needs its tokenizer`);
  const manifestBytes = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
  const manifestSha = await sha256Hex(manifestBytes);

  const { previous, damaged } = await readLatestForPublish(store, prefix, options.repairLatest ?? false);
  if (!damaged && options.expectLatest !== undefined && previous?.version !== version && (previous?.version ?? null) !== options.expectLatest) {
    throw new PublishConflictError(options.expectLatest, previous?.version ?? null);
  }
  const existing = await store.get(manifestKey(prefix, version));
  if (existing !== null && (await sha256Hex(existing)) !== manifestSha) {
    throw new Error(`checkpoint version ${version} is already published under ${prefix}/ with different content; choose another version`);
  }

  const keys: string[] = [];
  const stage = (what: string, key: string) => async (run: () => Promise<void>) => {
    try {
      await run();
      keys.push(key);
    } catch (error) {
      throw new PublishError(
        `publishing ${version} failed while writing ${what} (${key}): ${(error as Error).message}; ` +
          `${latestKey(prefix)} still names ${previous?.version ?? 'nothing'}, so nothing was published. Retry to resume.`,
        error,
      );
    }
  };
  for (const [i, file] of files.entries()) {
    const key = checkpointKey(prefix, version, file.path);
    await stage(`file ${i + 1} of ${files.length}`, key)(() => putFileInStore(store, key, join(options.modelDir, file.path), { sha256: file.sha256 }));
    options.onFile?.(file.path, i + 1, files.length);
  }
  const mKey = manifestKey(prefix, version);
  await stage('the manifest', mKey)(() => store.put(mKey, manifestBytes, { sha256: manifestSha, contentType: 'application/json' }));
  const pointer: LatestPointer = {
    schema_version: LATEST_POINTER_SCHEMA_VERSION,
    version,
    manifest: `${version}/${MANIFEST_FILE}`,
    sha256: manifestSha,
    published_at: new Date().toISOString(),
  };
  const pKey = latestKey(prefix);
  await stage('the latest pointer', pKey)(() =>
    store.put(pKey, new TextEncoder().encode(`${JSON.stringify(pointer)}\n`), { contentType: 'application/json' }),
  );
  return { manifest, pointer, keys };
}

interface HashedFile {
  path: string;
  sha256: string;
}

/** Every regular file under `dir` (recursively, '/'-separated relative paths) with its SHA-256, skipping dotfiles such as cache markers. */
async function hashModelDir(dir: string): Promise<HashedFile[]> {
  const out: HashedFile[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(dir, rel), { withFileTypes: true });
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith('.')) continue;
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (path === MANIFEST_FILE) throw new Error(`${dir} contains ${MANIFEST_FILE}, a name the checkpoint layout reserves`);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) out.push({ path, sha256: await sha256File(join(dir, path)) });
    }
  };
  await walk('');
  // The ONNX model for in-process servers, or the Hugging Face weights for vLLM and transformers (or both).
  const paths = new Set(out.map((f) => f.path));
  if (!['model.onnx', 'onnx/model.onnx', 'model.safetensors', 'model.safetensors.index.json'].some((p) => paths.has(p))) {
    throw new Error(`${dir} has neither model.onnx nor model.safetensors: not a model directory`);
  }
  return out;
}

async function readModelChatTemplate(dir: string): Promise<string> {
  let config: { chat_template?: ChatTemplateSource };
  try {
    config = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8'));
  } catch (error) {
    throw new Error(`${dir}/tokenizer_config.json: ${(error as Error).message}`);
  }
  const chosen = defaultChatTemplate(await readChatTemplate(dir, config.chat_template));
  if (typeof chosen !== 'string' || chosen === '') throw new Error(`${dir} has no chat template (chat_template.jinja, or chat_template in tokenizer_config.json); a checkpoint needs one`);
  return chosen;
}
