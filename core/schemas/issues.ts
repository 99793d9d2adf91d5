import type { z } from 'zod';

/** One line per zod issue, prefixed with its path (`turns.2.end: ...`), for error messages people read. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message));
}
