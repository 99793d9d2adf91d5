import { ConfigError } from '../api/config.ts';
import { UsageError, type CommandIO } from './io.ts';

type Command = (argv: string[], io: CommandIO) => Promise<number>;

/**
 * Each command is imported only when it runs: a command's module pulls in its whole subsystem
 * (onnxruntime, the trainer, the AWS SDK...), and loading every one made each `cir` start slow.
 */
interface CommandEntry {
  summary: string;
  load: () => Promise<{ run: Command; usage?: string }>;
}

const COMMANDS: Record<string, CommandEntry> = {
  serve: {
    summary: 'serve the HTTP API (PORT, HOST and CIR_* variables configure it)',
    load: async () => {
      const m = await import('./commands/serve.ts');
      return { run: m.serveCommand, usage: m.serveUsage };
    },
  },
  exec: {
    summary: 'run a code snippet in the sandbox and print the result JSON',
    load: async () => {
      const m = await import('./commands/exec.ts');
      return { run: m.execCommand, usage: m.execUsage };
    },
  },
  solve: {
    summary: 'solve a problem with code-integrated reasoning (in-process model + sandbox), print JSON',
    load: async () => {
      const m = await import('./commands/solve.ts');
      return { run: m.solveCommand, usage: m.solveUsage };
    },
  },
  grade: {
    summary: 'grade {gold, pred} JSONL lines (pred may be a whole response)',
    load: async () => {
      const m = await import('./commands/grade.ts');
      return { run: m.gradeCommand, usage: m.gradeUsage };
    },
  },
  import: {
    summary: 'make a Hugging Face checkpoint directory servable and trainable here (ONNX export, no Optimum)',
    load: async () => {
      const m = await import('./commands/import.ts');
      return { run: m.importCommand, usage: m.importUsage };
    },
  },
  train: {
    summary: 'consume logged trajectories, train (cpu engine, or torch on GPUs) and publish a checkpoint; --loop to keep going',
    load: async () => {
      const m = await import('./commands/train.ts');
      return { run: m.trainCommand, usage: m.trainUsage };
    },
  },
  publish: {
    summary: 'publish a model directory as a checkpoint that watching servers hot-swap to',
    load: async () => {
      const m = await import('./commands/publish.ts');
      return { run: m.publishCommand, usage: m.publishUsage };
    },
  },
  pull: {
    summary: 'download a published checkpoint (verified) into a directory vLLM serves; --watch to follow training',
    load: async () => {
      const m = await import('./commands/pull.ts');
      return { run: m.pullCommand, usage: m.pullUsage };
    },
  },
  eval: {
    summary: 'evaluate a model on math benchmarks (avg@k, pass@k, tool use, report); compare runs',
    load: async () => {
      const m = await import('./commands/eval.ts');
      return { run: m.evalCommand, usage: m.evalUsage };
    },
  },
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
  const entry = COMMANDS[name];
  if (!entry) {
    io.stderr.write(`cir: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(`${command.usage ?? `usage: cir ${name}\n${entry.summary}`}\n`);
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
