import { request as httpRequest, type ClientRequest } from 'node:http';
import { expect } from 'vitest';
import type { AttackCase, AttackTarget } from './harness.ts';
import { fullRequest, RawConnection, requestHead, type RawResponse } from './raw-http.ts';

/**
 * Attacks on the HTTP layer: bodies (oversized, malformed, wrong type, 2 MB of adversarial JSON) on
 * every POST route, stalled headers and bodies, a bounded slow-connection flood from another
 * loopback address, one caller holding an executor, cross-site requests. Each leaves nothing
 * running when it returns.
 */

/** The server's environment for this suite: the defaults, with timeouts short enough for a test. */
export const HTTP_SUITE_ENV: Record<string, string> = {
  CIR_HTTP_HEADERS_TIMEOUT_MS: '1000',
  CIR_HTTP_REQUEST_TIMEOUT_MS: '2000',
  CIR_HTTP_MAX_CONNECTIONS_PER_CLIENT: '64',
  CIR_EXEC_CALLER_QUEUE_LIMIT: '2',
};
const HEADERS_TIMEOUT_MS = Number(HTTP_SUITE_ENV.CIR_HTTP_HEADERS_TIMEOUT_MS);
const REQUEST_TIMEOUT_MS = Number(HTTP_SUITE_ENV.CIR_HTTP_REQUEST_TIMEOUT_MS);
const PER_CLIENT = Number(HTTP_SUITE_ENV.CIR_HTTP_MAX_CONNECTIONS_PER_CLIENT);
const MAX_BODY_BYTES = 2 * 1024 * 1024;
/** Largest error body accepted for any bad request: the message must not grow with the input. */
const MAX_ERROR_BYTES = 2000;

/** Every POST route, with the fields its body has (each is sent 2 MB of wrong elements). */
const POST_ROUTES: { path: string; fields: string[] }[] = [
  { path: '/v1/execute', fields: ['language', 'code', 'stdin', 'timeout_ms'] },
  { path: '/run_code', fields: ['language', 'code', 'files', 'fetch_files'] },
  { path: '/v1/grade', fields: ['items', 'gold', 'response', 'options'] },
  { path: '/v1/completions', fields: ['prompt', 'stop', 'stop_token_ids', 'logit_bias'] },
  { path: '/v1/solve', fields: ['problem', 'gold', 'tags'] },
  { path: '/v1/chat/completions', fields: ['messages', 'tools'] },
  { path: '/v1/evals', fields: ['benchmarks', 'k'] },
  { path: '/v1/checkpoints/check', fields: [] },
];

/** /v1/checkpoints/check reads no body: with no store watched it answers 501 to anything that gets past the guards. */
const refusedStatuses = (path: string, status: number) => (path === '/v1/checkpoints/check' ? [status, 501] : [status]);

/** One request on its own connection; the answer must be a JSON error of bounded size. */
async function send(target: AttackTarget, request: Buffer): Promise<RawResponse & { ms: number }> {
  const connection = new RawConnection(target.port);
  const started = performance.now();
  try {
    connection.write(request);
    const [response] = await connection.responses(1);
    return { ...response!, ms: performance.now() - started };
  } finally {
    connection.destroy();
  }
}

function expectJsonError(response: RawResponse, statuses: number[], what: string): void {
  expect(statuses, `${what}: status ${response.status}, ${response.body.slice(0, 200)}`).toContain(response.status);
  expect(response.body.length, `${what}: error body of ${response.body.length} bytes`).toBeLessThan(MAX_ERROR_BYTES);
  expect(JSON.parse(response.body), what).toMatchObject({ error: { type: expect.any(String), message: expect.any(String) } });
}

function bodyAttacks(route: { path: string; fields: string[] }): AttackCase[] {
  const { path } = route;
  return [
    {
      name: `${path}: 3 MiB body, then the next request on the same keep-alive connection`,
      async run(target) {
        const connection = new RawConnection(target.port);
        try {
          const size = 3 * 1024 * 1024;
          connection.write(requestHead('POST', path, { length: size }));
          connection.write(Buffer.alloc(size, 'a'));
          connection.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
          const [tooLarge, next] = await connection.responses(2);
          expectJsonError(tooLarge!, [413], 'oversized body');
          expect(next!.status).toBe(200);
          return '413, then 200 on the same connection';
        } finally {
          connection.destroy();
        }
      },
    },
    {
      name: `${path}: malformed JSON`,
      async run(target) {
        const response = await send(target, fullRequest('POST', path, '{"problem": "1+1", "code": '));
        expectJsonError(response, refusedStatuses(path, 400), 'malformed JSON');
        return `${response.status}: ${JSON.parse(response.body).error.message.slice(0, 60)}`;
      },
    },
    {
      name: `${path}: text/plain, form and missing content types (cross-site)`,
      async run(target) {
        const statuses = [];
        for (const type of ['text/plain', 'application/x-www-form-urlencoded', null]) {
          const response = await send(target, fullRequest('POST', path, '{}', type));
          expectJsonError(response, [415], `content type ${type}`);
          statuses.push(response.status);
        }
        return `${statuses.join(', ')}`;
      },
    },
    {
      name: `${path}: 2 MB bodies of adversarial JSON (${route.fields.length} fields x 3 shapes, arrays, objects, nesting)`,
      timeoutMs: 60_000,
      async run(target) {
        const bodies = adversarialBodies(route.fields);
        let slowest = 0;
        let largest = 0;
        const statuses = new Set<number>();
        for (const [name, build] of bodies) {
          const body = build();
          expect(body.length, name).toBeLessThanOrEqual(MAX_BODY_BYTES);
          const response = await send(target, fullRequest('POST', path, body));
          expectJsonError(response, refusedStatuses(path, 400), name);
          slowest = Math.max(slowest, response.ms);
          largest = Math.max(largest, response.body.length);
          statuses.add(response.status);
        }
        return `${bodies.length} bodies: ${[...statuses].join('/')}, errors <= ${largest} B, slowest ${Math.round(slowest)} ms`;
      },
    },
  ];
}

