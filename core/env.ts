import type { z } from 'zod';

/** Variables whose values never appear in error messages. */
const SECRET_NAME = /KEY|SECRET|TOKEN|PASSWORD/i;

/** Configuration from the environment is wrong; `issues` name each offending variable. */
export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Validates the variables `schema` knows from `env` (empty strings count as unset). Throws
 * ConfigError naming every offending variable, with its value unless the name marks a secret.
 */
export function parseEnv<S extends z.ZodObject>(
  schema: S,
  env: Record<string, string | undefined>,
): z.infer<S> {
  const input: Record<string, string> = {};
  for (const name of Object.keys(schema.shape)) {
    const value = env[name];
    if (value !== undefined && value !== '') input[name] = value;
  }
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new ConfigError(
    parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '');
      if (name === '') return issue.message;
      const shown = input[name] === undefined ? '(unset)' : SECRET_NAME.test(name) ? '(hidden)' : JSON.stringify(input[name]);
      return `${name}=${shown}: ${issue.message}`;
    }),
  );
}
