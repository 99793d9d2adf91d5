import { PassThrough } from 'node:stream';
import type { CommandIO } from '../cli/io.ts';

export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a `cir` command in-process as the CLI would (empty stdin), with `env` laid over
 * process.env for its duration, and returns its exit code and what it wrote.
 */
export async function runCommand(
  command: (argv: string[], io: CommandIO) => Promise<number>,
  argv: string[],
  env: Record<string, string> = {},
): Promise<CommandOutput> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const code = await command(argv, { stdin: new PassThrough(), stdout, stderr });
    return { code, stdout: out, stderr: err };
  } finally {
    process.env = saved;
  }
}
