import type { MiddlewareHandler } from 'hono';
import type { Config } from '../../config.ts';

/** The access log of a server: to `write` (stderr on Node) when CIR_LOG_LEVEL is info or debug, else none. */
export function accessLogSink(config: Config, write: (line: string) => void): { accessLog?: (line: string) => void } {
  return config.CIR_LOG_LEVEL === 'info' || config.CIR_LOG_LEVEL === 'debug' ? { accessLog: write } : {};
}

/**
 * One line per request: time, method, path (no query), status, milliseconds until the response
 * head, the key id (`k1`..., `-` without one; never the key) and the client address, e.g.
 * `2026-12-05T08:00:00.000Z POST /v1/execute 200 12.3ms key=k1 client=127.0.0.1`.
 * A streamed response (/v1/solve with stream: true) is logged when its stream starts.
 */
export function accessLog(write: (line: string) => void): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const ms = (performance.now() - started).toFixed(1);
      write(`${new Date().toISOString()} ${c.req.method} ${c.req.path} ${c.res.status} ${ms}ms key=${c.get('keyId') ?? '-'} client=${c.get('client') ?? 'unknown'}`);
    }
  };
}
