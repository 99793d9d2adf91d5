import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../../errors.ts';
import '../caller/index.ts';

/** Length-independent comparison so response timing does not reveal how much of a key matched. */
function safeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * Bearer API keys. With no keys configured the API is open (local development);
 * with keys, every request under this middleware needs `Authorization: Bearer <key>`. The key's
 * position in `keys` becomes the request's key id (`k1`, `k2`...) for the access log and quotas.
 */
export function bearerAuth(keys: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    if (keys.length === 0) return next();
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    const token = match?.[1]?.trim();
    if (!token) {
      throw new ApiError(401, 'unauthorized', 'missing API key: send "Authorization: Bearer <key>"', {
        'WWW-Authenticate': 'Bearer',
      });
    }
    // Every key is compared, so timing does not reveal which one matched either.
    let matched = -1;
    keys.forEach((key, i) => {
      if (safeEqual(token, key) && matched < 0) matched = i;
    });
    if (matched < 0) throw new ApiError(401, 'unauthorized', 'invalid API key', { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
    c.set('keyId', `k${matched + 1}`);
    return next();
  };
}
