import { watch, type FSWatcher } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointEnvSchema } from './env.ts';
import { parseEnv } from '../../core/env.ts';
import { createStorageFromEnv } from '../../core/storage/from-env.ts';
import { FsObjectStore } from '../../core/storage/fs.ts';
import type { CheckpointManifest } from '../../core/schemas/checkpoint.ts';
import type { ServedModel } from '../models/served.ts';
import type { ModelBackend } from '../models/types.ts';
import { ServedSlot } from './slot.ts';
import { CheckpointWatcher } from './watcher.ts';

export { CheckpointEnvSchema };

export interface CheckpointServing {
  slot: ServedSlot;
  watcher: CheckpointWatcher;
  close(): Promise<void>;
}

export interface CheckpointServingOptions {
  dataDir: string;
  /** Served until the first checkpoint loads (e.g. CIR_MODEL_DIR), if any. */
  initial?: ServedModel;
  load: (dir: string, manifest: CheckpointManifest) => Promise<ModelBackend>;
  log: (message: string, error?: unknown) => void;
}

/**
 * Starts serving from the checkpoint area named by CIR_CHECKPOINTS (undefined when it is unset): loads
 * the latest checkpoint before returning (if one is published and valid), then keeps watching.
 */
export async function startCheckpointServing(
  env: Record<string, string | undefined>,
  options: CheckpointServingOptions,
): Promise<CheckpointServing | undefined> {
  const config = parseEnv(CheckpointEnvSchema, env);
  if (config.CIR_CHECKPOINTS === undefined) return undefined;
  const prefix = config.CIR_CHECKPOINTS;
  const store = createStorageFromEnv(env, { dataDir: options.dataDir });
  const cacheDir = config.CIR_CHECKPOINT_CACHE_DIR ?? join(options.dataDir, 'checkpoint-cache');
  await mkdir(cacheDir, { recursive: true });
  const slot = new ServedSlot(options.initial, options.log);
  const watcher = new CheckpointWatcher({
    store,
    prefix,
    cacheDir,
    pollMs: config.CIR_CHECKPOINT_POLL_MS,
    slot,
    load: options.load,
    log: (message) => options.log(message),
  });
  const first = await watcher.check();
  if (first.outcome === 'refused' || first.outcome === 'error') {
    // `latest` cannot be used now: the last checkpoint this machine served beats the base weights or nothing.
    const why = `the store's latest could not be used at start-up (${first.reason})`;
    if (!(await watcher.serveLastGood(why))) {
      watcher.setNote(`${why}; ${options.initial ? 'serving the initial model' : 'no model to serve until a checkpoint loads'}`);
    }
  } else if (first.outcome === 'empty') {
    watcher.setNote(`nothing is published under ${prefix}/ yet; ${options.initial ? 'serving the initial model until a checkpoint is' : 'no model to serve until a checkpoint is'}`);
  }
  watcher.start();
  const notifier = config.CIR_CHECKPOINT_NOTIFY === 'fs' && store instanceof FsObjectStore ? await watchFsPointer(join(store.root, prefix), () => watcher.notify()) : null;
  return {
    slot,
    watcher,
    async close() {
      notifier?.close();
      await watcher.stop();
      await slot.dispose();
      await store.close?.();
    },
  };
}

/** With fs storage the pointer is a file: watch its directory so a publish is noticed without waiting for the poll. */
async function watchFsPointer(dir: string, onChange: () => void): Promise<FSWatcher | null> {
  try {
    await mkdir(dir, { recursive: true });
    const watcher = watch(dir, (_event, name) => {
      if (name === 'latest') onChange();
    });
    // A watcher that breaks (directory removed) leaves polling in charge.
    watcher.on('error', () => watcher.close());
    watcher.unref();
    return watcher;
  } catch {
    return null;
  }
}
