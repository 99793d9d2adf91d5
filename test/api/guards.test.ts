import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../api/config.ts';
import { loadTokenizer } from '../../api/models/tokenizer.ts';
import { ensureModel } from '../../scripts/make-model.ts';
import { ScriptedBackend } from '../reasoning/scripted-backend.ts';
import { echoExecutor, makeApp, post } from './fixtures.ts';

/**
 * What the app does before a route runs, in-process: content types, error size, CORS, the access
 * log, per-caller shares of the sandbox. The Node server's own limits (timeouts, connection caps,
 * keep-alive after 413) are in api/http/server.test.ts; the real server under attack in test/faults.
 */

type ErrorBody = { error: { type: string; message: string } };

describe('JSON content type on every POST route', () => {
  const routes = ['/v1/execute', '/run_code', '/v1/grade', '/v1/completions', '/v1/solve', '/v1/chat/completions', '/v1/evals', '/v1/checkpoints/check'];
  const body = JSON.stringify({ language: 'javascript', code: '1' });

  it.each(routes)('refuses %s without a JSON content type, before reading the body (415)', async (route) => {
    const app = makeApp();
    // text/plain and no type are what a cross-site form or fetch can send without a preflight.
    for (const type of ['text/plain', 'text/plain; charset=json', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
      const res = await app.request(route, { method: 'POST', body, headers: type ? { 'content-type': type } : {} });
      expect(res.status, `${route} with ${type}`).toBe(415);
      const json = (await res.json()) as ErrorBody;
      expect(json.error.message).toMatch(/expected a JSON body with content-type application\/json/);
    }
  });

  it('accepts application/json with parameters and +json types', async () => {
    const app = makeApp();
    for (const type of ['application/json; charset=utf-8', 'Application/JSON', 'application/vnd.cir+json']) {
      const res = await app.request('/v1/execute', { method: 'POST', body, headers: { 'content-type': type } });
      expect(res.status, type).toBe(200);
    }
  });
});

describe('validation errors', () => {
  it('lists at most 20 issues, each clipped, and counts the rest', async () => {
    const items = Array.from({ length: 1000 }, () => ({ gold: 1, response: 2 }));
    const res = await post(makeApp(), '/v1/grade', { items });
    expect(res.status).toBe(400);
    const { message } = ((await res.json()) as ErrorBody).error;
    expect(message.split('; ')).toHaveLength(21);
    expect(message).toMatch(/items\.0\.gold: gold must be a string/);
    expect(message).toMatch(/\(1980 more issues\)$/);
    const long = await post(makeApp(), '/v1/execute', { language: 'x'.repeat(1_500_000), code: '1' });
    expect(long.status).toBe(400);
    expect(((await long.json()) as ErrorBody).error.message.length).toBeLessThan(300);
  });

  let backend: ScriptedBackend;
  beforeAll(async () => {
    backend = new ScriptedBackend(await loadTokenizer(await ensureModel('tiny')), () => ['\\boxed{1}'], { id: 'cir-test' });
  });

  it.each([
    ['token ids', '/v1/completions', { prompt: Array.from({ length: 300_000 }, () => -1) }],
    ['token-id prompts', '/v1/completions', { prompt: Array.from({ length: 300_000 }, () => [1]) }],
    ['stop token ids', '/v1/completions', { prompt: 'x', stop_token_ids: Array.from({ length: 300_000 }, () => 'a') }],
    ['chat messages', '/v1/chat/completions', { messages: Array.from({ length: 300_000 }, () => ({})) }],
    ['fetch_files', '/run_code', { code: '1', language: 'js', fetch_files: Array.from({ length: 300_000 }, () => 1) }],
    ['files', '/run_code', { code: '1', language: 'js', files: Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`f${i}`, i])) }],
    ['tags', '/v1/solve', { problem: '1+1', tags: Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`t${i}`, i])) }],
  ])('fails fast on 100,000s of bad %s: a few issues, not one per element', async (_name, route, body) => {
    const app = makeApp({}, echoExecutor(), 2, 2, { deps: { served: () => ({ backend, checkpoint: { version: 'v1' } }) } });
    const res = await post(app, route, body);
    expect(res.status).toBe(400);
    const { message } = ((await res.json()) as ErrorBody).error;
    expect(message).not.toMatch(/more issues/);
    expect(message.length).toBeLessThan(1000);
  });

  it('answers /run_code with a clear 400 for a language that is an inherited property name', async () => {
    for (const language of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const res = await post(makeApp(), '/run_code', { code: '1', language });
      expect(res.status, language).toBe(400);
      const { message } = ((await res.json()) as ErrorBody).error;
      expect(message).toContain(`unsupported language "${language}"; supported: python, python3, nodejs, javascript, js`);
      expect(message).not.toMatch(/native code/);
    }
  });
});

