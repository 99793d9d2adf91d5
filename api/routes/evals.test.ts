import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../app.ts';
import { loadConfig } from '../config.ts';
import { loadModelBackend, type ModelBackend } from '../models/index.ts';
import type { ServedModel } from '../models/served.ts';
import type { Sandbox } from '../sandbox/index.ts';
import { createEvalService } from '../../eval/service.ts';
import { ensureModel } from '../../scripts/make-model.ts';
import { dataDir, jsSandbox, tempDir } from '../../test/eval/fixtures.ts';
import type { EvalRunView } from './evals.ts';

/** POST /v1/evals runs an evaluation in the background over the served (fixture) model; GET reports it. */

let backend: ModelBackend;
let sandbox: Sandbox;
let served: ServedModel;
let data: string;

beforeAll(async () => {
  backend = await loadModelBackend({ kind: 'onnx', dir: await ensureModel('tiny'), threads: 1 });
  sandbox = jsSandbox();
  served = { backend, checkpoint: { version: 'ckpt-3' } };
  data = dataDir();
}, 120_000);

afterAll(async () => {
  await Promise.all([sandbox?.dispose(), backend?.dispose()]);
});

function setup(runsDir = tempDir('runs')) {
  const evals = createEvalService({ served: () => served, sandbox, runsDir, dataDir: data, maxRunning: 1, log: () => {} });
  const app = createApp({ config: loadConfig({}), sandbox, runtime: 'node', served: () => served, evals, log: () => {} });
  const post = (body: unknown) => app.request('/v1/evals', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const get = async (id: string) => {
    const res = await app.request(`/v1/evals/${id}`);
    return { status: res.status, body: (await res.json()) as EvalRunView & { error: { type: string; message: string } } };
  };
  return { app, evals, post, get, runsDir };
}

async function waitFor(get: (id: string) => Promise<{ body: EvalRunView }>, id: string): Promise<EvalRunView> {
  for (let i = 0; i < 300; i++) {
    const { body } = await get(id);
    if (body.status !== 'running') return body;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('evaluation did not finish');
}

describe('/v1/evals', () => {
  it('starts a run, reports progress, and ends with the metrics', async () => {
    const { post, get, evals, runsDir } = setup();
    const res = await post({ benchmarks: ['mini'], k: 2, limit: 2, max_tokens: 12, max_tool_calls: 1 });
    expect(res.status).toBe(202);
    const started = (await res.json()) as EvalRunView;
    expect(res.headers.get('location')).toBe(`/v1/evals/${started.id}`);
    expect(started).toMatchObject({ status: 'running', model: backend.info.id, checkpoint: 'ckpt-3', benchmarks: [{ name: 'mini', problems: 2 }] });
    expect(started.progress.total).toBe(4);

    const finished = await waitFor(get, started.id);
    expect(finished.status).toBe('done');
    expect(finished.progress).toMatchObject({ done: 4, total: 4, fraction: 1 });
    const summary = finished.metrics as { metric: string; benchmarks: { name: string; samples: number; accuracy: number }[] };
    expect(summary.metric).toBe('avg@2');
    expect(summary.benchmarks[0]).toMatchObject({ name: 'mini', samples: 4 });
    expect(typeof summary.benchmarks[0]!.accuracy).toBe('number');

    // A server started later over the same directory still answers for the run.
    const later = setup(runsDir);
    const fromDisk = await later.get(started.id);
    expect(fromDisk.status).toBe(200);
    expect(fromDisk.body).toMatchObject({ id: started.id, status: 'done', progress: { done: 4, total: 4 } });
    const list = (await (await later.app.request('/v1/evals')).json()) as { data: EvalRunView[] };
    expect(list.data.map((r) => r.id)).toEqual([started.id]);
    await evals.dispose();
  });

  it('cancels a running evaluation, keeping its finished samples, and refuses more runs than allowed', async () => {
    const { app, post, get, evals } = setup();
    const started = (await (await post({ benchmarks: ['mini'], k: 8, max_tokens: 200, concurrency: 1 })).json()) as EvalRunView;
    const busy = await post({ benchmarks: ['mini'], k: 1 });
    expect(busy.status).toBe(429);
    expect(((await busy.json()) as { error: { message: string } }).error.message).toMatch(/1 evaluations are running \(the limit is 1\)/);
    const res = await app.request(`/v1/evals/${started.id}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    const cancelled = (await res.json()) as EvalRunView;
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.progress.done).toBeLessThan(24);
    expect((await get(started.id)).body.status).toBe('cancelled');
    await evals.dispose();
  });

  it('answers bad requests with 4xx and a message', async () => {
    const { post, get, evals } = setup();
    const cases: [unknown, number, RegExp][] = [
      [{ benchmarks: ['../../etc/passwd'] }, 400, /not a path/],
      [{ benchmarks: [] }, 400, /at least one benchmark/],
      [{ benchmarks: ['mini', 'mini'] }, 400, /listed twice/],
      [{ benchmarks: ['mini'], k: 0 }, 400, /^k: /],
      [{ benchmarks: ['mini'], max_tool_calls: 65 }, 400, /max_tool_calls/],
      [{ benchmarks: ['mini'], limit: 0 }, 400, /limit/],
      [{ benchmarks: ['mini'], nope: 1 }, 400, /nope/],
      [{ benchmarks: ['mini'], greedy: true, k: 4 }, 400, /^greedy takes no k \(greedy is one temperature-0 solution per problem\)$/],
      [{ benchmarks: ['mini'], greedy: true, temperature: 0.7, top_p: 0.9 }, 400, /^greedy takes no temperature, top_p /],
      [{ benchmarks: ['mini'], k: 1025 }, 400, /^k: /],
      [{ benchmarks: ['mini'], max_tokens: 100_000 }, 400, /max tokens must be an integer in \[1, 256\]/],
      [{ benchmarks: ['missing'] }, 400, /benchmark "missing": no file .* has: mini/],
    ];
    for (const [body, status, message] of cases) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      const error = ((await res.json()) as { error: { type: string; message: string } }).error;
      expect(error.type).toBe('invalid_request');
      expect(error.message).toMatch(message);
    }
    const unknown = await get('ev_000000000000000000000000');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.type).toBe('not_found');
    await evals.dispose();
  });

  it('answers 501 where no runner is available (Workers)', async () => {
    const app = createApp({ config: loadConfig({}), sandbox, runtime: 'workerd', log: () => {} });
    const res = await app.request('/v1/evals', { method: 'POST', body: JSON.stringify({ benchmarks: ['mini'] }), headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(501);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/Node server/);
    expect((await app.request('/v1/evals/ev_1')).status).toBe(501);
  });
});
