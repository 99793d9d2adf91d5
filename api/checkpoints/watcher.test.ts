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
  publishCheckpoint({ store, prefix: 'ckpt', modelDir: dir, version, parent: null, step, schedule: parseBudgetSchedule('0:2,10:3') });

function watcher(over: { store?: FailingStore } = {}) {
  return new CheckpointWatcher({
    store: over.store ?? store,
    prefix: 'ckpt',
    cacheDir: join(root, 'cache'),
    pollMs: 50,
    slot,
    load: (dir) => OnnxBackend.load(dir, { id: 'served' }),
    log: (m) => logs.push(m),
  });
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
    expect((await readdir(join(root, 'cache'))).sort()).toEqual(['v1', 'v2']);
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
    expect(await w.check()).toEqual({ outcome: 'unchanged' });
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

  it('reports a pointer that is not valid', async () => {
    const w = watcher();
    await store.put(latestKey('ckpt'), new TextEncoder().encode('{"version": 5}'));
    expect(await w.check()).toMatchObject({ outcome: 'error', reason: expect.stringContaining('ckpt/latest') });
  });

  it('rejects bad settings at start-up, naming the variable', async () => {
    const start = (env: Record<string, string>) =>
      startCheckpointServing(env, { dataDir: root, load: (dir) => OnnxBackend.load(dir), log: () => {} });
    expect(await start({})).toBeUndefined(); // not configured: nothing watched
    await expect(start({ CIR_CHECKPOINTS: 'ckpt', CIR_CHECKPOINT_POLL_MS: 'soon' })).rejects.toThrow('CIR_CHECKPOINT_POLL_MS="soon"');
    await expect(start({ CIR_CHECKPOINTS: '/abs/' })).rejects.toThrow('CIR_CHECKPOINTS="/abs/": must be a key prefix');
  });
});

