import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { downloadVerifiedCheckpoint } from '../../core/checkpoints/download.ts';
import { assertCheckpointVersion, manifestKey, MANIFEST_FILE, readLatestPointer, readPointedManifest } from '../../core/checkpoints/layout.ts';
import { isFile } from '../../core/hf/files.ts';
import { parseCheckpointManifest, type CheckpointManifest } from '../../core/schemas/checkpoint.ts';
import { createStorageFromEnv } from '../../core/storage/from-env.ts';
import type { ObjectStore } from '../../core/storage/object-store.ts';
import { trainerEnv } from '../../trainer/run/env.ts';
import { UsageError, type CommandIO } from '../io.ts';

export const pullUsage = `usage: cir pull --out DIR [--version V] [--prefix P] [--watch [--poll-s S] [--then CMD]]
Downloads a published checkpoint (the latest, or --version V) into DIR/<version>, every file checked against
the sha256 in its manifest, and points DIR/current at it (a symlink, switched atomically). A checkpoint is a
whole Hugging Face model directory (config.json, model.safetensors, tokenizer files) beside model.onnx, so
this is how a vLLM deployment follows training: vllm serve DIR/current. Storage comes from CIR_STORAGE and
CIR_S3_* (as for cir train and cir publish).
  --prefix   key prefix of the checkpoint area (default $CIR_CHECKPOINTS, else "checkpoints")
  --watch    keep following the latest checkpoint until SIGINT/SIGTERM; after each one is pulled, run --then
  --poll-s   seconds between looks at the latest pointer (default 10)
  --then     shell command run after a new checkpoint is in place, e.g. 'systemctl restart vllm'; it gets
             CIR_CHECKPOINT_DIR and CIR_CHECKPOINT_VERSION in its environment
Older versions are removed from DIR once a newer one is current, except the one just before it.
Prints one JSON line per checkpoint pulled.`;

interface Pulled {
  version: string;
  step: number;
  dir: string;
  /** false when the version was already in DIR. */
  downloaded: boolean;
  tool_budget: number;
}

async function readManifest(store: ObjectStore, prefix: string, version: string | undefined): Promise<CheckpointManifest> {
  if (version === undefined) {
    const pointer = await readLatestPointer(store, prefix);
    if (pointer === null) throw new Error(`nothing is published under ${prefix}/ yet`);
    return (await readPointedManifest(store, prefix, pointer)).manifest;
  }
  assertCheckpointVersion(version);
  const bytes = await store.get(manifestKey(prefix, version));
  if (bytes === null) throw new Error(`no checkpoint ${version} under ${prefix}/ (no ${manifestKey(prefix, version)})`);
  return parseCheckpointManifest(new TextDecoder().decode(bytes));
}

/** Downloads (unless already there) and makes `current` point at the version; prunes all but it and the previous one. */
async function pull(store: ObjectStore, prefix: string, version: string | undefined, out: string): Promise<Pulled> {
  const manifest = await readManifest(store, prefix, version);
  const dir = join(out, manifest.version);
  await mkdir(out, { recursive: true });
  const downloaded = !(await isFile(join(dir, MANIFEST_FILE)));
  if (downloaded) {
    const staging = join(out, `.${manifest.version}.partial-${randomUUID()}`);
    try {
      await downloadVerifiedCheckpoint(store, prefix, manifest, staging);
      // Written last: its presence marks a complete download.
      await writeFile(join(staging, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
      await rm(dir, { recursive: true, force: true });
      await rename(staging, dir);
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
  }
  const current = join(out, 'current');
  const previous = await readFile(join(current, MANIFEST_FILE), 'utf8').then((text) => (JSON.parse(text) as CheckpointManifest).version).catch(() => null);
  const link = join(out, `.current-${randomUUID()}`);
  await symlink(manifest.version, link);
  await rename(link, current);
  for (const entry of await readdir(out)) {
    if (entry === 'current' || entry === manifest.version || entry === previous || entry.startsWith('.')) continue;
    if (await isFile(join(out, entry, MANIFEST_FILE))) await rm(join(out, entry), { recursive: true, force: true });
  }
  return { version: manifest.version, step: manifest.step, dir: resolve(dir), downloaded, tool_budget: manifest.tool_budget.limit };
}

function runHook(command: string, pulled: Pulled, io: CommandIO): Promise<number> {
  return new Promise((resolvePromise) => {
    const child = spawn('sh', ['-c', command], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, CIR_CHECKPOINT_DIR: pulled.dir, CIR_CHECKPOINT_VERSION: pulled.version },
    });
    child.on('error', (error) => {
      io.stderr.write(`cir pull: --then could not start: ${error.message}\n`);
      resolvePromise(-1);
    });
    child.on('exit', (code) => resolvePromise(code ?? -1));
  });
}

export async function pullCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      version: { type: 'string' },
      prefix: { type: 'string' },
      watch: { type: 'boolean', default: false },
      'poll-s': { type: 'string', default: '10' },
      then: { type: 'string' },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (!values.out) throw new UsageError('--out is required');
  if (values.watch && values.version !== undefined) throw new UsageError('--watch follows the latest checkpoint; it cannot be combined with --version');
  if (values.then !== undefined && !values.watch) throw new UsageError('--then runs after each pull in --watch mode');
  const pollS = Number(values['poll-s']);
  if (!(pollS > 0) || !Number.isFinite(pollS)) throw new UsageError(`--poll-s must be a positive number, got "${values['poll-s']}"`);

  const env = trainerEnv(process.env);
  const store = createStorageFromEnv(process.env, { dataDir: env.CIR_DATA_DIR });
  const prefix = values.prefix ?? env.CIR_CHECKPOINTS;
  const report = (pulled: Pulled) => io.stdout.write(`${JSON.stringify(pulled)}\n`);
  try {
    if (!values.watch) {
      report(await pull(store, prefix, values.version, values.out));
      return 0;
    }
    return await watch(store, prefix, values.out, pollS, values.then, io, report);
  } catch (error) {
    io.stderr.write(`cir pull: ${(error as Error).message}\n`);
    return 1;
  } finally {
    await store.close?.();
  }
}

/** Follows `latest` until a signal; a failed look or pull is reported and retried at the next poll. */
async function watch(store: ObjectStore, prefix: string, out: string, pollS: number, then: string | undefined, io: CommandIO, report: (p: Pulled) => void): Promise<number> {
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let serving: string | null = null;
  try {
    while (!abort.signal.aborted) {
      try {
        const latest = await readLatestPointer(store, prefix);
        if (latest !== null && latest.version !== serving) {
          const pulled = await pull(store, prefix, latest.version, out);
          serving = pulled.version;
          report(pulled);
          if (then !== undefined) {
            const code = await runHook(then, pulled, io);
            if (code !== 0) io.stderr.write(`cir pull: --then exited with ${code} after ${pulled.version}\n`);
          }
        }
      } catch (error) {
        io.stderr.write(`cir pull: ${(error as Error).message}; trying again in ${pollS} s\n`);
      }
      await new Promise<void>((resolvePromise) => {
        const timer = setTimeout(resolvePromise, pollS * 1000);
        abort.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolvePromise();
        }, { once: true });
      });
    }
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
