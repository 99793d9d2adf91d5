import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointKey } from '../../core/checkpoints/layout.ts';
import { FsObjectStore } from '../../core/storage/fs.ts';
import type { ObjectStore } from '../../core/storage/object-store.ts';
import { publishCheckpoint } from '../../trainer/publish/publish.ts';
import { parseBudgetSchedule } from '../../trainer/run/budget.ts';
import { embeddedTokenizer } from './embedded-tokenizer.ts';
import { EdgeServing, type EdgeServingOptions } from './serving.ts';

/**
 * EdgeServing on Node with an fs store and a model server that only lists its model (connecting is all
 * it does before generating): swaps, refusals, the poll bound and a dead server. test/worker/edge.test.ts
 * runs it in workerd end to end.
 */

const EMBEDDED = fileURLToPath(new URL('../../model/default', import.meta.url));
let dir = '';
let server: Server;
let serverUrl = '';
let serverMode: 'up' | 'down' | 'silent' = 'up';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cir-edge-serving-'));
  server = createServer((req, res) => {
    if (serverMode === 'down') return res.destroy();
    if (serverMode === 'silent') return;
    if (req.url !== '/v1/models') return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: [{ id: 'm', max_model_len: 512 }] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

/** A checkpoint directory with the embedded tokenizer and a stand-in weights file (the Worker never reads weights). */
async function publish(store: ObjectStore, version: string, parent: string | null, step: number): Promise<void> {
  const modelDir = join(dir, `model-${version}`);
  await mkdir(modelDir, { recursive: true });
  for (const name of ['tokenizer.json', 'tokenizer_config.json', 'config.json']) await copyFile(join(EMBEDDED, name), join(modelDir, name));
  await writeFile(join(modelDir, 'model.safetensors'), version);
  await publishCheckpoint({ store, prefix: 'ckpt', modelDir, version, parent, step, schedule: parseBudgetSchedule('0:2,1:3') });
}

/** Counts reads of the `latest` pointer. */
function counting(store: ObjectStore): ObjectStore & { latestReads: number } {
  const counted = Object.assign(Object.create(store) as ObjectStore, { latestReads: 0 });
  counted.get = async (key: string) => {
    if (key.endsWith('/latest')) counted.latestReads++;
    return store.get(key);
  };
  return counted;
}

function serving(store: ObjectStore, clock: { now: number }, extra: Partial<EdgeServingOptions> = {}): EdgeServing {
  return new EdgeServing({
    server: { baseUrl: serverUrl, model: 'm', retries: 0, timeoutMs: 2_000 },
    staticTokenizer: embeddedTokenizer,
    checkpoints: { store, prefix: 'ckpt', pollMs: 1_000 },
    now: () => clock.now,
    ...extra,
  });
}

describe('EdgeServing', () => {
  it('serves the latest checkpoint with its budget, reads latest at most every pollMs, and swaps in the background', async () => {
    const raw = new FsObjectStore(join(dir, 'swap'));
    const store = counting(raw);
    await publish(raw, 'v0', null, 0);
    const clock = { now: 0 };
    const edge = serving(store, clock);
    const background: Promise<unknown>[] = [];
    const request = () => edge.beforeRequest((work) => background.push(work));
    await request();
    expect(edge.slot.current()?.checkpoint).toEqual({ version: 'v0', toolBudget: 2 });
    // The first look is also handed to waitUntil (a request waits for it only up to connectWaitMs).
    await Promise.all(background.splice(0));
    expect(edge.slot.current()?.backend.info).toMatchObject({ id: 'm', contextLength: 512, backend: 'openai' });

    await publish(raw, 'v1', 'v0', 1);
    clock.now = 999;
    await request();
    expect(background).toHaveLength(0);
    expect(store.latestReads).toBe(1);
    clock.now = 1_000;
    await request();
    await Promise.all(background);
    expect(store.latestReads).toBe(2);
    expect(edge.slot.current()?.checkpoint).toEqual({ version: 'v1', toolBudget: 3 });
    expect(edge.status()).toMatchObject({ serving: 'v1', swaps: 2, refused: [], last_error: null });
    await edge.slot.dispose();
  });

  it('refuses a checkpoint whose tokenizer does not match its manifest, and keeps serving the previous one', async () => {
    const raw = new FsObjectStore(join(dir, 'refuse'));
    await publish(raw, 'v0', null, 0);
    await publish(raw, 'v1', 'v0', 1);
    const clock = { now: 0 };
    const edge = serving(raw, clock);
    await edge.check();
    await raw.put(checkpointKey('ckpt', 'v1', 'tokenizer.json'), new TextEncoder().encode('{}'));
    await publish(raw, 'v2', 'v1', 2);
    await raw.put(checkpointKey('ckpt', 'v2', 'tokenizer.json'), new TextEncoder().encode('{"damaged":true}'));
    expect(await edge.check()).toMatchObject({ outcome: 'refused', version: 'v2', reason: expect.stringMatching(/tokenizer\.json has sha256 [0-9a-f]{64}, its manifest says/) });
    expect(edge.slot.current()?.checkpoint.version).toBe('v1');
    expect(edge.status().refused).toEqual([expect.objectContaining({ version: 'v2' })]);
    // A poll does not fetch the refused checkpoint again; a check asked for does.
    expect(await edge.check({ force: false })).toEqual({ outcome: 'unchanged' });
    expect(await edge.check()).toMatchObject({ outcome: 'refused', version: 'v2' });
    await edge.slot.dispose();
  });

  it('answers 503 with Retry-After while the model server is down, and connects once it is back', async () => {
    const clock = { now: 0 };
    const edge = serving(new FsObjectStore(join(dir, 'down')), clock, { checkpoints: undefined });
    serverMode = 'down';
    try {
      await edge.beforeRequest(() => undefined);
      expect(edge.slot.current()).toBeUndefined();
      const error = edge.noModel();
      expect(error).toMatchObject({ status: 503, headers: { 'Retry-After': '5' } });
      expect(error.message).toMatch(new RegExp(`model server ${serverUrl}`));
    } finally {
      serverMode = 'up';
    }
    // Within the reconnect pause the answer stays the 503, without trying again.
    clock.now = 1_000;
    await edge.beforeRequest(() => undefined);
    expect(edge.slot.current()).toBeUndefined();
    clock.now = 2_000;
    await edge.beforeRequest(() => undefined);
    expect(edge.slot.current()?.checkpoint).toEqual({ version: 'static' });
    await edge.slot.dispose();
  });

  it('does not hold a request longer than connectWaitMs on a model server that never answers', async () => {
    const edge = serving(new FsObjectStore(join(dir, 'silent')), { now: 0 }, { checkpoints: undefined, connectWaitMs: 100 });
    serverMode = 'silent';
    const background: Promise<unknown>[] = [];
    try {
      const started = Date.now();
      await edge.beforeRequest((work) => background.push(work));
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(edge.noModel().message).toMatch(/connecting/);
    } finally {
      serverMode = 'up';
    }
    // The look goes on in the background and ends with the client's timeout, as a transient error.
    await Promise.all(background);
    expect(edge.status().last_error).toMatch(/no response for 2000 ms/);
  });
});
