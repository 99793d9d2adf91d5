import type { Context } from 'hono';
import type { z } from 'zod';
import { ApiError, badRequest } from './errors.ts';

/** Formats zod issues as "field: message; field: message" so a client sees every problem at once. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

/** Reads the JSON body and validates it; malformed JSON and schema violations become 400s. */
export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const type = c.req.header('content-type') ?? '';
  if (type && !/\bjson\b/i.test(type)) {
    throw new ApiError(415, 'invalid_request', `expected a JSON body (content-type application/json), got "${type}"`);
  }
  let body: unknown;
  try {
    body = JSON.parse(await c.req.text());
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw badRequest(`request body is not valid JSON: ${(e as Error).message}`);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw badRequest(describeIssues(parsed.error));
  return parsed.data;
}
