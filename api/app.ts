import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ApiError } from './errors.ts';
import type { Config } from './config.ts';
import { bearerAuth } from './middleware/auth/index.ts';
import { errorResponse, notFound, onError } from './middleware/errors/index.ts';
import type { ServedModel } from './models/served.ts';
import { completionsRoutes } from './routes/completions.ts';
import { executeRoutes, sandboxFusionRoutes } from './routes/execute.ts';
import { gradeRoutes } from './routes/grade.ts';
import { healthRoutes, infoRoutes } from './routes/info.ts';
import type { Sandbox } from './sandbox/index.ts';

/** Everything the app needs from its runtime; api/node.ts and api/worker.ts build it from env/bindings. */
export interface AppDeps {
  config: Config;
  sandbox: Sandbox;
  runtime: 'node' | 'workerd';
  /** The model being served, read per request so a checkpoint swap takes effect at once; undefined: none configured. */
  served?: () => ServedModel | undefined;
  log?: (message: string, error?: unknown) => void;
}

/** The one Hono app for every runtime. */
export function createApp(deps: AppDeps): Hono {
  const { config } = deps;
  const served = deps.served ?? (() => undefined);
  const model = () => served()?.backend;
  const log = deps.log ?? ((message: string, error?: unknown) => console.error(message, error ?? ''));
  const app = new Hono();
  app.onError(onError(log));
  app.notFound(notFound);

  app.route('/', healthRoutes());

  const limitBody = bodyLimit({
    maxSize: config.CIR_MAX_BODY_BYTES,
    onError: (c) =>
      errorResponse(c, new ApiError(413, 'payload_too_large', `request body exceeds ${config.CIR_MAX_BODY_BYTES} bytes`)),
  });
  const auth = bearerAuth(config.CIR_API_KEYS);
  for (const prefix of ['/v1/*', '/run_code']) {
    app.use(prefix, auth);
    app.use(prefix, limitBody);
  }

  app.route('/', infoRoutes({
    sandbox: deps.sandbox,
    runtime: deps.runtime,
    maxBodyBytes: config.CIR_MAX_BODY_BYTES,
    authRequired: config.CIR_API_KEYS.length > 0,
    model,
  }));
  app.route('/', executeRoutes(deps.sandbox));
  app.route('/', sandboxFusionRoutes(deps.sandbox));
  app.route('/', gradeRoutes());
  app.route('/', completionsRoutes(model));
  return app;
}
