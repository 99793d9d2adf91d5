import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { latestKey } from '../../core/checkpoints/layout.ts';
import { FsObjectStore } from '../../core/storage/fs.ts';
import { ensureModel } from '../../scripts/make-model.ts';
import { publishCheckpoint } from '../../trainer/publish/publish.ts';
import { parseBudgetSchedule } from '../../trainer/run/budget.ts';
import { FailingStore } from '../../test/trainer/fixtures.ts';
import { OnnxBackend } from '../models/onnx/backend.ts';
import { ServedSlot } from './slot.ts';
import { startCheckpointServing } from './serve.ts';
import { CheckpointWatcher } from './watcher.ts';

let modelDir: string;
let root: string;
let store: FsObjectStore;
let slot: ServedSlot;
let logs: string[];

beforeAll(async () => {
  modelDir = await ensureModel('tiny');
});
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'cir-watcher-'));
  store = new FsObjectStore(join(root, 'objects'));
  slot = new ServedSlot();
  logs = [];
});
afterEach(async () => {
  await slot.dispose();
  await rm(root, { recursive: true, force: true });
});

const publish = (version: string, step = 0, dir = modelDir) =>
  publishCheckpoint({ store, prefix: 'ckpt', modelDir: dir, version, parent: null, step, schedule: parseBudgetSchedule('0:2,10:3'), repairLatest: true });

const watcherOptions = () => ({
  store,
  prefix: 'ckpt',
  cacheDir: join(root, 'cache'),
  pollMs: 50,
  slot,
  load: (dir: string) => OnnxBackend.load(dir, { id: 'served' }),
  log: (m: string) => logs.push(m),
});

function watcher(over: { store?: FailingStore } = {}) {
  return new CheckpointWatcher({ ...watcherOptions(), ...(over.store && { store: over.store }) });
}

