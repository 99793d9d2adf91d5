import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/env.ts';
import { jsSandbox } from '../../test/eval/fixtures.ts';
import { createApp } from '../app.ts';
import { checkpointRoutes } from '../checkpoints/routes.ts';
import { loadConfig } from '../config.ts';
import { onError } from '../middleware/errors/index.ts';
import { createRunService } from './service.ts';

/** GET /v1/runs over CIR_RUNS_DIR (run names only, never paths) and GET /v1/checkpoints. */

const sandbox = jsSandbox();
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cir-runs-'));
  await mkdir(join(root, 'runs', 'demo'), { recursive: true });
  await mkdir(join(root, 'runs', 'not-a-run'));
  const lines = [1, 2, 3].map((step) => JSON.stringify({ step, version: `demo-step-${step}`, reward: step / 3, accuracy: 0.5 }));
  await writeFile(join(root, 'runs', 'demo', 'metrics.jsonl'), `${lines.join('\n')}\n{"step": 4, "cut sh`);
  await writeFile(join(root, 'runs', 'demo', 'settings.json'), '{"lr": 0.000001}');
  await writeFile(join(root, 'secret.txt'), 'no');
});
afterAll(async () => {
  await sandbox.dispose();
  await rm(root, { recursive: true, force: true });
});

const get = async (app: { request: (p: string) => Response | Promise<Response> }, path: string) => {
  const res = await app.request(path);
  return { status: res.status, body: (await res.json()) as any };
};

describe('GET /v1/runs', () => {
  it('lists run directories and serves a run metrics lines after a step', async () => {
    const app = createApp({ config: loadConfig({}), sandbox, runtime: 'node', runs: await createRunService(join(root, 'runs')) });
    const list = await get(app, '/v1/runs');
    expect(list.body.data.map((r: any) => r.name)).toEqual(['demo']);
    const run = await get(app, '/v1/runs/demo?after_step=1');
    expect(run.status).toBe(200);
    expect(run.body.metrics.map((m: any) => m.step)).toEqual([2, 3]); // the line cut short by a crash is not a step
    expect(run.body.settings).toEqual({ lr: 0.000001 });
    for (const name of ['..', '.hidden', '%2e%2e', 'a%2Fb']) expect((await get(app, `/v1/runs/${name}`)).status, name).not.toBe(200);
    expect((await get(app, '/v1/runs/..%2Fsecret.txt')).body.error.message).toMatch(/named by its directory/);
    expect((await get(app, '/v1/runs/missing')).status).toBe(404);
    expect((await get(app, '/v1/runs/not-a-run')).status).toBe(404);
    expect((await get(app, '/v1/runs/demo?after_step=x')).status).toBe(400);
  });

  it('answers 501 without a runs directory, and start-up refuses a CIR_RUNS_DIR that is a file', async () => {
    expect((await get(createApp({ config: loadConfig({}), sandbox, runtime: 'workerd' }), '/v1/runs')).status).toBe(501);
    await expect(createRunService(join(root, 'secret.txt'))).rejects.toThrow(ConfigError);
    expect((await (await createRunService(join(root, 'nothing-yet'))).list())).toEqual([]);
  });
});

describe('GET /v1/checkpoints', () => {
  it('lists what the control publishes with the watch status, or 501 when nothing is watched', async () => {
    const status = { prefix: 'ckpt', poll_ms: 1000, serving: 'v2', loading: null, last_check_at: null, last_error: null, refused: [], swaps: 1, swapped_in: [{ version: 'v2', at: '2026-12-05T10:00:00.000Z' }], draining: 0, checking_since: null, note: null };
    const published = [{ version: 'v2', parent: 'v1', step: 2, created_at: '2026-12-05T09:59:00.000Z', tool_budget: { limit: 2, schedule: [{ step: 0, limit: 2 }] }, metrics: { reward: 0.5 } }];
    const app = checkpointRoutes({ status: () => status, check: async () => ({ outcome: 'unchanged' }), published: async () => published });
    expect((await get(app, '/v1/checkpoints')).body).toEqual({ data: published, watch: status });
    const unwatched = new Hono().onError(onError(() => {})).route('/', checkpointRoutes(undefined));
    expect((await get(unwatched, '/v1/checkpoints')).status).toBe(501);
  });
});
