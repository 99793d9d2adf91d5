import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../api/config.ts';
import type { ExecResult } from '../../api/sandbox/types.ts';
import { echoExecutor, makeApp, post } from './fixtures.ts';

describe('config', () => {
  it('applies defaults', () => {
    const config = loadConfig({});
    expect(config.PORT).toBe(8787);
    expect(config.HOST).toBe('127.0.0.1');
    expect(config.CIR_DATA_DIR).toBe('./data');
    expect(config.CIR_API_KEYS).toEqual([]);
  });

  it('names every bad variable and hides secrets', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', CIR_EXEC_TIMEOUT_MS: '-5', CIR_SANDBOX_URL: 'not a url', CIR_SANDBOX_API_KEY: '' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('PORT="eighty"');
    expect(message).toContain('CIR_EXEC_TIMEOUT_MS');
    expect(message).toContain('CIR_SANDBOX_URL');
  });

  it('rejects a default above its maximum and remote python without a URL', () => {
    expect(() => loadConfig({ CIR_EXEC_TIMEOUT_MS: '9000', CIR_EXEC_MAX_TIMEOUT_MS: '1000' })).toThrow(/exceeds CIR_EXEC_MAX_TIMEOUT_MS/);
    expect(() => loadConfig({ CIR_PYTHON_EXECUTOR: 'remote' })).toThrow(/needs CIR_SANDBOX_URL/);
  });

  it('parses the python preload list, none turning it off, and names a bad entry', () => {
    expect(loadConfig({}).CIR_PYTHON_PRELOAD).toEqual(['sympy', 'numpy']);
    expect(loadConfig({ CIR_PYTHON_PRELOAD: ' sympy , scipy.linalg ' }).CIR_PYTHON_PRELOAD).toEqual(['sympy', 'scipy.linalg']);
    expect(loadConfig({ CIR_PYTHON_PRELOAD: 'none' }).CIR_PYTHON_PRELOAD).toEqual([]);
    expect(() => loadConfig({ CIR_PYTHON_PRELOAD: 'sympy;os' })).toThrow(/CIR_PYTHON_PRELOAD.*module name/);
  });

  it('parses comma-separated API keys', () => {
    expect(loadConfig({ CIR_API_KEYS: ' a, b ,,' }).CIR_API_KEYS).toEqual(['a', 'b']);
  });
});

describe('app', () => {
  it('serves /healthz and /v1/info', async () => {
    const app = makeApp();
    expect(await (await app.request('/healthz')).json()).toEqual({ status: 'ok' });
    const info = (await (await app.request('/v1/info')).json()) as Record<string, any>;
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.executors.javascript).toEqual({ executor: 'echo', concurrency: 2, queue_limit: 2, caller_concurrency: 2, caller_queue_limit: 2, running: 0, queued: 0 });
    expect(info.executors.python).toEqual({ executor: null, reason: 'bubblewrap is not installed' });
    expect(info.limits.timeout_ms).toEqual({ default: 5000, max: 30000 });
  });

  it('executes with defaults applied', async () => {
    const executor = echoExecutor();
    const res = await post(makeApp({}, executor), '/v1/execute', { language: 'javascript', code: 'print(1)' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as ExecResult).stdout).toBe('print(1)');
    expect(executor.seen[0]).toMatchObject({ timeoutMs: 5000, memoryMb: 256, maxOutputBytes: 65536, stdin: '' });
  });

  it.each([
    ['malformed JSON', '{"language": "javascript", code', 400, /not valid JSON/],
    ['unknown language', { language: 'cobol', code: '1' }, 400, /unknown language "cobol"/],
    ['missing code', { language: 'javascript' }, 400, /code/],
    ['negative timeout', { language: 'javascript', code: '1', timeout_ms: -1 }, 400, /timeout_ms must be between 1 and 30000/],
    ['huge memory', { language: 'javascript', code: '1', memory_mb: 1e9 }, 400, /memory_mb must be between/],
    ['tiny output cap', { language: 'javascript', code: '1', max_output_bytes: 0 }, 400, /max_output_bytes/],
    ['huge code', { language: 'javascript', code: 'x'.repeat(300_000) }, 413, /code is 300000 bytes; the limit is 262144/],
    ['python without an executor', { language: 'python', code: 'print(1)' }, 501, /bubblewrap is not installed/],
  ])('rejects %s with a JSON error', async (_name, body, status, message) => {
    const res = await post(makeApp(), '/v1/execute', body);
    expect(res.status).toBe(status);
    const json = (await res.json()) as { error: { type: string; message: string } };
    expect(json.error.message).toMatch(message);
    expect(typeof json.error.type).toBe('string');
  });

  it('limits the body size', async () => {
    const res = await post(makeApp({ CIR_MAX_BODY_BYTES: '2048' }), '/v1/execute', { language: 'javascript', code: 'x'.repeat(4096) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).error.type).toBe('payload_too_large');
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await makeApp().request('/v2/nothing');
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error).toEqual({ type: 'not_found', message: 'no route for GET /v2/nothing' });
  });

  it('requires a bearer key when keys are configured, but never for /healthz', async () => {
    const app = makeApp({ CIR_API_KEYS: 'k1,k2' });
    expect((await app.request('/healthz')).status).toBe(200);
    const missing = await app.request('/v1/info');
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as any).error.type).toBe('unauthorized');
    expect((await app.request('/v1/info', { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    expect((await app.request('/v1/info', { headers: { authorization: 'Bearer k2' } })).status).toBe(200);
    expect((await post(app, '/run_code', { code: '1', language: 'python' })).status).toBe(401);
  });

  it('sheds load beyond the queue with 503 and Retry-After', async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    const app = makeApp({}, echoExecutor(hold), 1, 1);
    const body = { language: 'javascript', code: '1' };
    const first = post(app, '/v1/execute', body);
    const second = post(app, '/v1/execute', body);
    await new Promise((r) => setTimeout(r, 10));
    const third = await post(app, '/v1/execute', body);
    expect(third.status).toBe(503);
    expect(third.headers.get('retry-after')).toBe('1');
    expect(((await third.json()) as any).error.type).toBe('overloaded');
    release();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
  });

  it('speaks SandboxFusion on /run_code', async () => {
    const executor = echoExecutor();
    const res = await post(makeApp({}, executor), '/run_code', { code: 'hi', language: 'nodejs', run_timeout: 2, memory_limit_MB: -1 });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: 'Success',
      run_result: { status: 'Finished', return_code: 0, stdout: 'hi', stderr: '' },
    });
    expect(executor.seen[0]).toMatchObject({ language: 'javascript', timeoutMs: 2000, memoryMb: 256 });
    const bad = await post(makeApp(), '/run_code', { code: 'x', language: 'fortran' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.message).toMatch(/unsupported language "fortran"/);
  });
});