describe('CheckpointWatcher', () => {
  it('loads the latest checkpoint, verified, with its tool budget, and swaps to the next one', async () => {
    const w = watcher();
    expect(await w.check()).toEqual({ outcome: 'empty' });
    await publish('v1', 0);
    expect(await w.check()).toMatchObject({ outcome: 'swapped', version: 'v1' });
    expect(slot.current()!.checkpoint).toEqual({ version: 'v1', toolBudget: 2 });
    expect(slot.current()!.backend.info.id).toBe('served');
    const out = await slot.current()!.backend.generate({ prompt: [1, 2, 3], maxTokens: 3, temperature: 0 });
    expect(out.sequences[0]!.tokenIds.length).toBeGreaterThan(0);
    expect(await w.check()).toEqual({ outcome: 'unchanged' });

    await publish('v2', 12);
    expect(await w.check()).toMatchObject({ outcome: 'swapped', version: 'v2' });
    expect(slot.current()!.checkpoint).toEqual({ version: 'v2', toolBudget: 3 });
    await slot.drained();
    expect(w.status()).toMatchObject({ serving: 'v2', swaps: 2, refused: [], draining: 0, last_error: null });
    expect(logs.join('\n')).toContain('checkpoint v2 (step 12, tool budget 3) now serving, replacing v1');
    expect((await readdir(join(root, 'cache'))).sort()).toEqual(['.last-good.json', 'v1', 'v2']);
  });

  it('answers a check asked for during another with a look taken after it', async () => {
    const w = watcher();
    await publish('v1');
    const first = w.check();
    await publish('v2'); // while the first check may already have read the pointer
    const second = w.check();
    await second;
    // Whichever check saw v2, it is served once the second call resolves.
    expect(slot.current()!.checkpoint.version).toBe('v2');
    expect((await first).outcome).toBe('swapped');
    await w.stop();
    expect(await w.check()).toEqual({ outcome: 'unchanged' });
  });

  it('refuses a corrupt checkpoint once, keeps serving the old one and reports why', async () => {
    const w = watcher();
    await publish('v1');
    await w.check();
    await publish('v2');
    await store.put('ckpt/v2/model.onnx', new TextEncoder().encode('flipped bits'));
    const result = await w.check();
    expect(result).toMatchObject({ outcome: 'refused', version: 'v2' });
    expect(slot.current()!.checkpoint.version).toBe('v1');
    const status = w.status();
    expect(status.serving).toBe('v1');
    expect(status.refused).toHaveLength(1);
    expect(status.refused[0]!.reason).toMatch(/checkpoint v2: model\.onnx has sha256 [0-9a-f]{64}, its manifest says/);
    expect(logs.join('\n')).toContain('refused checkpoint v2; still serving v1');
    // Not fetched again on every poll.
    expect(await w.check({ force: false })).toEqual({ outcome: 'unchanged' });
    expect((await readdir(join(root, 'cache'))).filter((n) => !n.startsWith('.'))).toEqual(['v1']);
  });

  it('refuses a partial checkpoint, a tampered manifest and a model that does not load', async () => {
    const w = watcher();
    await publish('v1');
    await w.check();

    await publish('partial');
    await store.delete('ckpt/partial/tokenizer.json');
    expect(await w.check()).toMatchObject({ outcome: 'refused', reason: expect.stringContaining('file tokenizer.json is missing') });

    await publish('tampered');
    const manifest = JSON.parse(new TextDecoder().decode((await store.get('ckpt/tampered/manifest.json'))!));
    await store.put('ckpt/tampered/manifest.json', new TextEncoder().encode(JSON.stringify({ ...manifest, step: 999 })));
    expect(await w.check()).toMatchObject({ outcome: 'refused', reason: expect.stringContaining("does not match the pointer's") });

    const broken = join(root, 'broken-model');
    await cp(modelDir, broken, { recursive: true });
    await writeFile(join(broken, 'model.onnx'), 'not an onnx graph');
    await publish('broken', 0, broken);
    expect(await w.check()).toMatchObject({ outcome: 'refused', reason: expect.stringContaining('checkpoint broken does not load') });

    expect(slot.current()!.checkpoint.version).toBe('v1');
    expect(w.status().refused.map((r) => r.version)).toEqual(['partial', 'tampered', 'broken']);
  });

  it('treats an unreachable store as a passing problem, not a refusal', async () => {
    const flaky = new FailingStore(store);
    flaky.failOn = 'get';
    const w = watcher({ store: flaky });
    await publish('v1');
    flaky.failAfter = 2; // pointer and manifest read, then the store goes down mid-download
    expect(await w.check()).toMatchObject({ outcome: 'error' });
    expect(w.status()).toMatchObject({ serving: null, refused: [], last_error: expect.stringContaining('simulated outage') });
    flaky.failAfter = Infinity;
    expect(await w.check()).toMatchObject({ outcome: 'swapped', version: 'v1' });
    expect(w.status().last_error).toBeNull();
  });

  it('refuses a pointer that is not valid, and clears the refusal once it reads again', async () => {
    const w = watcher();
    await store.put(latestKey('ckpt'), new TextEncoder().encode('{"version": 5}'));
    expect(await w.check()).toMatchObject({ outcome: 'refused', version: '(latest pointer)', reason: expect.stringContaining('ckpt/latest') });
    expect(await w.check({ force: false })).toMatchObject({ outcome: 'refused' });
    expect(w.status().refused).toHaveLength(1); // listed once, not once per poll
    await publish('v1');
    expect(await w.check({ force: false })).toMatchObject({ outcome: 'swapped', version: 'v1' });
    expect(w.status().refused).toEqual([]);
  });

  it('looks at a refused checkpoint again after a pause, or at once when asked, and clears the refusal once it loads', async () => {
    const w = watcher();
    await publish('v1');
    const good = (await store.get('ckpt/v1/model.onnx'))!;
    await store.put('ckpt/v1/model.onnx', new TextEncoder().encode('flipped bits'));
    expect(await w.check()).toMatchObject({ outcome: 'refused', version: 'v1' });
    await store.put('ckpt/v1/model.onnx', good); // the store is repaired in place: same pointer, same manifest
    expect(await w.check({ force: false })).toEqual({ outcome: 'unchanged' }); // within the pause
    expect(await w.check()).toMatchObject({ outcome: 'swapped', version: 'v1' }); // asked for (POST /v1/checkpoints/check)
    expect(w.status()).toMatchObject({ serving: 'v1', refused: [] });

    const patient = new CheckpointWatcher({ ...watcherOptions(), refusalRetryMs: 1 });
    await publish('v2');
    const tokenizer = (await store.get('ckpt/v2/tokenizer.json'))!;
    await store.delete('ckpt/v2/tokenizer.json');
    expect(await patient.check({ force: false })).toMatchObject({ outcome: 'refused', version: 'v2' });
    await store.put('ckpt/v2/tokenizer.json', tokenizer); // re-uploaded
    await new Promise((r) => setTimeout(r, 5));
    expect(await patient.check({ force: false })).toMatchObject({ outcome: 'swapped', version: 'v2' });
  });

  it('says when the store does not answer, and shows the check in progress', async () => {
    const hung = new FailingStore(store);
    const never = new Promise<never>(() => {});
    hung.get = () => never;
    const w = new CheckpointWatcher({ ...watcherOptions(), store: hung, storeTimeoutMs: 50 });
    const result = w.check();
    expect(w.status().checking_since).not.toBeNull();
    expect(await result).toMatchObject({ outcome: 'error', reason: expect.stringContaining('the store did not answer within 50 ms') });
    expect(w.status()).toMatchObject({ checking_since: null, last_error: expect.stringContaining('did not answer') });
  });

  it('at start-up while latest cannot be used, serves the last good checkpoint cached here (verified again) and says so', async () => {
    const env = { CIR_CHECKPOINTS: 'ckpt', CIR_STORAGE: 'fs', CIR_STORAGE_DIR: join(root, 'objects') };
    const start = () => startCheckpointServing(env, { dataDir: root, load: (dir) => OnnxBackend.load(dir), log: (m) => logs.push(m) });
    await publish('v1');
    const first = (await start())!;
    expect(first.watcher.status()).toMatchObject({ serving: 'v1', note: null });
    await first.close();

    await store.put(latestKey('ckpt'), new TextEncoder().encode('garbage'));
    const second = (await start())!;
    try {
      expect(second.slot.current()!.checkpoint.version).toBe('v1');
      const status = second.watcher.status();
      expect(status.note).toMatch(/^serving v1, the last good checkpoint cached on this machine: the store's latest could not be used at start-up \(ckpt\/latest is not JSON\)/);
      expect(status.refused.map((r) => r.version)).toEqual(['(latest pointer)']);
      await publish('v2'); // the store is repaired by a publish
      await second.watcher.check(); // (the fs notifier may have swapped already)
      expect(second.watcher.status()).toMatchObject({ serving: 'v2', note: null, refused: [] });
    } finally {
      await second.close();
    }

    // A cached checkpoint whose files changed on disk is not served.
    await store.put(latestKey('ckpt'), new TextEncoder().encode('garbage'));
    await writeFile(join(root, 'checkpoint-cache', 'v2', 'model.onnx'), 'tampered');
    const third = (await start())!;
    try {
      expect(third.slot.current()).toBeUndefined();
      expect(third.watcher.status().note).toMatch(/no model to serve until a checkpoint loads/);
    } finally {
      await third.close();
    }
  });

  it('says when nothing is published yet and the initial model is served', async () => {
    const initial = { backend: await OnnxBackend.load(modelDir), checkpoint: { version: 'static' } };
    const serving = (await startCheckpointServing({ CIR_CHECKPOINTS: 'ckpt', CIR_STORAGE: 'fs', CIR_STORAGE_DIR: join(root, 'objects') }, { dataDir: root, initial, load: (dir) => OnnxBackend.load(dir), log: () => {} }))!;
    try {
      expect(serving.watcher.status().note).toBe('nothing is published under ckpt/ yet; serving the initial model until a checkpoint is');
    } finally {
      await serving.close();
    }
  });

  it('rejects bad settings at start-up, naming the variable', async () => {
    const start = (env: Record<string, string>) =>
      startCheckpointServing(env, { dataDir: root, load: (dir) => OnnxBackend.load(dir), log: () => {} });
    expect(await start({})).toBeUndefined(); // not configured: nothing watched
    await expect(start({ CIR_CHECKPOINTS: 'ckpt', CIR_CHECKPOINT_POLL_MS: 'soon' })).rejects.toThrow('CIR_CHECKPOINT_POLL_MS="soon"');
    await expect(start({ CIR_CHECKPOINTS: '/abs/' })).rejects.toThrow('CIR_CHECKPOINTS="/abs/": must be a key prefix');
  });
});

