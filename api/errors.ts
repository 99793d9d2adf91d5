import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** Error types surfaced in the JSON error body `{ error: { type, message } }`. */
export type ApiErrorType =
  | 'invalid_request'
  | 'unauthorized'
  | 'not_found'
  | 'payload_too_large'
  | 'unsupported'
  | 'rate_limited'
  | 'overloaded'
  | 'internal';

/**
 * An error that maps to an HTTP response. Throw it anywhere under a route;
 * the error handler in app.ts turns it into `{ error: { type, message } }`.
 */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly type: ApiErrorType,
    message: string,
    /** Extra response headers, e.g. Retry-After on 429/503. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const badRequest = (message: string) => new ApiError(400, 'invalid_request', message);
