import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeServer, type RunningServer } from '../../api/node.ts';
import { readTrajectories } from '../../core/logging/read.ts';
import { LocalQueue } from '../../core/queue/local.ts';
import { decodeQueueMessage } from '../../core/schemas/queue-message.ts';
import { parseTrajectoryRecord, type TrajectoryRecord } from '../../core/schemas/trajectory.ts';
import { FsObjectStore } from '../../core/storage/fs.ts';
import { ensureModel } from '../../scripts/make-model.ts';

/**
 * The service as deployed on Node: the real fixture model (random weights, 256-token context),
 * the real sandbox, trajectories logged to local storage and queue under a temporary data dir and
 * read back the way the trainer reads them. Shapes, limits, cancellation and logging, end to end.
 */

let dataDir: string;
let server: RunningServer;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'cir-reasoning-e2e-'));
  server = await startNodeServer({
    PORT: '0',
    HOST: '127.0.0.1',
    CIR_DATA_DIR: dataDir,
    CIR_MODEL_DIR: await ensureModel('tiny'),
    CIR_PYTHON_EXECUTOR: 'off',
    CIR_EXEC_CONCURRENCY: '1',
    CIR_TRAJ_BATCH_MS: '50',
  });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

const post = (path: string, body: unknown, signal?: AbortSignal) =>
  fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(signal && { signal }) });

/** Everything the server's logger delivered so far, as the trainer reads it. */
async function delivered(): Promise<TrajectoryRecord[]> {
  const queue = new LocalQueue(join(dataDir, 'queue'));
  const store = new FsObjectStore(join(dataDir, 'objects'));
  const records: TrajectoryRecord[] = [];
  for (;;) {
    const messages = await queue.receive({ max: 100, visibilityTimeoutS: 60 });
    if (messages.length === 0) return records;
    for (const message of messages) {
      records.push(...(await readTrajectories(store, decodeQueueMessage(message.body))));
      await queue.delete(message.receipt);
    }
  }
}

async function waitForStats(predicate: (stats: any) => boolean): Promise<any> {
  for (let i = 0; i < 200; i++) {
    const info = (await (await fetch(`${server.url}/v1/info`)).json()) as any;
    if (predicate(info.trajectories)) return info.trajectories;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('logger did not get there in time');
}

describe('code-integrated reasoning on the fixture model', () => {
  it('solves with n samples within the limits and logs a valid trajectory for each', async () => {
    const res = await post('/v1/solve', { problem: 'What is 1 + 1?', gold: '2', n: 4, max_tokens: 40, seed: 7, temperature: 0.8 });
    expect(res.status).toBe(200);
    const json = (await res.json()) as any;
    expect(json.samples).toHaveLength(4);
    expect(json.checkpoint_version).toBe('static');
    for (const sample of json.samples) {
      expect(sample.usage.completion_tokens).toBeLessThanOrEqual(40);
      expect(['stop', 'length', 'tool_budget']).toContain(sample.finish_reason);
      expect(typeof sample.correct).toBe('boolean');
      expect(sample.segments.map((s: any) => s.text).join('')).toBe(sample.text);
    }
    await waitForStats((s) => s.queued >= 4);
    const records = await delivered();
    const mine = records.filter((r) => r.request_id === json.id);
    expect(mine.map((r) => r.id).sort()).toEqual(json.samples.map((s: any) => s.trajectory_id).sort());
    for (const record of mine) {
      expect(parseTrajectoryRecord(record)).toEqual(record);
      expect(record).toMatchObject({ model: expect.any(String), checkpoint_version: 'static', gold: '2', partial: false, request: { seed: 7, temperature: 0.8, max_tokens: 40 } });
      expect(record.reward === 1 || record.reward === -1).toBe(true);
      expect(record.logprobs.every((l, i) => (l === null) === (record.loss_mask[i] === 0))).toBe(true);
    }
    // The same seed gives the same samples.
    const again = (await (await post('/v1/solve', { problem: 'What is 1 + 1?', n: 4, max_tokens: 40, seed: 7, temperature: 0.8 })).json()) as any;
    expect(again.samples.map((s: any) => s.text)).toEqual(json.samples.map((s: any) => s.text));
  });

  it('cancels the work when the client disconnects mid-stream, logs it as partial, and keeps serving', async () => {
    const before = await waitForStats(() => true);
    const controller = new AbortController();
    const res = await post('/v1/solve', { problem: 'Count to a thousand.', n: 32, max_tokens: 150, stream: true }, controller.signal);
    expect(res.status).toBe(200);
    // Headers are out: the rollout is running. Leave shortly after.
    await new Promise((r) => setTimeout(r, 50));
    controller.abort();
    const stats = await waitForStats((s) => s.accepted >= before.accepted + 32 && s.queued >= s.accepted);
    expect(stats.rejected).toBe(0);
    const records = (await delivered()).filter((r) => r.problem === 'Count to a thousand.');
    expect(records).toHaveLength(32);
    const cancelled = records.filter((r) => r.finish_reason === 'cancelled');
    expect(cancelled.length).toBeGreaterThan(0);
    for (const r of cancelled) expect(r.partial).toBe(true);

    const after = await post('/v1/solve', { problem: 'Still there?', max_tokens: 5 });
    expect(after.status).toBe(200);
  });

  it('cancels a non-streaming solve whose client goes away', async () => {
    const before = await waitForStats(() => true);
    const controller = new AbortController();
    const pending = post('/v1/solve', { problem: 'Count to ten thousand.', n: 32, max_tokens: 150 }, controller.signal).catch((e) => e);
    await new Promise((r) => setTimeout(r, 150));
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    await waitForStats((s) => s.accepted >= before.accepted + 32 && s.queued >= s.accepted);
    const records = (await delivered()).filter((r) => r.problem === 'Count to ten thousand.');
    expect(records).toHaveLength(32);
    expect(records.filter((r) => r.finish_reason === 'cancelled' && r.partial).length).toBeGreaterThan(0);
  });

  it('answers the openai client on /v1/chat/completions with the real model', async () => {
    const client = new OpenAI({ apiKey: 'unused', baseURL: `${server.url}/v1`, maxRetries: 0 });
    const completion = await client.chat.completions.create({ model: 'ignored-by-none', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8 }).catch((e) => e);
    expect(completion.status).toBe(404); // names a model this server does not serve
    const models = await client.models.list();
    const model = models.data[0]!.id;
    const ok = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, n: 2 });
    expect(ok.choices).toHaveLength(2);
    expect(typeof ok.choices[0]!.message.content).toBe('string');
    expect(ok.usage!.completion_tokens).toBeGreaterThan(0);
  });

  it('refuses a prompt longer than the context and a max_tokens beyond it', async () => {
    const long = await post('/v1/solve', { problem: 'word '.repeat(400) });
    expect(long.status).toBe(400);
    expect(((await long.json()) as any).error.message).toMatch(/the prompt is \d+ tokens; the model's context is 256 tokens/);
    const tooMany = await post('/v1/solve', { problem: 'p', max_tokens: 300 });
    expect(((await tooMany.json()) as any).error.message).toMatch(/max_tokens must be an integer in \[1, 256\]/);
  });
});
