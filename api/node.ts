import { serve, type ServerType } from '@hono/node-server';
import { createApp } from './app.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { loadModelBackend, modelSpecFromEnv } from './models/index.ts';
import { createNodeSandbox } from './node-deps.ts';

export interface RunningServer {
  url: string;
  config: Config;
  close(): Promise<void>;
}

/** Serves the app on Node with deps built from `env`. Resolves once listening. */
export async function startNodeServer(env: Record<string, string | undefined> = process.env): Promise<RunningServer> {
  const config = loadConfig(env);
  const modelSpec = modelSpecOrConfigError(env);
  const sandbox = await createNodeSandbox(config);
  const model = modelSpec ? await loadModelBackend(modelSpec).catch(async (e) => {
    await sandbox.dispose();
    // A model that does not load is a deployment mistake: say which, without a stack trace.
    throw new ConfigError([`model (${modelSpec.kind === 'onnx' ? 'CIR_MODEL_DIR' : 'CIR_MODEL_URL'}): ${(e as Error).message}`]);
  }) : undefined;
  const served = model ? { backend: model, checkpoint: { version: 'static' } } : undefined;
  const app = createApp({ config, sandbox, runtime: 'node', served: () => served });
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  return {
    url: `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`,
    config,
    async close() {
      // Stop accepting, let requests in flight finish, then release executor pools.
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([sandbox.dispose(), model?.dispose()]);
    },
  };
}

function modelSpecOrConfigError(env: Record<string, string | undefined>) {
  try {
    return modelSpecFromEnv(env);
  } catch (e) {
    throw new ConfigError([(e as Error).message.replace(/^invalid model configuration: /, '')]);
  }
}
