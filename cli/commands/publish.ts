import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { CheckpointReadError, readLatestPointer } from '../../core/checkpoints/layout.ts';
import { createStorageFromEnv } from '../../core/storage/from-env.ts';
import { notifyServers } from '../../trainer/publish/notify.ts';
import { publishCheckpoint } from '../../trainer/publish/publish.ts';
import { parseBudgetSchedule } from '../../trainer/run/budget.ts';
import { timestampVersion, trainerEnv } from '../../trainer/run/env.ts';
import { UsageError, type CommandIO } from '../io.ts';

export const publishUsage = `usage: cir publish <model dir> [--version V] [--parent V | --no-parent] [--budget N | --budget STEP:LIMIT,...]
                   [--step N] [--metrics JSON] [--prefix P] [--notify SERVER_URL ...] [--repair-latest]
Publishes an ONNX model directory (model.onnx, config.json, tokenizer files) as a checkpoint: files, then
the manifest (sha256 of every file, step, tool budget, metrics), then the "latest" pointer that servers
watching the store (CIR_CHECKPOINTS) pick up. Storage comes from CIR_STORAGE / CIR_STORAGE_DIR / CIR_S3_*.
  --version   default ckpt-<UTC time>-<random hex>
  --parent    default: the version "latest" names now (--no-parent: none)
  --budget    tool calls per rollout: one number, or a schedule such as 0:2,40:3,80:4 (default 2)
  --step      training step recorded in the manifest (default 0)
  --metrics   a JSON object of numbers, e.g. '{"accuracy":0.4}'
  --repair-latest  replace a damaged latest pointer (not JSON, or not a pointer) instead of refusing; the
              damaged bytes are kept beside it as latest.damaged-<time>
  --prefix    key prefix of the checkpoint area (default $CIR_CHECKPOINTS, else "checkpoints")
  --notify    base URL of a server to tell to swap now (POST /v1/checkpoints/check; bearer key from
              CIR_NOTIFY_API_KEY); repeatable. Exit 1 if a server refuses or cannot be reached.
Prints the manifest and pointer as JSON.`;

export async function publishCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      version: { type: 'string' },
      parent: { type: 'string' },
      'no-parent': { type: 'boolean' },
      budget: { type: 'string', default: '2' },
      step: { type: 'string', default: '0' },
      metrics: { type: 'string' },
      prefix: { type: 'string' },
      notify: { type: 'string', multiple: true },
      'repair-latest': { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError('give exactly one model directory');
  if (values.parent !== undefined && values['no-parent']) throw new UsageError('--parent and --no-parent exclude each other');
  const step = Number(values.step);
  if (!Number.isSafeInteger(step) || step < 0) throw new UsageError(`--step must be a non-negative integer, got "${values.step}"`);
  let schedule;
  try {
    schedule = parseBudgetSchedule(values.budget);
  } catch (error) {
    throw new UsageError(`--budget: ${(error as Error).message}`);
  }
  const metrics = parseMetrics(values.metrics);

  // A bad variable throws ConfigError, which the CLI reports with exit code 2.
  const env = trainerEnv(process.env);
  const store = createStorageFromEnv(process.env, { dataDir: env.CIR_DATA_DIR });
  const prefix = values.prefix ?? env.CIR_CHECKPOINTS;
  try {
    const latest = await readLatestPointer(store, prefix).catch((error: unknown) => {
      if (!(error instanceof CheckpointReadError) || error.kind !== 'pointer') throw error;
      // publishCheckpoint refuses or (with --repair-latest) replaces it; a damaged pointer names no parent.
      return null;
    });
    const parent = values['no-parent'] ? null : (values.parent ?? latest?.version ?? null);
    const now = new Date();
    const version = values.version ?? timestampVersion(now, randomUUID().replaceAll('-', ''));
    const published = await publishCheckpoint({
      store,
      prefix,
      modelDir: positionals[0]!,
      version,
      parent,
      step,
      schedule,
      metrics,
      expectLatest: latest?.version ?? null,
      repairLatest: values['repair-latest'],
      onFile: (path, i, total) => io.stderr.write(`uploaded ${path} (${i}/${total})\n`),
    });
    io.stdout.write(`${JSON.stringify({ manifest: published.manifest, pointer: published.pointer }, null, 2)}\n`);
    io.stderr.write(`published ${version} under ${prefix}/ (latest → ${version})\n`);
    const notified = await notifyServers(values.notify ?? [], { apiKey: process.env.CIR_NOTIFY_API_KEY });
    for (const n of notified) io.stderr.write(`notified ${n.url}: ${n.ok ? '' : 'FAILED '}${n.detail}\n`);
    return notified.every((n) => n.ok) ? 0 : 1;
  } catch (error) {
    io.stderr.write(`cir publish: ${(error as Error).message}\n`);
    return 1;
  } finally {
    await store.close?.();
  }
}

function parseMetrics(text: string | undefined): Record<string, number> {
  if (text === undefined) return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError('--metrics must be a JSON object of numbers');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json) || !Object.values(json).every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new UsageError('--metrics must be a JSON object of numbers');
  }
  return json as Record<string, number>;
}