describe('CORS', () => {
  const preflight = { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } };

  it('is off unless origins are configured: no page may read answers or send JSON', async () => {
    const app = makeApp();
    const res = await app.request('/v1/execute', preflight);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const get = await app.request('/v1/info', { headers: { origin: 'https://evil.example' } });
    expect(get.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('allows exactly the configured origins', async () => {
    const app = makeApp({ CIR_CORS_ORIGINS: 'https://app.example, http://localhost:3000' });
    const allowed = await app.request('/v1/execute', { ...preflight, headers: { ...preflight.headers, origin: 'https://app.example' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(allowed.headers.get('access-control-allow-headers')).toMatch(/content-type/i);
    const other = await app.request('/v1/execute', preflight);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses malformed origins at start-up', () => {
    expect(() => loadConfig({ CIR_CORS_ORIGINS: 'https://app.example/path' })).toThrow(/CIR_CORS_ORIGINS.*scheme:\/\/host/);
    expect(() => loadConfig({ CIR_CORS_ORIGINS: '*,https://a.example' })).toThrow(/\* allows every origin/);
  });
});

describe('access log', () => {
  it('writes method, path, status, duration, key id and client per request, never the key', async () => {
    const lines: string[] = [];
    const app = makeApp({ CIR_API_KEYS: 'first-secret,second-secret' }, echoExecutor(), 2, 2, {
      deps: { accessLog: (line) => lines.push(line), clientAddress: () => '10.0.0.7' },
    });
    await app.request('/healthz');
    await post(app, '/v1/execute?token=abc', { language: 'javascript', code: '1' }, { authorization: 'Bearer second-secret' });
    await post(app, '/v1/execute', { language: 'javascript', code: '1' }, { authorization: 'Bearer wrong' });
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z GET \/healthz 200 [\d.]+ms key=- client=10\.0\.0\.7$/);
    expect(lines[1]).toMatch(/ POST \/v1\/execute 200 [\d.]+ms key=k2 client=10\.0\.0\.7$/);
    expect(lines[2]).toMatch(/ POST \/v1\/execute 401 [\d.]+ms key=- client=10\.0\.0\.7$/);
    expect(lines.join('\n')).not.toMatch(/secret|wrong|token=abc/);
  });
});

describe("callers' shares of the sandbox", () => {
  it('lets another client run while one holds its share, and answers the holder 429 with Retry-After past its queue share', async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    let client = 'greedy';
    const app = makeApp({}, echoExecutor(hold), 2, 10, {
      deps: { clientAddress: () => client },
      sandbox: { callerShare: { concurrency: 1, queueLimit: 1 } },
    });
    const body = { language: 'javascript', code: '1' };
    const running = post(app, '/v1/execute', body);
    const waiting = post(app, '/v1/execute', body);
    await new Promise((r) => setTimeout(r, 10));
    const refused = await post(app, '/v1/execute', body);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as ErrorBody).error).toMatchObject({ type: 'rate_limited', message: expect.stringMatching(/1 running and 1 waiting/) });
    // The second slot is free for anyone else, though the greedy client has work waiting.
    client = 'other';
    const other = post(app, '/v1/execute', body);
    release();
    expect((await other).status).toBe(200);
    expect((await running).status).toBe(200);
    expect((await waiting).status).toBe(200);
  });

  it("fails a solve whose code execution is over the caller's share with 429, not as the model's feedback", async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    const tokenizer = await loadTokenizer(await ensureModel('tiny'));
    const backend = new ScriptedBackend(tokenizer, () => ['```javascript\nconsole.log(1)\n```\n', '\\boxed{1}'], { id: 'cir-test' });
    const app = makeApp({}, echoExecutor(hold), 2, 10, {
      deps: { clientAddress: () => 'one', served: () => ({ backend, checkpoint: { version: 'v1' } }) },
      sandbox: { callerShare: { concurrency: 1, queueLimit: 0 } },
    });
    const holding = post(app, '/v1/execute', { language: 'javascript', code: '1' });
    await new Promise((r) => setTimeout(r, 10));
    const solve = await post(app, '/v1/solve', { problem: 'What is 1?' });
    expect(solve.status).toBe(429);
    expect(solve.headers.get('retry-after')).toBe('1');
    release();
    expect((await holding).status).toBe(200);
  });

  it('counts a keyed request against its key, not its address', async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    const app = makeApp({ CIR_API_KEYS: 'a,b' }, echoExecutor(hold), 2, 10, {
      deps: { clientAddress: () => 'proxy' },
      sandbox: { callerShare: { concurrency: 1, queueLimit: 0 } },
    });
    const body = { language: 'javascript', code: '1' };
    const first = post(app, '/v1/execute', body, { authorization: 'Bearer a' });
    await new Promise((r) => setTimeout(r, 10));
    expect((await post(app, '/v1/execute', body, { authorization: 'Bearer a' })).status).toBe(429);
    const other = post(app, '/v1/execute', body, { authorization: 'Bearer b' });
    release();
    expect((await first).status).toBe(200);
    expect((await other).status).toBe(200);
  });
});
