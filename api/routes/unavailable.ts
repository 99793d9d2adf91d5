import type { Hono } from 'hono';
import { ApiError } from '../errors.ts';

/**
 * Routes under `prefix` whose backing service this runtime lacks (a filesystem on Workers, a store
 * nobody configured) answer 501 with `message`, saying what would make them work.
 */
export function answer501Unless(app: Hono, prefix: string, available: boolean, message: string): void {
  if (available) return;
  for (const path of [prefix, `${prefix}/*`]) {
    app.use(path, async () => {
      throw new ApiError(501, 'unsupported', message);
    });
  }
}
