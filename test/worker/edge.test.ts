import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMBEDDED_MODEL_NAME } from '../../api/models/embedded-name.ts';
import { startNodeServer, type RunningServer } from '../../api/node.ts';
import { CloudflareHttpQueue } from '../../core/queue/cloudflare-http.ts';
import { decodeQueueMessage } from '../../core/schemas/queue-message.ts';
import { readTrajectories } from '../../core/logging/read.ts';
import { R2ObjectStore, type R2BucketLike } from '../../core/storage/r2.ts';
import { buildBatch } from '../../trainer/batch/build.ts';
import { createCpuEngine } from '../../trainer/engines/cpu/engine.ts';
import { publishCheckpoint } from '../../trainer/publish/publish.ts';
import { parseBudgetSchedule } from '../../trainer/run/budget.ts';
import { runTrainingJob } from '../../trainer/run/job.ts';
import { Progress } from '../../trainer/run/progress.ts';
import { Trainer } from '../../trainer/run/trainer.ts';
import { fakeCloudflare } from '../queue/cloudflare-fake.ts';

/**
 * The edge end to end, in workerd: the Worker exactly as `wrangler deploy` bundles it (built here with
 * `--dry-run --outdir`, whose compressed size is checked against the paid plan's limit), run by
 * Miniflare with a local R2 bucket and a local Queue. Its model server is the project's own `cir serve`
 * with the embedded model (token-in/token-out /v1/completions, as vLLM). A /v1/solve logs to R2 and
 * announces on the queue; the trainer reads R2 and consumes the queue, trains a step and publishes a
 * checkpoint into R2; the Worker reads `latest` and serves it (version and tool budget in /v1/info).
 *
 * Miniflare does not simulate Cloudflare's HTTP pull consumer, so a second Worker consumes the local
 * queue and hands each message to an in-memory copy of the pull API (test/queue/cloudflare-fake.ts),
 * which the trainer's CloudflareHttpQueue (CIR_QUEUE=cloudflare) pulls from. R2's S3 API is not simulated
 * either: the trainer reads and publishes through Miniflare's R2 binding from Node (the same bucket).
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
/** Workers paid plan: 10 MB after compression (free plan: 3 MB). */
const PAID_PLAN_LIMIT = 10 * 1024 * 1024;
const TOKEN = 'cf-api-token';

/** Consumes the local queue and forwards each body to the pull API, as Cloudflare's queue would hold it for an http_pull consumer. */
const FORWARDER = `
export default {
  async queue(batch, env) {
    for (const message of batch.messages) {
      const response = await env.PULL_API.fetch('https://api.cloudflare.com/client/v4/accounts/acc/queues/q1/messages', {
        method: 'POST',
        headers: { authorization: 'Bearer ${TOKEN}', 'content-type': 'application/json' },
        body: JSON.stringify({ body: message.body, content_type: 'text' }),
      });
      if (response.ok) message.ack(); else message.retry();
    }
  },
};`;

let dir = '';
let bundleDir = '';
let modelServer: RunningServer | undefined;
let mf: Miniflare | undefined;
const cloudflare = fakeCloudflare(TOKEN);
/** What workerd printed: its warnings about requests sharing promises land here. */
let runtimeOutput = '';

async function bucket(): Promise<R2ObjectStore> {
  return new R2ObjectStore((await mf!.getR2Bucket('CHECKPOINTS', 'cir')) as unknown as R2BucketLike);
}

