import wasmModule from '@jitl/quickjs-wasmfile-release-sync/wasm';
import type { ExecutionContext, Hono } from 'hono';
import { CloudflareQueueProducer, type CloudflareQueueBinding } from '../core/queue/cloudflare.ts';
import { R2ObjectStore, type R2BucketLike } from '../core/storage/r2.ts';
import { createApp } from './app.ts';
import { edgeServingFromEnv } from './edge/env.ts';
import { EdgeServing } from './edge/serving.ts';
import { loadConfig, type Config } from './config.ts';
import { ApiError } from './errors.ts';
import { accessLogSink } from './middleware/access-log/index.ts';
import { createSandboxFromConfig, type Sandbox } from './sandbox/index.ts';
import { createQuickJSWorkerdExecutor } from './sandbox/quickjs/workerd.ts';
import { RequestScopedLogging } from './trajectory-logging/request-scoped.ts';
import { createSandboxFusionExecutor } from './sandbox/sandboxfusion.ts';
import type { Executor, Language } from './sandbox/types.ts';

/**
 * The Cloudflare Workers entry (wrangler.toml's `main`): the same app as on Node. JavaScript
 * runs in QuickJS inside the isolate; Python cannot run here, so it goes to a SandboxFusion
 * server when CIR_SANDBOX_URL is set, and is otherwise answered 501 by the app. The model is an
 * OpenAI-compatible server (CIR_MODEL_URL), with the bundled tokenizer or the latest checkpoint's
 * from R2 (api/edge/).
 */

/** Vars and secrets are strings; other bindings (KV, R2...) are objects and not configuration. */
type Env = Record<string, unknown>;

interface Built {
  app: Hono;
  /** The model server and the checkpoint (or bundled tokenizer) served with it; absent: no CIR_MODEL_URL. */
  serving?: EdgeServing;
}

/** Built on the first request, from that request's env: the bindings are the same for the isolate's life. */
let built: Promise<Built | Error> | undefined;

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    built ??= build(env);
    const ready = await built;
    if (ready instanceof Error) {
      // A misconfigured deployment says why on every request instead of failing opaquely.
      const body = { error: { type: 'internal' satisfies ApiError['type'], message: ready.message } };
      return Response.json(body, { status: 500 });
    }
    // Connects to the model server if nothing is served yet; looks at R2's `latest` when due.
    await ready.serving?.beforeRequest((work) => ctx.waitUntil(work));
    return ready.app.fetch(request, env, ctx);
  },
};

async function build(env: Env): Promise<Built | Error> {
  try {
    const vars = configVars(env);
    const config = loadConfig(vars);
    const servingOptions = edgeServingFromEnv(vars, env);
    const trajectories = workerTrajectoryLogging(env);
    const serving = servingOptions && new EdgeServing(servingOptions);
    const app = createApp({
      config,
      sandbox: createWorkerSandbox(config),
      runtime: 'workerd',
      // Cloudflare sets it to the visitor's address.
      clientAddress: (c) => c.req.header('cf-connecting-ip'),
      ...accessLogSink(config, (line) => console.log(line)),
      ...(trajectories && { trajectoryLogging: trajectories.logging, trajectoryStore: trajectories.store }),
      ...(serving && {
        served: () => serving.slot.current(),
        holdServed: () => serving.slot.hold(),
        noModel: () => serving.noModel(),
        ...(servingOptions.checkpoints && { checkpoints: serving }),
      }),
    });
    return { app, ...(serving && { serving }) };
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/**
 * Trajectories go to the R2 bucket bound as TRAJECTORIES and are announced on the queue bound as
 * TRAJECTORY_QUEUE (both or neither). There is no disk for a spool here, and an isolate's requests
 * must not share a logger: each request gets its own, kept alive with ctx.waitUntil until its records
 * are delivered (api/trajectory-logging/request-scoped.ts).
 */
function workerTrajectoryLogging(env: Env): { logging: RequestScopedLogging; store: R2ObjectStore } | undefined {
  const bucket = env.TRAJECTORIES as R2BucketLike | undefined;
  const queue = env.TRAJECTORY_QUEUE as CloudflareQueueBinding | undefined;
  if (!bucket && !queue) return undefined;
  if (!bucket || !queue) throw new Error('trajectory logging needs both bindings: the R2 bucket TRAJECTORIES and the queue TRAJECTORY_QUEUE');
  const store = new R2ObjectStore(bucket);
  return { logging: new RequestScopedLogging({ store, queue: new CloudflareQueueProducer(queue), batchMaxAgeMs: 1_000 }), store };
}

function configVars(env: Env): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (typeof value === 'string') vars[key] = value;
  return vars;
}

function createWorkerSandbox(config: Config): Sandbox {
  const executors: Executor[] = [createQuickJSWorkerdExecutor({ wasmModule })];
  const unavailableReasons: Partial<Record<Language, string>> = {};
  const mode = config.CIR_PYTHON_EXECUTOR;
  if (mode === 'bwrap') throw new Error('CIR_PYTHON_EXECUTOR=bwrap is impossible on Cloudflare Workers: use remote with CIR_SANDBOX_URL');
  if (mode === 'off') {
    unavailableReasons.python = 'disabled by CIR_PYTHON_EXECUTOR=off';
  } else if (config.CIR_SANDBOX_URL) {
    executors.push(createSandboxFusionExecutor({ url: config.CIR_SANDBOX_URL, apiKey: config.CIR_SANDBOX_API_KEY, languages: ['python'] }));
  } else {
    unavailableReasons.python = 'Cloudflare Workers cannot run Python in-process; set CIR_SANDBOX_URL to a SandboxFusion-compatible server';
  }
  return createSandboxFromConfig(config, executors, unavailableReasons, true);
}
