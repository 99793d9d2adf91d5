import type { z } from 'zod';

/** Issues shown in one message; the rest are counted. A 2 MB body of bad elements has a million. */
export const MAX_LISTED_ISSUES = 20;
/** Characters of one issue's line: a message may quote the offending input, which can be megabytes. */
const MAX_ISSUE_CHARS = 200;

function issueLine(issue: z.core.$ZodIssue): string {
  const line = issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message;
  return line.length > MAX_ISSUE_CHARS ? `${line.slice(0, MAX_ISSUE_CHARS)}…` : line;
}

/**
 * One line per zod issue, prefixed with its path (`turns.2.end: ...`), for error messages people read:
 * at most `max` lines of at most 200 characters, then `(N more issues)`, so the message costs the
 * same whatever the input's size.
 */
export function formatIssues(error: z.ZodError, max = MAX_LISTED_ISSUES): string[] {
  const lines = error.issues.slice(0, max).map(issueLine);
  const more = error.issues.length - lines.length;
  if (more > 0) lines.push(`(${more} more issue${more === 1 ? '' : 's'})`);
  return lines;
}
