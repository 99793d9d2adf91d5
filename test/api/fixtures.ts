import { createApp, type AppDeps } from '../../api/app.ts';
import { execLimits, loadConfig } from '../../api/config.ts';
import { Sandbox, type SandboxOptions } from '../../api/sandbox/index.ts';
import type { ExecRequest, ExecResult, Executor } from '../../api/sandbox/types.ts';

/** An executor that echoes its request, optionally holding each call until released: the HTTP layer is under test here, not the sandbox. */
export function echoExecutor(hold?: Promise<void>): Executor & { seen: ExecRequest[] } {
  const seen: ExecRequest[] = [];
  return {
    name: 'echo',
    languages: ['javascript'],
    seen,
    async execute(req): Promise<ExecResult> {
      seen.push(req);
      await hold;
      return { status: 'ok', stdout: req.code, stderr: '', error: null, truncated: { stdout: false, stderr: false }, duration_ms: 0, executor: 'echo' };
    },
    async dispose() {},
  };
}

/** The app over an executor; `extra` adds app deps (client address, access log) and sandbox options (caller shares). */
export function makeApp(
  env: Record<string, string> = {},
  executor: Executor = echoExecutor(),
  concurrency = 2,
  queueLimit = 2,
  extra: { deps?: Partial<AppDeps>; sandbox?: Partial<SandboxOptions> } = {},
) {
  const config = loadConfig(env);
  const sandbox = new Sandbox({
    executors: [executor],
    limits: execLimits(config),
    concurrency,
    queueLimit,
    unavailableReasons: { python: 'bubblewrap is not installed' },
    ...extra.sandbox,
  });
  return createApp({ config, sandbox, runtime: 'node', log: () => {}, ...extra.deps });
}

export const post = (app: ReturnType<typeof makeApp>, path: string, body: unknown, headers: Record<string, string> = {}) =>
  app.request(path, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });

