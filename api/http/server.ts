import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { Config } from '../config.ts';

/**
 * The Node HTTP server under the app, with explicit limits instead of Node's defaults (which hold a
 * stalled body for 300 s and accept connections until file descriptors run out):
 * - headers must arrive within `headersTimeoutMs`, the whole request (headers and body) within
 *   `requestTimeoutMs`; past either Node answers 408 and closes the connection;
 * - an idle keep-alive connection is closed after `idleTimeoutMs`;
 * - at most `maxConnections` connections are open, at most `maxConnectionsPerClient` from one address;
 *   a connection beyond either is answered 503 with Retry-After and closed, before any of it is parsed.
 */

export interface HttpLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerClient: number;
}

export function httpLimits(config: Config): HttpLimits {
  return {
    headersTimeoutMs: config.CIR_HTTP_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: config.CIR_HTTP_REQUEST_TIMEOUT_MS,
    idleTimeoutMs: config.CIR_HTTP_IDLE_TIMEOUT_MS,
    maxConnections: config.CIR_HTTP_MAX_CONNECTIONS,
    maxConnectionsPerClient: config.CIR_HTTP_MAX_CONNECTIONS_PER_CLIENT,
  };
}

/** How long a refused connection may keep sending before it is destroyed (its 503 is flushed by then). */
const REFUSED_LINGER_MS = 1000;

type Fetch = Parameters<typeof getRequestListener>[0];

export function createHttpServer(fetch: Fetch, limits: HttpLimits): Server {
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // Node checks both timeouts on this interval (default 30 s): a stalled request is cut within timeout + interval.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    getRequestListener(fetch),
  );
  server.keepAliveTimeout = limits.idleTimeoutMs;
  capConnections(server, limits);
  const active = new Set<ServerResponse>();
  server.on('request', (_request, response: ServerResponse) => {
    active.add(response);
    response.once('close', () => active.delete(response));
  });
  inFlight.set(server, active);
  return server;
}

/** Responses not yet finished, per server (for a shutdown to tell their clients to close). */
const inFlight = new WeakMap<Server, Set<ServerResponse>>();

/**
 * Stops the server within `deadlineMs`: no new connections; idle keep-alive connections closed at
 * once; every response from now on says `Connection: close`, so a keep-alive client's requests still
 * in flight are answered and the client reconnects elsewhere; at the deadline every connection left
 * is closed. Resolves when the server has closed.
 */
export async function shutDownHttpServer(server: Server, deadlineMs: number): Promise<void> {
  server.prependListener('request', (_request, response) => response.setHeader('Connection', 'close'));
  for (const response of inFlight.get(server) ?? []) if (!response.headersSent) response.setHeader('Connection', 'close');
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs)));
  await Promise.race([closed, deadline]);
  clearTimeout(timer);
  server.closeAllConnections();
  await closed;
}

/**
 * Puts the connection caps in front of Node's own connection handler: a refused socket never reaches
 * the HTTP parser, so its request is not run. (Node's `maxConnections` would drop the socket without
 * a word; a client should learn it was refused and when to retry.)
 */
function capConnections(server: Server, limits: HttpLimits): void {
  const handlers = server.listeners('connection');
  if (handlers.length !== 1) throw new Error(`expected Node's one HTTP connection handler, found ${handlers.length}`);
  const parse = handlers[0] as (socket: Socket) => void;
  server.removeAllListeners('connection');
  let open = 0;
  const byClient = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const client = socket.remoteAddress ?? 'unknown';
    const fromClient = byClient.get(client) ?? 0;
    if (open >= limits.maxConnections) return refuse(socket, `the server has ${open} connections open, its limit`);
    if (fromClient >= limits.maxConnectionsPerClient) return refuse(socket, `${client} has ${fromClient} connections open, the limit per client`);
    open++;
    byClient.set(client, fromClient + 1);
    socket.once('close', () => {
      open--;
      const left = byClient.get(client)! - 1;
      if (left === 0) byClient.delete(client);
      else byClient.set(client, left);
    });
    parse.call(server, socket);
  });
}

function refuse(socket: Socket, why: string): void {
  const body = JSON.stringify({ error: { type: 'overloaded', message: `too many connections: ${why}; retry shortly` } });
  socket.on('error', () => {});
  // Read and drop what the client sends meanwhile: closing with unread data would reset the connection
  // before the client reads the answer.
  socket.on('data', () => {});
  socket.end(
    'HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
}
