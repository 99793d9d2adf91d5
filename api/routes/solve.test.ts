import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTrajectories } from '../../core/logging/read.ts';
import { TrajectoryLogger } from '../../core/logging/trajectory-logger.ts';
import { LocalQueue } from '../../core/queue/local.ts';
import { decodeQueueMessage } from '../../core/schemas/queue-message.ts';
import { FsObjectStore } from '../../core/storage/fs.ts';
import { ensureModel } from '../../scripts/make-model.ts';
import { ScriptedBackend } from '../../test/reasoning/scripted-backend.ts';
import { createApp } from '../app.ts';
import { execLimits, loadConfig } from '../config.ts';
import { loadTokenizer } from '../models/tokenizer.ts';
import type { Tokenizer } from '../models/types.ts';
import { Sandbox } from '../sandbox/index.ts';
import { createQuickJSNodeExecutor } from '../sandbox/quickjs/node.ts';
import { processWideLogging } from '../trajectory-logging/index.ts';
import { RequestScopedLogging } from '../trajectory-logging/request-scoped.ts';

/** /v1/solve over a scripted model (exact transcripts) with the real sandbox and a real logger on disk. */

let dir: string;
let tokenizer: Tokenizer;
let sandbox: Sandbox;
let store: FsObjectStore;
let queue: LocalQueue;
let logger: TrajectoryLogger;

const SCRIPT = ['Compute:\n```javascript\nconsole.log(2 ** 10 - 1)\n```\n', 'So \\boxed{1023}.'];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cir-solve-route-'));
  tokenizer = await loadTokenizer(await ensureModel('tiny'));
  sandbox = new Sandbox({ executors: [createQuickJSNodeExecutor({ threads: 1 })], limits: execLimits(loadConfig({})), queueLimit: 32 });
  store = new FsObjectStore(join(dir, 'store'));
  queue = new LocalQueue(join(dir, 'queue'));
  logger = await TrajectoryLogger.open({ store, queue, batchMaxRecords: 1000, batchMaxAgeMs: 60_000 });
}, 60_000);

afterAll(async () => {
  await logger?.close();
  await sandbox?.dispose();
  await rm(dir, { recursive: true, force: true });
});

function makeApp(env: Record<string, string> = {}, withModel = true) {
  const backend = new ScriptedBackend(tokenizer, () => SCRIPT);
  return createApp({
    config: loadConfig(env),
    sandbox,
    runtime: 'node',
    served: () => (withModel ? { backend, checkpoint: { version: 'v3', toolBudget: 2 } } : undefined),
    trajectoryLogging: processWideLogging(logger),
    log: () => {},
  });
}

