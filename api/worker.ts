import wasmModule from '@jitl/quickjs-wasmfile-release-sync/wasm';
import type { ExecutionContext, Hono } from 'hono';
import { createApp } from './app.ts';
import { loadConfig, type Config } from './config.ts';
import { ApiError } from './errors.ts';
import { createSandboxFromConfig, type Sandbox } from './sandbox/index.ts';
import { createQuickJSWorkerdExecutor } from './sandbox/quickjs/workerd.ts';
import { createSandboxFusionExecutor } from './sandbox/sandboxfusion.ts';
import type { Executor, Language } from './sandbox/types.ts';

/**
 * The Cloudflare Workers entry (wrangler.toml's `main`): the same app as on Node. JavaScript
 * runs in QuickJS inside the isolate; Python cannot run here, so it goes to a SandboxFusion
 * server when CIR_SANDBOX_URL is set, and is otherwise answered 501 by the app.
 */

/** Vars and secrets are strings; other bindings (KV, R2...) are objects and not configuration. */
type Env = Record<string, unknown>;

/** Built on the first request, from that request's env: the bindings are the same for the isolate's life. */
let app: Hono | Error | undefined;

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> {
    app ??= buildApp(env);
    if (app instanceof Error) {
      // A misconfigured deployment says why on every request instead of failing opaquely.
      const body = { error: { type: 'internal' satisfies ApiError['type'], message: app.message } };
      return Response.json(body, { status: 500 });
    }
    return app.fetch(request, env, ctx);
  },
};

function buildApp(env: Env): Hono | Error {
  try {
    const config = loadConfig(configVars(env));
    return createApp({ config, sandbox: createWorkerSandbox(config), runtime: 'workerd' });
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
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
  return createSandboxFromConfig(config, executors, unavailableReasons);
}
