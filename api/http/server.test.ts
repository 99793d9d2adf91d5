import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { echoExecutor, makeApp } from '../../test/api/fixtures.ts';
import { RawConnection, requestHead } from '../../test/faults/raw-http.ts';
import { createHttpServer, type HttpLimits } from './server.ts';

/**
 * The Node server's own limits, over raw sockets: keep-alive after a 413, stalled headers and
 * bodies cut at their timeouts, idle connections closed, connection caps answered with 503.
 * Every wait is for an event (a response, a close); the test's own time limit is what a
 * missing limit would run into (Node's defaults hold a stalled body for 300 s).
 */

const LIMITS: HttpLimits = { headersTimeoutMs: 500, requestTimeoutMs: 1000, idleTimeoutMs: 500, maxConnections: 6, maxConnectionsPerClient: 3 };

let server: Server | undefined;
const connections: RawConnection[] = [];

afterEach(async () => {
  for (const connection of connections.splice(0)) connection.destroy();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function start(limits: Partial<HttpLimits> = {}, env: Record<string, string> = {}): Promise<number> {
  const app = makeApp(env, echoExecutor());
  server = createHttpServer(app.fetch, { ...LIMITS, ...limits });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

function open(port: number, localAddress = '127.0.0.1'): RawConnection {
  const connection = new RawConnection(port, localAddress);
  connections.push(connection);
  return connection;
}

const POST_HEAD = (length: number | 'chunked') => requestHead('POST', '/v1/execute', { length });
const GET_HEALTH = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';

describe('the Node HTTP server', () => {
  it('answers a body over the limit with 413 and serves the next request on the same keep-alive connection', async () => {
    const port = await start({}, { CIR_MAX_BODY_BYTES: '65536' });
    const c = open(port);
    const size = 3 * 1024 * 1024;
    c.write(POST_HEAD(size));
    c.write(Buffer.alloc(size, 'a'));
    c.write(GET_HEALTH);
    const [tooLarge, health] = await c.responses(2);
    expect(tooLarge!.status).toBe(413);
    expect(JSON.parse(tooLarge!.body)).toMatchObject({ error: { type: 'payload_too_large', message: expect.stringMatching(/exceeds 65536 bytes/) } });
    expect(tooLarge!.head).toMatch(/connection: keep-alive/i);
    expect(health).toMatchObject({ status: 200, body: '{"status":"ok"}' });
  });

  it('answers a chunked body over the limit with 413 and Connection: close, delivered before the close', async () => {
    const port = await start({}, { CIR_MAX_BODY_BYTES: '65536' });
    const c = open(port);
    c.write(POST_HEAD('chunked'));
    const chunk = Buffer.alloc(16384, 'a');
    for (let i = 0; i < 8; i++) c.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    const [tooLarge] = await c.responses(1);
    expect(tooLarge!.status).toBe(413);
    expect(tooLarge!.head).toMatch(/connection: close/i);
    await c.ended;
  });

  it('reads a chunked body within the limit', async () => {
    const port = await start({}, { CIR_MAX_BODY_BYTES: '65536' });
    const c = open(port);
    const body = JSON.stringify({ language: 'javascript', code: 'print(42)' });
    c.write(POST_HEAD('chunked'));
    for (const part of [body.slice(0, 10), body.slice(10)]) c.write(`${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`);
    c.write('0\r\n\r\n');
    const [response] = await c.responses(1);
    expect(response!.status).toBe(200);
    expect(JSON.parse(response!.body)).toMatchObject({ status: 'ok', stdout: 'print(42)' });
  });

  it('cuts a request whose headers stall, at the headers timeout', async () => {
    const port = await start();
    const c = open(port);
    c.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const started = performance.now();
    await c.ended;
    expect(performance.now() - started).toBeGreaterThanOrEqual(LIMITS.headersTimeoutMs - 50);
    expect(c.text()).toMatch(/^HTTP\/1.1 408/);
  });

  it('cuts a request whose body stalls, at the request timeout', async () => {
    const port = await start();
    const c = open(port);
    c.write(POST_HEAD(1000));
    c.write('{"language": "javascript", ');
    const started = performance.now();
    await c.ended;
    expect(performance.now() - started).toBeGreaterThanOrEqual(LIMITS.requestTimeoutMs - LIMITS.headersTimeoutMs);
  }, 20_000);

  it('closes an idle keep-alive connection after the idle timeout', async () => {
    const port = await start();
    const c = open(port);
    c.write(GET_HEALTH);
    expect((await c.responses(1))[0]!.status).toBe(200);
    await c.ended;
  });

  it('answers connections past the per-client cap with 503 and Retry-After, while other clients connect', async () => {
    const port = await start();
    const held = Array.from({ length: LIMITS.maxConnectionsPerClient }, () => open(port));
    await Promise.all(held.map((c) => c.connected));
    // The server counts a connection once it accepts it; a request answered on each proves they are counted.
    for (const c of held) c.write(GET_HEALTH);
    await Promise.all(held.map((c) => c.responses(1)));
    const refused = open(port);
    const [answer] = await refused.responses(1);
    expect(answer!.status).toBe(503);
    expect(answer!.head).toMatch(/retry-after: 1/i);
    expect(JSON.parse(answer!.body).error.message).toMatch(/127\.0\.0\.1 has 3 connections open, the limit per client/);
    await refused.ended;
    const other = open(port, '127.0.0.2');
    other.write(GET_HEALTH);
    expect((await other.responses(1))[0]!.status).toBe(200);
    // A closed connection frees its place, once the server has seen the close (retried until then).
    held[0]!.destroy();
    let status = 503;
    for (let attempt = 0; status === 503 && attempt < 100; attempt++) {
      const again = open(port);
      again.write(GET_HEALTH);
      status = (await again.responses(1))[0]!.status;
    }
    expect(status).toBe(200);
  });

  it('answers connections past the server-wide cap with 503', async () => {
    const port = await start({ maxConnections: 2, maxConnectionsPerClient: 2, idleTimeoutMs: 10_000 });
    const held = ['127.0.0.2', '127.0.0.3'].map((address) => open(port, address));
    for (const c of held) c.write(GET_HEALTH);
    await Promise.all(held.map((c) => c.responses(1)));
    const refused = open(port, '127.0.0.4');
    const [answer] = await refused.responses(1);
    expect(answer!.status).toBe(503);
    expect(JSON.parse(answer!.body).error.message).toMatch(/the server has 2 connections open, its limit/);
  });
});
