import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ApiError, type ApiErrorType } from '../../errors.ts';

/** The one error body of the API: `{ error: { type, message } }`. */
export function errorResponse(c: Context, error: ApiError): Response {
  return c.json({ error: { type: error.type, message: error.message } }, error.status, error.headers);
}

const TYPES_BY_STATUS: Record<number, ApiErrorType> = {
  400: 'invalid_request',
  401: 'unauthorized',
  404: 'not_found',
  413: 'payload_too_large',
};

/** Turns anything thrown under a route into the JSON error body; unexpected errors become a 500 that hides internals. */
export function onError(log: (message: string, error: unknown) => void): ErrorHandler {
  return (err, c) => {
    if (err instanceof ApiError) return errorResponse(c, err);
    if (err instanceof HTTPException) {
      const type = TYPES_BY_STATUS[err.status] ?? (err.status >= 500 ? 'internal' : 'invalid_request');
      return errorResponse(c, new ApiError(err.status as ApiError['status'], type, err.message || `HTTP ${err.status}`));
    }
    log(`unhandled error on ${c.req.method} ${c.req.path}`, err);
    return errorResponse(c, new ApiError(500, 'internal', 'internal server error'));
  };
}

export const notFound: NotFoundHandler = (c) =>
  errorResponse(c, new ApiError(404, 'not_found', `no route for ${c.req.method} ${c.req.path}`));
