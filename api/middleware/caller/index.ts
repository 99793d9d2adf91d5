import type { Context, MiddlewareHandler } from 'hono';

declare module 'hono' {
  interface ContextVariableMap {
    /** The client's address as the runtime sees it (behind a proxy: the proxy's). */
    client: string;
    /** Which configured API key authenticated the request (`k1` for the first of CIR_API_KEYS...); never the key. */
    keyId: string;
  }
}

/** Reads the client's address from the runtime (the Node socket, Cloudflare's header); undefined when unknown. */
export type ClientAddress = (c: Context) => string | undefined;

/** Records the client's address for the access log and the per-caller quotas. */
export function identifyClient(address: ClientAddress): MiddlewareHandler {
  return async (c, next) => {
    c.set('client', address(c) ?? 'unknown');
    return next();
  };
}

/**
 * Who a request counts against in the sandbox's per-caller quotas: its API key when keys are
 * configured (so one key cannot take every executor), else its client address.
 */
export function callerOf(c: Context): string {
  const keyId = c.get('keyId');
  return keyId !== undefined ? `key:${keyId}` : `client:${c.get('client') ?? 'unknown'}`;
}