async function call(worker: string, path: string, body?: unknown): Promise<{ status: number; headers: Headers; json: Record<string, any> }> {
  const fetcher = (await mf!.getWorker(worker)) as unknown as { fetch(url: string, init?: RequestInit): Promise<Response> };
  const response = await fetcher.fetch(`http://localhost${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, headers: response.headers, json: (await response.json()) as Record<string, any> };
}

/** Polls (each call is a request, which is what makes an isolate look at `latest`) until `done`, or fails with the last answer. */
async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value).slice(0, 400)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cir-edge-'));
  bundleDir = join(dir, 'bundle');
  await promisify(execFile)(process.execPath, [WRANGLER, 'deploy', '--dry-run', '--outdir', bundleDir], {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' },
  });
  modelServer = await startNodeServer({
    PORT: '0',
    HOST: '127.0.0.1',
    CIR_MODEL_DIR: join(ROOT, 'model/default'),
    CIR_MODEL_NAME: EMBEDDED_MODEL_NAME,
    CIR_MODEL_THREADS: '1',
    CIR_DATA_DIR: join(dir, 'model-server'),
    CIR_PYTHON_EXECUTOR: 'off',
    CIR_LOG_LEVEL: 'warn',
    // workerd keeps its connections to the model server open: closing need not wait for them.
    CIR_SHUTDOWN_MS: '500',
  });
  const worker = (name: string, bindings: Record<string, string>, extra: Record<string, unknown> = {}) => ({
    name,
    modules: true,
    scriptPath: join(bundleDir, 'worker.js'),
    modulesRoot: bundleDir,
    modulesRules: [{ type: 'CompiledWasm' as const, include: ['**/*-wasm'] }],
    compatibilityDate: '2026-04-01',
    bindings: { CIR_EXEC_MEMORY_MB: '64', CIR_EXEC_MAX_MEMORY_MB: '64', CIR_LOG_LEVEL: 'warn', ...bindings },
    ...extra,
  });
  mf = new Miniflare({
    cf: false,
    handleRuntimeStdio(stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) {
      for (const stream of [stdout, stderr]) {
        stream.on('data', (chunk: Buffer) => {
          runtimeOutput += chunk.toString();
          process.stderr.write(chunk);
        });
      }
    },
    workers: [
      worker(
        'cir',
        { CIR_MODEL_URL: `${modelServer.url}/v1`, CIR_CHECKPOINTS: 'checkpoints', CIR_CHECKPOINT_POLL_MS: '100', CIR_MODEL_RETRIES: '1' },
        { r2Buckets: { TRAJECTORIES: 'cir', CHECKPOINTS: 'cir' }, queueProducers: { TRAJECTORY_QUEUE: 'cir-trajectories' } },
      ),
      // Its model server is not listening: requests must end quickly with 503 + Retry-After.
      worker('cir-no-server', { CIR_MODEL_URL: 'http://127.0.0.1:9/v1', CIR_MODEL_RETRIES: '0' }),
      worker('cir-no-binding', { CIR_MODEL_URL: `${modelServer.url}/v1`, CIR_CHECKPOINTS: 'checkpoints' }),
      {
        name: 'forwarder',
        modules: true,
        script: FORWARDER,
        compatibilityDate: '2026-04-01',
        queueConsumers: { 'cir-trajectories': { maxBatchTimeout: 1 } },
        serviceBindings: {
          PULL_API: async (request: { url: string; text(): Promise<string>; headers: Headers }) =>
            cloudflare.fetch(request.url, { method: 'POST', headers: Object.fromEntries(request.headers as unknown as Iterable<[string, string]>), body: await request.text() }),
        },
      },
    ],
  } as ConstructorParameters<typeof Miniflare>[0]);
  await mf.ready;
}, 120_000);

afterAll(async () => {
  await mf?.dispose();
  await modelServer?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the Worker bundle', () => {
  it('fits the Workers paid plan (10 MB compressed)', async () => {
    const files = (await readdir(bundleDir)).filter((name) => !name.endsWith('.map') && name !== 'README.md');
    let raw = 0;
    let compressed = 0;
    for (const name of files) {
      const bytes = await readFile(join(bundleDir, name));
      raw += bytes.length;
      compressed += gzipSync(bytes, { level: 9 }).length;
    }
    console.log(`Worker bundle (${files.join(', ')}): ${(raw / 1024).toFixed(0)} KiB, ${(compressed / 1024).toFixed(0)} KiB gzip; paid-plan limit ${PAID_PLAN_LIMIT / 1024} KiB`);
    expect(files).toContain('worker.js');
    expect(compressed).toBeLessThan(PAID_PLAN_LIMIT);
  });
});

describe('the Worker in workerd with R2, Queues, a model server and the trainer', () => {
  it('answers 503 with Retry-After, naming the store, until a checkpoint is published', async () => {
    const { status, headers, json } = await call('cir', '/v1/solve', { problem: 'What is 2 times 3?' });
    expect(status).toBe(503);
    expect(headers.get('retry-after')).toBe('5');
    expect(json.error.message).toMatch(/nothing is published under checkpoints\/ yet/);
  });

  it('solves, logs to R2 and the queue; the trainer consumes, publishes, and the Worker swaps to it', async () => {
    const store = await bucket();
    await publishCheckpoint({ store, prefix: 'checkpoints', modelDir: join(ROOT, 'model/default'), version: 'base', parent: null, step: 0, schedule: parseBudgetSchedule('0:2,1:3') });
    const info = await until('the Worker serving base', () => call('cir', '/v1/info'), (r) => r.json.checkpoint?.version === 'base');
    expect(info.json).toMatchObject({ runtime: 'workerd', checkpoint: { version: 'base', tool_budget: 2, watch: { prefix: 'checkpoints', serving: 'base' } } });

    // Concurrent requests, each with its own logger: every sample of each must reach R2 and the queue,
    // and no request may settle a promise another request's context created.
    const problems = ['What is 407 times 94? Give the answer modulo 748.', 'Find gcd(868, 651).', 'What is the sum of the digits of 2^20?'];
    const golds = ['110', '217', '31'];
    const solved = await Promise.all(problems.map((problem, i) => call('cir', '/v1/solve', { problem, gold: golds[i], n: 2, temperature: 1, seed: i })));
    const samples = solved.flatMap((s) => {
      expect(s.status).toBe(200);
      return s.json.samples as { trajectory_id: string; tool_calls: { limit: number } }[];
    });
    expect(samples).toHaveLength(6);
    expect(samples[0]!.tool_calls.limit).toBe(2);

    // Delivered by the Worker (R2 put, then the queue), forwarded to the pull API by the consumer Worker.
    const sent = async () => cloudflare.requests.filter((r) => r.path.endsWith('/q1/messages')).map((r) => decodeQueueMessage(String(r.body.body)));
    const messages = await until('every sample announced', sent, (m) => m.reduce((n, message) => n + message.count, 0) >= samples.length);
    const records = (await Promise.all(messages.map((message) => readTrajectories(store, message)))).flat();
    expect(records.map((r) => r.id).sort()).toEqual(samples.map((s) => s.trajectory_id).sort());
    expect(records[0]).toMatchObject({ checkpoint_version: 'base', model: EMBEDDED_MODEL_NAME, budget: { limit: 2 } });
    // One request, one group, one batch.
    expect(messages.map((m) => m.count).sort()).toEqual([2, 2, 2]);
    expect(runtimeOutput).not.toMatch(/different request/i);

    const queue = new CloudflareHttpQueue({ accountId: 'acc', queueId: 'q1', apiToken: TOKEN, fetch: cloudflare.fetch });
    const trainer = await Trainer.open({
      runDir: join(dir, 'run'),
      store,
      queue,
      prefix: 'checkpoints',
      createEngine: (init, options) => createCpuEngine(init, { ...options, threads: 1 }),
      buildBatch: (rs) => buildBatch(rs),
      schedule: parseBudgetSchedule('0:2,1:3'),
      queueWaitS: 0,
      visibilityTimeoutS: 60,
      progress: new Progress(new PassThrough()),
    });
    let version: string;
    try {
      const job = await runTrainingJob(trainer, { loop: false, maxSteps: 1 });
      expect(job.consumed).toMatchObject({ messages: messages.length, accepted: samples.length });
      expect(job.steps).toHaveLength(1);
      version = job.steps[0]!.version;
    } finally {
      await trainer.close();
    }

    const swapped = await until('the Worker serving the trained checkpoint', () => call('cir', '/v1/info'), (r) => r.json.checkpoint?.version === version);
    expect(swapped.json.checkpoint).toMatchObject({ version, tool_budget: 3, watch: { serving: version, swaps: 2, refused: [] } });
    const again = await call('cir', '/v1/solve', { problem: 'What is 12 times 11?', temperature: 0 });
    expect(again.status).toBe(200);
    expect(again.json.samples[0].tool_calls.limit).toBe(3);
  }, 60_000);

  it('answers 503 with Retry-After when the model server goes away, and does not hang', async () => {
    const started = Date.now();
    const { status, headers, json } = await call('cir-no-server', '/v1/solve', { problem: 'What is 2 times 3?' });
    expect(status).toBe(503);
    expect(headers.get('retry-after')).toBe('5');
    expect(json.error.message).toMatch(/model server http:\/\/127\.0\.0\.1:9\/v1/);
    expect((await call('cir-no-server', '/v1/models')).status).toBe(503);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('names the missing binding', async () => {
    const { status, json } = await call('cir-no-binding', '/v1/info');
    expect(status).toBe(500);
    expect(json.error.message).toMatch(/R2 bucket binding CHECKPOINTS/);
  });
});
