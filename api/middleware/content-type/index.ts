import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../../errors.ts';

/**
 * Every POST must say its body is JSON (`application/json`, or a `+json` type), or it is refused
 * with 415 before its body is read. A web page can make a browser send a cross-site POST without
 * asking the server first only with a "simple" content type (text/plain, form encodings, or none);
 * refusing those is what keeps any page a user visits from running code on a server without keys.
 * The type's essence is compared, not searched: `text/plain; x=json` is still text/plain.
 */
export function requireJsonBody(): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const header = c.req.header('content-type');
    if (header === undefined || !isJson(header)) {
      const got = header === undefined ? 'no content-type' : `content-type "${header.slice(0, 100)}"`;
      throw new ApiError(415, 'invalid_request', `expected a JSON body with content-type application/json, got ${got}`);
    }
    return next();
  };
}

function isJson(header: string): boolean {
  const essence = header.split(';', 1)[0]!.trim().toLowerCase();
  return essence === 'application/json' || (essence.startsWith('application/') && essence.endsWith('+json'));
}
