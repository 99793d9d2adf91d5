import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeServer, type RunningServer } from '../../api/node.ts';
import { FsObjectStore } from '../../core/storage/fs.ts';
import type { ObjectStore } from '../../core/storage/object-store.ts';
import { ensureModel } from '../../scripts/make-model.ts';
import { Hono } from 'hono';
import { checkpointRoutes } from '../../api/checkpoints/routes.ts';
import { onError } from '../../api/middleware/errors/index.ts';
import { notifyServers } from '../../trainer/publish/notify.ts';
import { publishCheckpoint } from '../../trainer/publish/publish.ts';
import { parseBudgetSchedule } from '../../trainer/run/budget.ts';
import { tempDir } from './fixtures.ts';

/**
 * A real server (ONNX backend, fs storage, CIR_CHECKPOINTS) swapping checkpoints while clients keep
 * sending completions: no request fails, every answer comes from one model or the other, and the
 * server ends up serving the new checkpoint with its tool budget.
 */
let server: RunningServer;
let store: FsObjectStore;
let cleanup: () => Promise<void>;
let modelA: string;
let modelB: string;

const schedule = parseBudgetSchedule('0:2,5:3');
const publish = (version: string, dir: string, step: number) =>
  publishCheckpoint({ store, prefix: 'ckpt', modelDir: dir, version, parent: null, step, schedule });

beforeAll(async () => {
  [modelA, modelB] = [await ensureModel('tiny', 0), await ensureModel('tiny', 1)];
  let dir: string;
  ({ dir, cleanup } = await tempDir('hot-swap'));
  store = new FsObjectStore(join(dir, 'objects'));
  await publish('a', modelA, 0);
  server = await startNodeServer({
    PORT: '0',
    CIR_DATA_DIR: dir,
    CIR_STORAGE: 'fs',
    CIR_STORAGE_DIR: join(dir, 'objects'),
    CIR_CHECKPOINTS: 'ckpt',
    // Slow polling on purpose: the fs notification must be what picks the publish up quickly.
    CIR_CHECKPOINT_POLL_MS: '60000',
    CIR_PYTHON_EXECUTOR: 'off',
    CIR_MODEL_THREADS: '1',
  });
});
afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

async function info(): Promise<{ model: { id: string }; checkpoint: { version: string; tool_budget: number; watch: { refused: { version: string; reason: string }[]; draining: number } } }> {
  return (await fetch(`${server.url}/v1/info`)).json() as never;
}

async function complete(): Promise<{ status: number; text: string }> {
  const response = await fetch(`${server.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'Let x be the sum of', max_tokens: 6, temperature: 0 }),
  });
  const body = (await response.json()) as { choices?: { text: string }[] };
  return { status: response.status, text: body.choices?.[0]?.text ?? JSON.stringify(body) };
}

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('checkpoint hot swap in a running server', () => {
  it('serves the published checkpoint from start-up, with its tool budget', async () => {
    const i = await info();
    expect(i.checkpoint).toMatchObject({ version: 'a', tool_budget: 2, watch: { refused: [] } });
    expect(i.model.id).toBe('cir');
  });

  it('swaps to a new checkpoint under load without failing a request', async () => {
    const before = await complete();
    expect(before.status).toBe(200);
    const results: { status: number; text: string }[] = [];
    let stop = false;
    const clients = Array.from({ length: 4 }, async () => {
      while (!stop) results.push(await complete());
    });
    await until(async () => results.length >= 8, 20_000);
    const published = Date.now();
    await publish('b', modelB, 6);
    await until(async () => (await info()).checkpoint.version === 'b', 10_000);
    const swapMs = Date.now() - published;
    const afterSwap = results.length;
    await until(async () => results.length >= afterSwap + 8, 20_000);
    stop = true;
    await Promise.all(clients);

    const after = await complete();
    expect(after.text).not.toBe(before.text); // a different model answers now
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    expect(results.every((r) => r.text === before.text || r.text === after.text)).toBe(true);
    expect(results.some((r) => r.text === before.text) && results.some((r) => r.text === after.text)).toBe(true);
    const i = await info();
    expect(i.checkpoint).toMatchObject({ version: 'b', tool_budget: 3 });
    expect(i.model.id).toBe('cir');
    expect(swapMs).toBeLessThan(10_000);
  });

  it('refuses a corrupt checkpoint and keeps serving, saying so in /v1/info', async () => {
    // Storage that damages one file on its way in (and skips the checksum check that would catch it at upload).
    const damaging: ObjectStore = {
      put: (key, bytes, options) => (key === 'ckpt/c/config.json' ? store.put(key, new TextEncoder().encode('{}')) : store.put(key, bytes, options)),
      get: (key) => store.get(key),
      list: (prefix) => store.list(prefix),
      delete: (key) => store.delete(key),
    };
    await publishCheckpoint({ store: damaging, prefix: 'ckpt', modelDir: modelA, version: 'c', parent: 'b', step: 7, schedule });
    await until(async () => (await info()).checkpoint.watch.refused.length > 0, 10_000);
    const i = await info();
    expect(i.checkpoint.version).toBe('b');
    expect(i.checkpoint.watch.refused[0]).toMatchObject({ version: 'c', reason: expect.stringContaining('config.json has sha256') });
    expect((await complete()).status).toBe(200);
  });

  it('swaps at once when a publisher notifies a server that only polls (as with S3 or R2)', async () => {
    const dir = join(store.root, '..', 'notified');
    const other = await startNodeServer({
      PORT: '0',
      CIR_DATA_DIR: dir,
      CIR_STORAGE: 'fs',
      CIR_STORAGE_DIR: store.root,
      CIR_CHECKPOINTS: 'ckpt',
      CIR_CHECKPOINT_POLL_MS: '3600000',
      CIR_CHECKPOINT_NOTIFY: 'off',
      CIR_PYTHON_EXECUTOR: 'off',
      CIR_MODEL_THREADS: '1',
    });
    try {
      const serving = async () => ((await (await fetch(`${other.url}/v1/info`)).json()) as { checkpoint: { version: string } }).checkpoint.version;
      // The latest checkpoint is the corrupt c: refused at start-up, so this server has nothing to serve yet.
      expect(await serving()).toBeNull();
      await publish('d', modelA, 8);
      expect(await serving()).toBeNull(); // it would wait an hour
      const [notified] = await notifyServers([other.url]);
      expect(notified).toMatchObject({ ok: true, detail: 'swapped d' });
      expect(await serving()).toBe('d');
    } finally {
      await other.close();
    }
  });

  it('answers 501 where no checkpoint store is watched', async () => {
    const app = new Hono().onError(onError(() => {})).route('/', checkpointRoutes(undefined));
    const response = await app.request('/v1/checkpoints/check', { method: 'POST' });
    expect(response.status).toBe(501);
    expect(await response.json()).toMatchObject({ error: { type: 'unsupported' } });
  });
});