/**
 * Each field as ~1.9 MB arrays of wrong elements or an object of 110,000 keys, plus a top-level array,
 * such an object and 1,000,000 nested brackets: names and builders, each body built when sent.
 */
function adversarialBodies(fields: string[]): [string, () => string][] {
  const elements = (element: string) => Array.from({ length: Math.floor(1_900_000 / (element.length + 1)) }, () => element).join(',');
  const manyKeys = () => `{${Array.from({ length: 110_000 }, (_, i) => `"k${i}":${i}`).join(',')}}`;
  const bodies: [string, () => string][] = [
    ['a top-level array', () => `[${elements('1')}]`],
    ['an object of 110,000 keys', manyKeys],
    ['1,000,000 nested brackets', () => '['.repeat(1_000_000)],
  ];
  for (const field of fields) {
    bodies.push([`${field}: numbers`, () => `{"${field}":[${elements('-1')}]}`]);
    bodies.push([`${field}: objects`, () => `{"${field}":[${elements('{}')}]}`]);
    bodies.push([`${field}: 110,000 keys`, () => `{"${field}":${manyKeys()}}`]);
  }
  return bodies;
}

const chunkedOverLimit: AttackCase = {
  name: 'chunked body without a length, past the limit',
  async run(target) {
    const connection = new RawConnection(target.port);
    try {
      connection.write(requestHead('POST', '/v1/execute', { length: 'chunked' }));
      const chunk = Buffer.alloc(64 * 1024, 'a');
      // Written until the server answers (it reads up to the limit), at most twice the limit.
      for (let sent = 0; sent < 2 * MAX_BODY_BYTES && connection.text() === ''; sent += chunk.length) {
        connection.write(`${chunk.length.toString(16)}\r\n`);
        connection.write(chunk);
        connection.write('\r\n');
        await new Promise((resolve) => setImmediate(resolve));
      }
      const [response] = await connection.responses(1);
      expectJsonError(response!, [413], 'chunked over the limit');
      expect(response!.head).toMatch(/connection: close/i);
      return `413 with Connection: close, then ${await connection.ended}`;
    } finally {
      connection.destroy();
    }
  },
};

