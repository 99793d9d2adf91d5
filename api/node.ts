import type { HttpBindings } from '@hono/node-server';
import { createApp } from './app.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { basename, resolve } from 'node:path';
import { createTrajectoryLoggingFromEnv } from '../core/logging/from-env.ts';
import { startCheckpointServing } from './checkpoints/serve.ts';
import { loadModelBackend, modelSpecFromEnv, type ModelSpec } from './models/index.ts';
import type { ServedModel } from './models/served.ts';
import { createHttpServer, httpLimits, shutDownHttpServer } from './http/server.ts';
import { GradingPool } from './grading/pool/index.ts';
import { accessLogSink } from './middleware/access-log/index.ts';
import { createNodeSandbox } from './node-deps.ts';
import { reasoningSettingsFromConfig } from './reasoning/index.ts';
import { benchmarksDir } from '../eval/benchmarks.ts';
import { createEvalService } from '../eval/service.ts';
import { createRunService } from './runs/service.ts';
import { processWideLogging } from './trajectory-logging/index.ts';

export interface RunningServer {
  url: string;
  config: Config;
  close(): Promise<void>;
}

/** Serves the app on Node with deps built from `env`. Resolves once listening. */
export async function startNodeServer(env: Record<string, string | undefined> = process.env): Promise<RunningServer> {
  const config = loadConfig(env);
  const modelSpec = modelSpecFromEnv(env);
  const runs = await createRunService(config.CIR_RUNS_DIR);
  const sandbox = await createNodeSandbox(config, { shared: true });
  const model = modelSpec ? await loadModelBackend(modelSpec).catch(async (e) => {
    await sandbox.dispose();
    // A model that does not load is a deployment mistake: say which, without a stack trace.
    throw new ConfigError([`model (${modelSpec.kind === 'onnx' ? 'CIR_MODEL_DIR' : 'CIR_MODEL_URL'}): ${(e as Error).message}`]);
  }) : undefined;
  const served = model ? { backend: model, checkpoint: { version: 'static' } } : undefined;
  const checkpoints = await startCheckpoints(env, config, modelSpec, served).catch(async (e) => {
    await Promise.all([sandbox.dispose(), model?.dispose()]);
    throw e;
  });
  const logging = await createTrajectoryLoggingFromEnv(env, { dataDir: config.CIR_DATA_DIR }).catch(async (e) => {
    await Promise.all([sandbox.dispose(), checkpoints ? checkpoints.close() : model?.dispose()]);
    throw e;
  });
  // Grading off the event loop, with a hard deadline: no answer can stall the server.
  const grader = new GradingPool({ threads: config.CIR_GRADING_THREADS });
  const servedNow = checkpoints ? () => checkpoints.slot.current() : () => served;
  const holdServed = checkpoints && (() => checkpoints.slot.hold());
  // Background evaluations (POST /v1/evals) over the served model; run directories under CIR_DATA_DIR/evals.
  const evals = createEvalService({
    served: servedNow,
    sandbox,
    runsDir: resolve(config.CIR_DATA_DIR, 'evals'),
    dataDir: benchmarksDir(env),
    settings: reasoningSettingsFromConfig(config),
    grader,
    ...(holdServed && { holdServed }),
  });
  const app = createApp({
    config,
    sandbox,
    runtime: 'node',
    grader,
    trajectoryLogging: processWideLogging(logging.logger),
    served: servedNow,
    evals,
    trajectoryStore: logging.store,
    runs,
    clientAddress: (c) => (c.env as HttpBindings | undefined)?.incoming?.socket.remoteAddress,
    ...accessLogSink(config, (line) => console.error(line)),
    ...(checkpoints && { holdServed, checkpoints: checkpoints.watcher }),
  });
  const release = async (loggingTimeoutMs?: number) => {
    // Running evaluations stop (resumable) and write their reports before the model goes away.
    await evals.dispose();
    // The slot owns the static model once checkpoints are watched (it may already be swapped out).
    await Promise.all([sandbox.dispose(), grader.dispose(), checkpoints ? checkpoints.close() : model?.dispose()]);
    // Every accepted trajectory is delivered, or left in the spool (and write-ahead log) for the next start.
    await logging.close(loggingTimeoutMs === undefined ? undefined : { timeoutMs: loggingTimeoutMs });
  };
  const server = createHttpServer(app.fetch, httpLimits(config));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.PORT, config.HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    // The port is taken or not ours to bind: say so, without leaving pools and the model behind.
    await release();
    throw new ConfigError([`cannot listen on ${config.HOST}:${config.PORT}: ${(error as Error).message}`]);
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  return {
    url: `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`,
    config,
    async close() {
      // Stop accepting, answer what is in flight (keep-alive clients told to go), within CIR_SHUTDOWN_MS; then release the rest.
      const started = Date.now();
      await shutDownHttpServer(server, config.CIR_SHUTDOWN_MS);
      // Delivering trajectories gets what is left of the deadline (at least a second); what is not delivered stays spooled.
      await release(Math.max(1_000, config.CIR_SHUTDOWN_MS - (Date.now() - started)));
    },
  };
}

/**
 * Hot-swapped checkpoints when CIR_CHECKPOINTS is set (api/checkpoints/): each is loaded with the
 * server's ONNX options under one stable model name, so clients naming the model are not broken by a swap.
 */
async function startCheckpoints(env: Record<string, string | undefined>, config: Config, modelSpec: ModelSpec | undefined, initial: ServedModel | undefined) {
  if (!env.CIR_CHECKPOINTS) return undefined;
  if (modelSpec?.kind === 'openai') throw new ConfigError(['CIR_CHECKPOINTS serves ONNX checkpoints in-process; it cannot be combined with CIR_MODEL_URL']);
  const options = modelSpec?.kind === 'onnx' ? modelSpec : undefined;
  const id = options?.id ?? (options ? basename(resolve(options.dir)) : 'cir');
  return startCheckpointServing(env, {
    dataDir: config.CIR_DATA_DIR,
    initial,
    load: (dir) => loadModelBackend({ ...options, kind: 'onnx', dir, id }),
    log: (message, error) => console.error(message, error ?? ''),
  });
}
