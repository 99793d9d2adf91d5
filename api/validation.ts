import type { Context } from 'hono';
import type { z } from 'zod';
import { formatIssues } from '../core/schemas/issues.ts';
import { badRequest } from './errors.ts';

/**
 * Formats zod issues as "field: message; field: message" so a client sees its problems at once:
 * the first 20, each clipped, then how many more (a 2 MB body must not become a 45 MB error).
 */
export function describeIssues(error: z.ZodError): string {
  return formatIssues(error).join('; ');
}

/**
 * Reads the JSON body and validates it; malformed JSON and schema violations become 400s. The JSON
 * content type is checked before, for every POST route (api/middleware/content-type).
 */
export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  let body: unknown;
  try {
    body = JSON.parse(await c.req.text());
  } catch (e) {
    throw badRequest(`request body is not valid JSON: ${clip((e as Error).message)}`);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw badRequest(describeIssues(parsed.error));
  return parsed.data;
}

/** JSON.parse quotes the text around a syntax error; of a 2 MB body, that could be long. */
function clip(message: string): string {
  return message.length > 200 ? `${message.slice(0, 200)}…` : message;
}
