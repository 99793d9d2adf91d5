import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCommand } from '../cli-run.ts';
import { publishCommand } from '../../cli/commands/publish.ts';
import { downloadVerifiedCheckpoint } from '../../core/checkpoints/download.ts';
import { readLatestPointer, readPointedManifest } from '../../core/checkpoints/layout.ts';
import { FsObjectStore } from '../../core/storage/fs.ts';
import { PublishConflictError, PublishError, publishCheckpoint, type PublishOptions } from '../../trainer/publish/publish.ts';
import { parseBudgetSchedule } from '../../trainer/run/budget.ts';
import { ensureModel } from '../../scripts/make-model.ts';
import { FailingStore, tempDir } from './fixtures.ts';

let modelDir: string;
let root: string;
let cleanup: () => Promise<void>;
let store: FsObjectStore;

beforeAll(async () => {
  modelDir = await ensureModel('tiny');
});
beforeEach(async () => {
  ({ dir: root, cleanup } = await tempDir('publish'));
  store = new FsObjectStore(join(root, 'objects'));
});
afterEach(() => cleanup());

const base = (overrides: Partial<PublishOptions> = {}): PublishOptions => ({
  store,
  prefix: 'checkpoints',
  modelDir,
  version: 'v1',
  parent: null,
  step: 50,
  schedule: parseBudgetSchedule('0:2,40:3,80:4'),
  metrics: { accuracy: 0.25 },
  createdAt: '2026-01-01T00:00:00.000Z',
  ...overrides,
});

describe('publishCheckpoint', () => {
  it('writes every file with its sha256, then the manifest, then the latest pointer', async () => {
    const published = await publishCheckpoint(base());
    expect(published.keys.at(-1)).toBe('checkpoints/latest');
    expect(published.keys.at(-2)).toBe('checkpoints/v1/manifest.json');
    const { manifest } = published;
    expect(manifest).toMatchObject({ version: 'v1', parent: null, step: 50, metrics: { accuracy: 0.25 }, tokenizer: 'tokenizer.json' });
    expect(manifest.tool_budget).toEqual({ limit: 3, schedule: [{ step: 0, limit: 2 }, { step: 40, limit: 3 }, { step: 80, limit: 4 }] });
    expect(Object.keys(manifest.files)).toEqual(expect.arrayContaining(['model.onnx', 'config.json', 'tokenizer.json', 'tokenizer_config.json']));
    expect(Object.keys(manifest.files)).not.toContain('.complete');
    const onnx = await readFile(join(modelDir, 'model.onnx'));
    expect(manifest.files['model.onnx']).toBe(createHash('sha256').update(onnx).digest('hex'));
    expect(manifest.chat_template).toContain('<|im_start|>');

    const pointer = (await readLatestPointer(store, 'checkpoints'))!;
    expect(pointer.version).toBe('v1');
    const read = await readPointedManifest(store, 'checkpoints', pointer);
    expect(read.manifest).toEqual(manifest);
    const copy = join(root, 'copy');
    await downloadVerifiedCheckpoint(store, 'checkpoints', manifest, copy);
    for (const path of Object.keys(manifest.files)) expect(await readFile(join(copy, path))).toEqual(await readFile(join(modelDir, path)));
  });

  it('never moves latest to a half-written checkpoint, whichever write the store fails on, and a retry completes it', async () => {
    await publishCheckpoint(base());
    const total = (await publishCheckpoint(base({ version: 'probe', parent: 'v1', prefix: 'probe' }))).keys.length;
    for (let failAt = 0; failAt < total; failAt++) {
      const flaky = new FailingStore(store);
      flaky.failAfter = failAt;
      const version = `v2-${failAt}`;
      const attempt = base({ store: flaky, version, parent: 'v1', step: 51 });
      const error = await publishCheckpoint(attempt).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PublishError);
      expect((error as Error).message).toContain('checkpoints/latest still names v1, so nothing was published');
      expect((await readLatestPointer(store, 'checkpoints'))!.version).toBe('v1');

      // Storage is back: the same publish (same inputs, same created_at) goes through.
      flaky.failAfter = Infinity;
      await publishCheckpoint(attempt);
      expect((await readLatestPointer(store, 'checkpoints'))!.version).toBe(version);
      await publishCheckpoint({ ...base(), version: 'v1' }); // latest back to v1 for the next round
    }
  });

  it('refuses when another trainer moved latest, and refuses to reuse a version for other content', async () => {
    await publishCheckpoint(base());
    const conflict = await publishCheckpoint(base({ version: 'v2', parent: 'v0', expectLatest: 'v0' })).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(PublishConflictError);
    expect((conflict as Error).message).toContain('checkpoint v1 is the latest, but this trainer expected v0');
    // Publishing the version latest already names is an idempotent retry, not a conflict.
    await publishCheckpoint(base({ expectLatest: 'v0' }));
    await expect(publishCheckpoint(base({ step: 7 }))).rejects.toThrow('already published under checkpoints/ with different content');
  });

  it('refuses a directory that is not a model', async () => {
    await expect(publishCheckpoint(base({ modelDir: root }))).rejects.toThrow('has neither model.onnx nor model.safetensors');
    await expect(publishCheckpoint(base({ version: '../x' }))).rejects.toThrow('invalid checkpoint version');
  });
});

