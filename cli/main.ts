import { ConfigError } from '../api/config.ts';
import { execCommand, execUsage } from './commands/exec.ts';
import { gradeCommand, gradeUsage } from './commands/grade.ts';
import { serveCommand } from './commands/serve.ts';
import { UsageError, type CommandIO } from './io.ts';

type Command = (argv: string[], io: CommandIO) => Promise<number>;

const COMMANDS: Record<string, { run: Command; summary: string; usage?: string }> = {
  serve: { run: serveCommand, summary: 'serve the HTTP API (PORT, HOST and CIR_* variables configure it)' },
  exec: { run: execCommand, summary: 'run a code snippet in the sandbox and print the result JSON', usage: execUsage },
  grade: { run: gradeCommand, summary: 'grade {gold, pred} JSONL lines (pred may be a whole response)', usage: gradeUsage },
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: cir <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun "cir <command> --help" for a command's options.\n`;
}

export async function main(argv: string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(help());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr.write(`cir: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(`${command.usage ?? `usage: cir ${name}\n${command.summary}`}\n`);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`cir ${name}: ${(e as Error).message}\n${command.usage ? `\n${command.usage}\n` : ''}`);
      return 2;
    }
    if (e instanceof ConfigError) {
      io.stderr.write(`cir ${name}: ${e.message}\n`);
      return 2;
    }
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      io.stderr.write(`cir ${name}: ${(e as Error).message}\n`);
      return 2;
    }
    throw e;
  }
}