const post = (app: ReturnType<typeof makeApp>, body: unknown) =>
  app.request('/v1/solve', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

describe('POST /v1/solve', () => {
  it('returns every sample with segments, answer, correctness, usage, tool stats; logs each trajectory', async () => {
    const res = await post(makeApp(), { problem: 'What is 2^10 - 1?', gold: '1023', n: 2, seed: 3 });
    expect(res.status).toBe(200);
    const json = (await res.json()) as any;
    expect(json).toMatchObject({ object: 'solve', model: 'scripted', checkpoint_version: 'v3', tool_budget: 2 });
    expect(json.samples).toHaveLength(2);
    const sample = json.samples[0];
    expect(sample.segments.map((s: any) => s.type)).toEqual(['text', 'code', 'output', 'text']);
    expect(sample.segments[2]).toMatchObject({ status: 'ok', output: '1023' });
    expect(sample).toMatchObject({ final_answer: '1023', correct: true, reward: 1, grade_reason: expect.any(String), finish_reason: 'stop' });
    expect(sample.tool_calls).toMatchObject({ used: 1, limit: 2, skipped: 0, by_status: { ok: 1 } });
    expect(sample.usage.tool_tokens).toBeGreaterThan(0);

    await logger.flush();
    const ids = new Set<string>();
    for (const message of await queue.receive({ max: 100, visibilityTimeoutS: 30 })) {
      for (const record of await readTrajectories(store, decodeQueueMessage(message.body))) ids.add(record.id);
      await queue.delete(message.receipt);
    }
    expect(ids).toEqual(new Set(json.samples.map((s: any) => s.trajectory_id)));
    expect(logger.stats()).toMatchObject({ rejected: 0 });
  });

  it('streams segments, then each sample, then done', async () => {
    const res = await post(makeApp(), { problem: 'What is 2^10 - 1?', stream: true });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = parseSse(await res.text());
    expect(events.map((e) => e.event)).toEqual(['segment', 'segment', 'segment', 'segment', 'sample', 'done']);
    expect(events[1]!.data).toMatchObject({ sample: 0, segment: { type: 'code', language: 'javascript' } });
    expect(events[4]!.data).toMatchObject({ final_answer: '1023', finish_reason: 'stop' });
    expect(events[5]!.data).toMatchObject({ object: 'solve', tool_budget: 2 });
  });

  it('answers bad input with 400 and a clear message', async () => {
    const app = makeApp();
    const cases: [unknown, RegExp][] = [
      [{ problem: '' }, /problem must not be empty/],
      [{ problem: '   ' }, /problem must not be empty/],
      [{ problem: 'x'.repeat(32_001) }, /problem must be at most 32000 characters/],
      [{ problem: 'p', n: 0 }, /n must be at least 1/],
      [{ problem: 'p', n: 65 }, /n must be at most 64/],
      [{ problem: 'p', max_tool_calls: 17 }, /max_tool_calls must be at most 16 \(the server cap\)/],
      [{ problem: 'p', max_tool_calls: -1 }, /max_tool_calls must be at least 0/],
      [{ problem: 'p', max_tokens: 999_999 }, /max_tokens must be an integer in \[1, 4096\]/],
      [{ problem: 'p', top_p: 0 }, /top_p/],
      [{ problem: 'p', tags: { api_key: 'x' } }, /tags.api_key looks like a credential/],
      [{ problem: 'p', bogus: 1 }, /bogus/],
      [{ problem: 'p', max_tokens: 999_999, stream: true }, /max_tokens must be an integer/],
    ];
    for (const [body, message] of cases) {
      const res = await post(app, body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      const json = (await res.json()) as any;
      expect(json.error.type).toBe('invalid_request');
      expect(json.error.message).toMatch(message);
    }
    expect((await post(makeApp({ CIR_MAX_TOOL_CALLS: '3', CIR_TOOL_BUDGET: '2' }), { problem: 'p', max_tool_calls: 4 })).status).toBe(400);
  });

  it('answers 503 when no model is configured', async () => {
    const res = await post(makeApp({}, false), { problem: 'p' });
    expect(res.status).toBe(503);
    expect(((await res.json()) as any).error.message).toMatch(/no model is configured/);
  });

  it('with checkpoints watched but none loaded, answers 503 saying why instead of asking for variables that are set', async () => {
    const status = { prefix: 'ckpt', poll_ms: 1000, serving: null, loading: null, last_check_at: null, last_error: null, swaps: 0, swapped_in: [], draining: 0, checking_since: null, note: null };
    const app = createApp({
      config: loadConfig({}),
      sandbox,
      runtime: 'node',
      served: () => undefined,
      checkpoints: {
        status: () => ({ ...status, refused: [{ version: 'v9', reason: 'checkpoint v9: file model.onnx is missing from the store', at: '' }] }),
        check: async () => ({ outcome: 'unchanged' }),
      },
      log: () => {},
    });
    const res = await post(app, { problem: 'p' });
    expect(res.status).toBe(503);
    const message = ((await res.json()) as any).error.message;
    expect(message).toBe('no checkpoint from ckpt/ is being served yet (checkpoint v9: file model.onnx is missing from the store); GET /v1/info shows checkpoint.watch');
  });

  it('on Workers, logs each request through its own logger and keeps the request alive until delivered', async () => {
    const logging = new RequestScopedLogging({ store, queue, batchMaxAgeMs: 60_000 });
    const app = createApp({
      config: loadConfig({}),
      sandbox,
      runtime: 'workerd',
      served: () => ({ backend: new ScriptedBackend(tokenizer, () => SCRIPT), checkpoint: { version: 'v3' } }),
      trajectoryLogging: logging,
      log: () => {},
    });
    const solve = (n: number) => {
      const kept: Promise<unknown>[] = [];
      const executionCtx = { waitUntil: (p: Promise<unknown>) => void kept.push(p), passThroughOnException: () => {}, props: {} };
      const init = { method: 'POST', body: JSON.stringify({ problem: 'p', n }), headers: { 'content-type': 'application/json' } };
      return { kept, response: app.request('/v1/solve', init, {}, executionCtx) };
    };
    // Two requests at once: neither's records may ride in the other's batch (a batch timer of one minute would hold them).
    const [a, b] = [solve(3), solve(2)];
    const [ra, rb] = await Promise.all([a.response, b.response]);
    expect([ra.status, rb.status]).toEqual([200, 200]);
    expect([a.kept.length, b.kept.length]).toEqual([1, 1]);
    await Promise.all([...a.kept, ...b.kept]);
    expect(logging.stats()).toMatchObject({ accepted: 5, stored: 5, queued: 5, buffered: 0, backlog: 0 });

    const sampleIds = async (res: Response) => ((await res.json()) as { samples: { trajectory_id: string }[] }).samples.map((s) => s.trajectory_id).sort();
    const groups = [await sampleIds(ra), await sampleIds(rb)];
    const messages = (await queue.receive({ max: 100, visibilityTimeoutS: 60 })).map((m) => decodeQueueMessage(m.body));
    const batches = await Promise.all(messages.map(async (message) => (await readTrajectories(store, message)).map((r) => r.id).sort()));
    for (const group of groups) expect(batches).toContainEqual(group);
  });

  it('reports the logger in /v1/info', async () => {
    const info = (await (await makeApp().request('/v1/info')).json()) as any;
    expect(info.trajectories).toMatchObject({ accepted: expect.any(Number), stored: expect.any(Number), queued: expect.any(Number) });
  });
});

function parseSse(text: string): { event: string; data: any }[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event:'))?.slice(6).trim() ?? 'message';
      const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
      return { event, data: JSON.parse(data) };
    });
}