const stalledHeaders: AttackCase = {
  name: `slowloris: headers that stop arriving (headers timeout ${HEADERS_TIMEOUT_MS} ms)`,
  async run(target) {
    const connection = new RawConnection(target.port);
    connection.write('POST /v1/execute HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    const started = performance.now();
    const how = await connection.ended;
    const ms = performance.now() - started;
    expect(connection.text()).toMatch(/^HTTP\/1.1 408/);
    return `408 and ${how} after ${Math.round(ms)} ms`;
  },
};

const stalledBody: AttackCase = {
  name: `a body that stops arriving (request timeout ${REQUEST_TIMEOUT_MS} ms)`,
  async run(target) {
    const connection = new RawConnection(target.port);
    connection.write(requestHead('POST', '/v1/execute', { length: 100_000 }));
    connection.write('{"language": "javascript", "code": "');
    const started = performance.now();
    const how = await connection.ended;
    const ms = performance.now() - started;
    return `${/^HTTP\/1.1 (\d+)/.exec(connection.text())?.[1] ?? 'no answer'} and ${how} after ${Math.round(ms)} ms (Node's default: 300 s)`;
  },
};

const connectionFlood: AttackCase = {
  name: `slow-connection flood: ${PER_CLIENT + 100} stalled connections from 127.0.0.2 (cap ${PER_CLIENT} per client)`,
  async run(target) {
    const flood = Array.from({ length: PER_CLIENT + 100 }, () => new RawConnection(target.port, '127.0.0.2'));
    try {
      await Promise.all(flood.map((c) => c.connected));
      for (const c of flood) c.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      // Every one ends by itself: refused at once, or cut at the headers timeout.
      await Promise.all(flood.map((c) => c.ended));
      const refused = flood.filter((c) => /^HTTP\/1.1 503/.test(c.text())).length;
      const cut = flood.filter((c) => /^HTTP\/1.1 408/.test(c.text())).length;
      expect(refused).toBeGreaterThanOrEqual(100);
      expect(refused + cut).toBe(flood.length);
      return `${refused} refused with 503 at once, ${cut} cut with 408 at the headers timeout; all closed`;
    } finally {
      for (const c of flood) c.destroy();
    }
  },
};

const oversizedHeaders: AttackCase = {
  name: 'a 64 KiB header',
  async run(target) {
    const response = await send(target, Buffer.from(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`));
    expect(response.status).toBe(431);
    return '431';
  },
};

const inheritedLanguage: AttackCase = {
  name: '/run_code with language "constructor" (an inherited property name)',
  async run(target) {
    const response = await send(target, fullRequest('POST', '/run_code', JSON.stringify({ code: '1', language: 'constructor' })));
    expectJsonError(response, [400], 'language constructor');
    expect(response.body).toContain('supported: python, python3, nodejs, javascript, js');
    return `400: ${JSON.parse(response.body).error.message.slice(0, 70)}`;
  },
};

const crossSitePreflight: AttackCase = {
  name: 'cross-site preflight from another origin (CORS off by default)',
  async run(target) {
    const response = await fetch(`${target.url}/v1/execute`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    await response.arrayBuffer();
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    return `${response.status}, no Access-Control-Allow-Origin: the browser sends nothing`;
  },
};

interface ExecutorLoad {
  caller_concurrency: number;
  caller_queue_limit: number;
  running: number;
  queued: number;
}

async function javascriptLoad(target: AttackTarget): Promise<ExecutorLoad> {
  const info = (await (await fetch(`${target.url}/v1/info`)).json()) as { executors: { javascript: ExecutorLoad } };
  return info.executors.javascript;
}

/** Polls /v1/info until `done` holds for the JavaScript executor's load. */
async function untilLoad(target: AttackTarget, done: (load: ExecutorLoad) => boolean): Promise<ExecutorLoad> {
  for (;;) {
    const load = await javascriptLoad(target);
    if (done(load)) return load;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** POST /v1/execute from a given loopback address; resolves with the status, or 'aborted'. */
function execute(target: AttackTarget, localAddress: string, code: string, timeoutMs: number): { request: ClientRequest; answer: Promise<{ status: number | 'aborted'; body: string }> } {
  const body = JSON.stringify({ language: 'javascript', code, timeout_ms: timeoutMs });
  let request!: ClientRequest;
  const answer = new Promise<{ status: number | 'aborted'; body: string }>((resolve) => {
    request = httpRequest(
      { host: '127.0.0.1', port: target.port, path: '/v1/execute', method: 'POST', localAddress, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        res.on('error', () => resolve({ status: 'aborted', body: text }));
      },
    );
    request.on('error', () => resolve({ status: 'aborted', body: '' }));
    request.end(body);
  });
  return { request, answer };
}

const greedyCaller: AttackCase = {
  name: 'one client fills its share of JavaScript with endless loops; another client runs meanwhile',
  async run(target) {
    const { caller_concurrency: share, caller_queue_limit: queue } = await javascriptLoad(target);
    const greedy = Array.from({ length: share + queue }, () => execute(target, '127.0.0.2', 'for (;;) {}', 20_000));
    try {
      await untilLoad(target, (load) => load.running === share && load.queued === queue);
      const refused = await execute(target, '127.0.0.2', 'for (;;) {}', 20_000).answer;
      expect(refused.status).toBe(429);
      let greedyAnswered = 0;
      for (const g of greedy) void g.answer.then(() => greedyAnswered++);
      const other = await execute(target, '127.0.0.1', 'console.log(6 * 7)', 5000).answer;
      expect(other.status).toBe(200);
      expect(JSON.parse(other.body)).toMatchObject({ status: 'ok', stdout: '42\n' });
      // Answered while every greedy run was still spinning (they run 20 s).
      expect(greedyAnswered).toBe(0);
      return `${share} running + ${queue} waiting for 127.0.0.2, its next: 429; 127.0.0.1 answered ok meanwhile`;
    } finally {
      // The greedy client goes away: its runs are cancelled and its queue dropped.
      for (const g of greedy) g.request.destroy();
      await untilLoad(target, (load) => load.running === 0 && load.queued === 0);
    }
  },
};

export const HTTP_ATTACKS: AttackCase[] = [
  ...POST_ROUTES.flatMap(bodyAttacks),
  chunkedOverLimit,
  stalledHeaders,
  stalledBody,
  connectionFlood,
  oversizedHeaders,
  inheritedLanguage,
  crossSitePreflight,
  greedyCaller,
];
