import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The Workers build for real: `wrangler dev` bundles api/worker.ts with wrangler.toml and serves it
 * from workerd, offline. Checks that the QuickJS wasm loads as a CompiledWasm module there and
 * that the app answers as on Node.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WRANGLER = fileURLToPath(new URL('../../node_modules/wrangler/bin/wrangler.js', import.meta.url));
const START_TIMEOUT_MS = 50_000;

let wrangler: ChildProcess | undefined;
let output = '';
let base = '';

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

async function waitUntilHealthy(child: ChildProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}:\n${output}`);
    try {
      const response = await fetch(`${base}/healthz`);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`wrangler dev did not answer /healthz within ${START_TIMEOUT_MS} ms:\n${output}`);
}

beforeAll(async () => {
  const [port, inspectorPort] = [await freePort(), await freePort()];
  base = `http://127.0.0.1:${port}`;
  const args = ['dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspectorPort)];
  wrangler = spawn(process.execPath, [WRANGLER, ...args, '--show-interactive-dev-session=false', '--log-level', 'warn'], {
    cwd: ROOT,
    // Its own process group, so that afterAll stops workerd with it.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' },
  });
  wrangler.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  wrangler.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitUntilHealthy(wrangler);
}, START_TIMEOUT_MS + 10_000);

afterAll(async () => {
  const child = wrangler;
  if (!child?.pid || child.exitCode !== null) return;
  const exited = once(child, 'exit');
  process.kill(-child.pid, 'SIGTERM');
  const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
});

async function execute(body: Record<string, unknown>): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${base}/v1/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe('the Workers entry under wrangler dev', () => {
  it('reports the workerd runtime and its executors', async () => {
    const info = (await (await fetch(`${base}/v1/info`)).json()) as Record<string, unknown>;
    expect(info).toMatchObject({
      runtime: 'workerd',
      executors: { javascript: { executor: 'quickjs' }, python: { executor: null } },
      limits: { memory_mb: { max: 64 } },
    });
  });

  it('serves the web console from its own code', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/console/app.js');
    const script = await fetch(`${base}/console/app.js`);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect((await script.text()).length).toBeGreaterThan(10_000);
    // Without a filesystem, runs are not available: the console shows this 501's message.
    expect((await fetch(`${base}/v1/runs`)).status).toBe(501);
  });

  it('runs JavaScript', async () => {
    const { status, json } = await execute({
      language: 'javascript',
      code: 'let f = 1n; for (let i = 1n; i <= 500n; i++) f *= i; console.log(f.toString().length, readline())',
      stdin: 'ok\n',
    });
    expect(status).toBe(200);
    expect(json).toMatchObject({ status: 'ok', stdout: '1135 ok\n', error: null, executor: 'quickjs' });
  });

  it('reports errors', async () => {
    const { json } = await execute({ language: 'javascript', code: 'foo()' });
    expect(json).toMatchObject({ status: 'error' });
    expect(json.error).toMatch(/^ReferenceError: .*foo.* is not defined$/);
  });

  it('stops an infinite loop', async () => {
    const { json } = await execute({ language: 'javascript', code: 'while (true) {}', timeout_ms: 300 });
    expect(json).toMatchObject({ status: 'timeout', error: 'timed out after 300 ms' });
  });

  it('stops a memory bomb', async () => {
    const { json } = await execute({ language: 'javascript', code: 'const a = []; while (true) a.push(new Array(1e5).fill(1))' });
    expect(json).toMatchObject({ status: 'memory' });
  });

  it('keeps serving after those', async () => {
    const { json } = await execute({ language: 'javascript', code: 'console.log("still here")' });
    expect(json).toMatchObject({ status: 'ok', stdout: 'still here\n' });
  });

  it('answers python with a clear 501 when no remote executor is configured', async () => {
    const { status, json } = await execute({ language: 'python', code: 'print(1)' });
    expect(status).toBe(501);
    expect(json).toMatchObject({ error: { type: 'unsupported' } });
    expect((json.error as { message: string }).message).toMatch(/CIR_SANDBOX_URL/);
  });
});