describe('cir publish', () => {
  const run = (argv: string[], env: Record<string, string>) => runCommand(publishCommand, argv, env);

  it('publishes a model directory, chaining parents through latest', async () => {
    const env = { CIR_STORAGE: 'fs', CIR_STORAGE_DIR: join(root, 'objects'), CIR_CHECKPOINTS: 'ckpts' };
    const first = await run([modelDir, '--budget', '0:2,10:3', '--step', '10', '--metrics', '{"reward":0.5}'], env);
    expect(first.code).toBe(0);
    const one = JSON.parse(first.stdout);
    expect(one.manifest).toMatchObject({ parent: null, step: 10, tool_budget: { limit: 3 }, metrics: { reward: 0.5 } });
    expect(one.manifest.version).toMatch(/^ckpt-\d{8}T\d{6}Z-[0-9a-f]{8}$/);
    expect(first.stderr).toContain('latest →');

    const second = JSON.parse((await run([modelDir, '--version', 'mine'], env)).stdout);
    expect(second.manifest).toMatchObject({ version: 'mine', parent: one.manifest.version, tool_budget: { limit: 2 } });
    expect((await readLatestPointer(store, 'ckpts'))!.version).toBe('mine');
  });

  it('a damaged latest pointer stops a publish with the way out; --repair-latest replaces it and keeps the damaged bytes', async () => {
    const env = { CIR_STORAGE: 'fs', CIR_STORAGE_DIR: join(root, 'objects'), CIR_CHECKPOINTS: 'ckpts' };
    await store.put('ckpts/latest', new TextEncoder().encode('{"version": garbage'));
    const refused = await run([modelDir, '--version', 'fixed'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/ckpts\/latest is not JSON; the store's latest pointer is damaged.*--repair-latest/);
    expect(new TextDecoder().decode((await store.get('ckpts/latest'))!)).toBe('{"version": garbage');

    const repaired = await run([modelDir, '--version', 'fixed', '--repair-latest'], env);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(JSON.parse(repaired.stdout).manifest).toMatchObject({ version: 'fixed', parent: null });
    expect((await readLatestPointer(store, 'ckpts'))!.version).toBe('fixed');
    const kept = (await store.list('ckpts/')).filter((k) => k.startsWith('ckpts/latest.damaged-'));
    expect(kept).toHaveLength(1);
    expect(new TextDecoder().decode((await store.get(kept[0]!))!)).toBe('{"version": garbage');
    // A pointer that reads fine is never replaced by the flag: the usual parent chain goes on.
    const next = await run([modelDir, '--version', 'after', '--repair-latest'], env);
    expect(JSON.parse(next.stdout).manifest.parent).toBe('fixed');
  });

  it('explains bad arguments', async () => {
    await expect(run([modelDir, '--budget', '5:2'], {})).rejects.toThrow('must start at step 0');
    await expect(run([], {})).rejects.toThrow('give exactly one model directory');
    const missing = await run([join(root, 'nope')], { CIR_STORAGE_DIR: join(root, 'objects') });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('ENOENT');
  });
});
