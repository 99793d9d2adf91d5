import { Hono } from 'hono';
import { cors } from 'hono/cors';
import type { Config } from './config.ts';
import { accessLog } from './middleware/access-log/index.ts';
import { bearerAuth } from './middleware/auth/index.ts';
import { limitBody } from './middleware/body-limit/index.ts';
import { identifyClient, type ClientAddress } from './middleware/caller/index.ts';
import { requireJsonBody } from './middleware/content-type/index.ts';
import { notFound, onError } from './middleware/errors/index.ts';
import { checkpointRoutes } from './checkpoints/routes.ts';
import { ApiError } from './errors.ts';
import { noModelMessage, type CheckpointControl } from './checkpoints/status.ts';
import type { ServedModel } from './models/served.ts';
import type { TrajectoryLogging } from './trajectory-logging/index.ts';
import { reasoningSettingsFromConfig, type ReasoningSettings } from './reasoning/index.ts';
import { chatRoutes } from './routes/chat.ts';
import { solveRoutes } from './routes/solve.ts';
import { completionsRoutes } from './routes/completions.ts';
import { evalRoutes, type EvalService } from './routes/evals.ts';
import { executeRoutes, sandboxFusionRoutes } from './routes/execute.ts';
import { gradeRoutes } from './routes/grade.ts';
import { inlineGrader, type Grader } from './grading/grader.ts';
import { healthRoutes, infoRoutes } from './routes/info.ts';
import type { Sandbox } from './sandbox/index.ts';
import { consoleRoutes } from './console/routes.ts';
import { runRoutes, type RunService } from './runs/routes.ts';
import { trajectoryRoutes } from './routes/trajectories.ts';
import { TrajectoryBrowser } from '../core/logging/browse.ts';
import type { ObjectStore } from '../core/storage/object-store.ts';

/** Everything the app needs from its runtime; api/node.ts and api/worker.ts build it from env/bindings. */
export interface AppDeps {
  config: Config;
  sandbox: Sandbox;
  runtime: 'node' | 'workerd';
  /** The model being served, read per request so a checkpoint swap takes effect at once; undefined: none configured. */
  served?: () => ServedModel | undefined;
  /**
   * Pins the models served when a request starts until it ends (returns the release), so a checkpoint
   * swap disposes the old model only after the requests using it are done (api/checkpoints/slot.ts).
   */
  holdServed?: () => () => void;
  /** The checkpoint watcher: its state in /v1/info (refused checkpoints included), checks on POST /v1/checkpoints/check. */
  checkpoints?: CheckpointControl;
  /**
   * The error model routes answer while nothing is served (default: a 503 saying what the checkpoint
   * watcher knows). The Worker's says why its model server cannot be used, with Retry-After.
   */
  noModel?: () => ApiError;
  /** Where /v1/solve and /v1/chat/completions trajectories go (write-behind); none: not logged. */
  trajectoryLogging?: TrajectoryLogging;
  /** Overrides of the reasoning loop's settings from config (prompt template, grading, ...). */
  reasoning?: Partial<ReasoningSettings>;
  /** Background evaluation runs (POST /v1/evals); built by api/node.ts, absent on Workers (the routes answer 501). */
  evals?: EvalService;
  log?: (message: string, error?: unknown) => void;
  /** The client's address (the runtime's socket or header), for the access log and per-caller quotas. */
  clientAddress?: ClientAddress;
  /**
   * Grading for /v1/grade and /v1/solve. Node: a worker-thread pool with a hard deadline
   * (api/grading/pool), so no input can stall the server; default (Workers): inline, bounded by the
   * grader's cooperative deadline and size caps.
   */
  grader?: Grader;
  /** Where access log lines go (api/middleware/access-log); none: no access log. */
  accessLog?: (line: string) => void;
  /** The store the trajectory logger writes to, read back by GET /v1/trajectories; none: those routes answer 501. */
  trajectoryStore?: ObjectStore;
  /** Training run directories (GET /v1/runs); built by api/node.ts from CIR_RUNS_DIR, absent on Workers. */
  runs?: RunService;
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

  app.use('*', identifyClient(deps.clientAddress ?? (() => undefined)));
  if (deps.accessLog) app.use('*', accessLog(deps.accessLog));
  // Off unless origins are configured: without CORS headers a browser lets no other site read
  // answers or send JSON (whose content type needs the preflight this then refuses).
  if (config.CIR_CORS_ORIGINS.length > 0) {
    const origins = config.CIR_CORS_ORIGINS;
    app.use('*', cors({
      origin: origins.includes('*') ? '*' : origins,
      allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
      allowHeaders: ['Authorization', 'Content-Type'],
      exposeHeaders: ['Retry-After'],
      maxAge: 600,
    }));
  }

  if (deps.holdServed) {
    const hold = deps.holdServed;
    app.use('*', async (_c, next) => {
      const release = hold();
      try {
        await next();
      } finally {
        release();
      }
    });
  }
  app.route('/', healthRoutes());
  // The web console: static, no key needed to load it (the page asks for the key and sends it to /v1 itself).
  app.route('/', consoleRoutes());

  const guards = [bearerAuth(config.CIR_API_KEYS), requireJsonBody(), limitBody(config.CIR_MAX_BODY_BYTES)];
  for (const prefix of ['/v1/*', '/run_code']) app.use(prefix, ...guards);

  app.route('/', infoRoutes({
    sandbox: deps.sandbox,
    runtime: deps.runtime,
    maxBodyBytes: config.CIR_MAX_BODY_BYTES,
    authRequired: config.CIR_API_KEYS.length > 0,
    model,
    checkpoint: () => served()?.checkpoint,
    ...(deps.checkpoints && { checkpointWatch: () => deps.checkpoints!.status() }),
    ...(deps.trajectoryLogging && { trajectories: () => deps.trajectoryLogging!.stats() }),
  }));
  app.route('/', executeRoutes(deps.sandbox));
  app.route('/', sandboxFusionRoutes(deps.sandbox));
  const grader = deps.grader ?? inlineGrader;
  app.route('/', gradeRoutes({ grader }));
  const noModel = deps.noModel ?? (() => new ApiError(503, 'unsupported', noModelMessage(deps.checkpoints)));
  app.route('/', completionsRoutes(model, noModel));
  const reasoning = {
    served,
    noModel,
    sandbox: deps.sandbox,
    settings: { ...reasoningSettingsFromConfig(config), ...deps.reasoning },
    ...(deps.trajectoryLogging && { trajectoryLogging: deps.trajectoryLogging }),
    ...(deps.holdServed && { holdServed: deps.holdServed }),
    grader,
  };
  app.route('/', solveRoutes(reasoning));
  app.route('/', chatRoutes(reasoning));
  app.route('/', evalRoutes(deps.evals));
  app.route('/', checkpointRoutes(deps.checkpoints));
  app.route('/', trajectoryRoutes({
    browser: deps.trajectoryStore && new TrajectoryBrowser(deps.trajectoryStore),
    tokenizer: () => {
      const backend = model();
      return backend && { tokenizer: backend.tokenizer, model: backend.info.id };
    },
  }));
  app.route('/', runRoutes(deps.runs));
  return app;
}
