/**
 * Command lines of the scripts under model/ and scripts/ (the `cir` CLI has its own, cli/main.ts).
 * A mistake (an unknown option, a missing or malformed value) prints what is wrong and the script's
 * usage on stderr and exits 2, never a stack trace; `--help` prints the usage and exits 0.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface ScriptIO {
  argv: string[];
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  exit(code: number): never;
}

const processIO = (): ScriptIO => ({
  argv: process.argv.slice(2),
  stdout: process.stdout,
  stderr: process.stderr,
  exit: (code) => process.exit(code),
});

type Values<T extends ParseArgsConfig> = ReturnType<typeof parseArgs<T>>['values'];

export interface ScriptArgs<V> {
  values: V;
  /** Prints `message` and the usage, exits 2. */
  fail(message: string): never;
  /** The option as an integer >= min; fails when it is missing or is not one. */
  int(name: keyof V & string, min: number): number;
  /** The option as a finite number >= min (> min when `exclusive`). */
  number(name: keyof V & string, min: number, exclusive?: boolean): number;
  /** The option as one of `allowed`. */
  oneOf<S extends string>(name: keyof V & string, allowed: readonly S[]): S;
  /** The option's string value; fails when it is missing. */
  required(name: keyof V & string): string;
}

export function parseScriptArgs<T extends ParseArgsConfig>(usage: string, config: T, io: ScriptIO = processIO()): ScriptArgs<Values<T>> {
  const fail = (message: string): never => {
    io.stderr.write(`${message}\n${usage}\n`);
    return io.exit(2);
  };
  if (io.argv.some((a) => a === '--help' || a === '-h')) {
    io.stdout.write(`${usage}\n`);
    io.exit(0);
  }
  let values: Values<T>;
  try {
    values = parseArgs({ ...config, args: io.argv }).values as Values<T>;
  } catch (error) {
    if (!(error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw error;
    return fail((error as Error).message);
  }
  const raw = (name: string): unknown => (values as Record<string, unknown>)[name];
  const required = (name: string): string => {
    const value = raw(name);
    if (value === undefined || value === '') return fail(`--${name} is required`);
    return String(value);
  };
  return {
    values,
    fail,
    required,
    int(name, min) {
      const value = Number(required(name));
      if (!Number.isSafeInteger(value) || value < min) fail(`--${name} must be an integer >= ${min}, got ${raw(name)}`);
      return value;
    },
    number(name, min, exclusive = false) {
      const value = Number(required(name));
      if (!Number.isFinite(value) || value < min || (exclusive && value === min)) {
        fail(`--${name} must be a number ${exclusive ? '>' : '>='} ${min}, got ${raw(name)}`);
      }
      return value;
    },
    oneOf(name, allowed) {
      const value = required(name);
      if (!(allowed as readonly string[]).includes(value)) fail(`--${name} must be one of ${allowed.join(', ')}, got ${value}`);
      return value as (typeof allowed)[number];
    },
  };
}
