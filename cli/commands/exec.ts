import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../api/config.ts';
import { ApiError } from '../../api/errors.ts';
import { createNodeSandbox } from '../../api/node-deps.ts';
import { LANGUAGES, type Language } from '../../api/sandbox/types.ts';
import { readAll, UsageError, type CommandIO } from '../io.ts';

export const execUsage = `usage: cir exec [FILE|-] [--language javascript|python] [--timeout-ms N] [--memory-mb N]
                [--max-output-bytes N] [--stdin-file PATH]
Runs code from FILE (or stdin) in the sandbox, in-process, and prints the result JSON.
The language defaults from the file extension (.js/.mjs → javascript, .py → python).
Exit code: 0 when status is "ok", 1 otherwise, 2 on usage errors.`;

const EXTENSIONS: Record<string, Language> = { '.js': 'javascript', '.mjs': 'javascript', '.cjs': 'javascript', '.py': 'python' };

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${value}"`);
  return n;
}

/** `cir exec`: run one snippet, print `{ status, stdout, stderr, error, ... }`. */
export async function execCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      language: { type: 'string', short: 'l' },
      'timeout-ms': { type: 'string' },
      'memory-mb': { type: 'string' },
      'max-output-bytes': { type: 'string' },
      'stdin-file': { type: 'string' },
    },
  });
  if (positionals.length > 1) throw new UsageError('give at most one FILE');
  const file = positionals[0] ?? '-';
  const language = (values.language ?? EXTENSIONS[extname(file)]) as Language | undefined;
  if (!language) throw new UsageError('cannot tell the language: pass --language javascript|python');
  if (!LANGUAGES.includes(language)) throw new UsageError(`unknown language "${language}"; expected one of ${LANGUAGES.join(', ')}`);
  const code = file === '-' ? await readAll(io.stdin) : await readFile(file, 'utf8');
  const stdin = values['stdin-file'] ? await readFile(values['stdin-file'], 'utf8') : '';

  const sandbox = await createNodeSandbox(loadConfig(process.env), { oneShot: language });
  try {
    const result = await sandbox.execute({
      language,
      code,
      stdin,
      timeoutMs: positiveInt('timeout-ms', values['timeout-ms']),
      memoryMb: positiveInt('memory-mb', values['memory-mb']),
      maxOutputBytes: positiveInt('max-output-bytes', values['max-output-bytes']),
    });
    io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return result.status === 'ok' ? 0 : 1;
  } catch (e) {
    // Limit violations and unavailable languages come back as ApiErrors: same words as over HTTP.
    if (e instanceof ApiError) throw new UsageError(e.message);
    throw e;
  } finally {
    await sandbox.dispose();
  }
}
