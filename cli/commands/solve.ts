import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createTrajectoryLoggingFromEnv } from '../../core/logging/from-env.ts';
import { ConfigError, loadConfig } from '../../api/config.ts';
import { loadModelBackend, modelSpecFromEnv } from '../../api/models/index.ts';
import { createNodeSandbox } from '../../api/node-deps.ts';
import { reasoningSettingsFromConfig, solveProblem, SolveInputError, type SolveRequest } from '../../api/reasoning/index.ts';
import { solveResultJson } from '../../api/routes/solve.ts';
import { withEmbeddedModel } from '../embedded-model.ts';
import { readAll, UsageError, type CommandIO } from '../io.ts';

export const solveUsage = `usage: cir solve [PROBLEM | --file PATH | -] [--gold ANSWER] [-n N] [--max-tool-calls N]
                 [--temperature T] [--top-p P] [--max-tokens N] [--seed N] [--stream] [--no-log]
Solves a problem with code-integrated reasoning, in-process: the model from CIR_MODEL_DIR (or
CIR_MODEL_URL; else the embedded model, model/default) writes code, the sandbox runs it, and the result prints as JSON (the /v1/solve body).
The problem comes from the argument, a file, or stdin. With --stream each transcript segment prints
as a JSON line ({ "sample", "segment" }) as it completes, before the result. Trajectories are logged
like the server's (CIR_STORAGE / CIR_QUEUE under CIR_DATA_DIR) unless --no-log.
Exit code: 0 on success, 1 when the solve failed, 2 on usage or configuration errors.`;

function number(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${value}"`);
  return n;
}

/** `cir solve`: one problem, n samples, printed as JSON. */
export async function solveCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      file: { type: 'string', short: 'f' },
      gold: { type: 'string' },
      n: { type: 'string', short: 'n' },
      'max-tool-calls': { type: 'string' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      'max-tokens': { type: 'string' },
      seed: { type: 'string' },
      stream: { type: 'boolean' },
      'no-log': { type: 'boolean' },
    },
  });
  if (positionals.length > 1) throw new UsageError('give the problem as one argument (quote it), or use --file or stdin');
  if (positionals.length === 1 && values.file) throw new UsageError('give the problem either as an argument or with --file, not both');
  const problem =
    values.file !== undefined ? await readFile(values.file, 'utf8') : positionals[0] === undefined || positionals[0] === '-' ? await readAll(io.stdin) : positionals[0];

  const env = process.env;
  const config = loadConfig(env);
  const spec = modelSpecFromEnv(withEmbeddedModel(env));
  if (!spec) throw new ConfigError(['no model: set CIR_MODEL_DIR (an ONNX model directory) or CIR_MODEL_URL']);
  const request: SolveRequest = {
    problem,
    ...(values.gold !== undefined && { gold: values.gold }),
    ...(values.n !== undefined && { n: number('n', values.n) }),
    ...(values['max-tool-calls'] !== undefined && { maxToolCalls: number('max-tool-calls', values['max-tool-calls']) }),
    ...(values.temperature !== undefined && { temperature: number('temperature', values.temperature) }),
    ...(values['top-p'] !== undefined && { topP: number('top-p', values['top-p']) }),
    ...(values['max-tokens'] !== undefined && { maxTokens: number('max-tokens', values['max-tokens']) }),
    ...(values.seed !== undefined && { seed: number('seed', values.seed) }),
  };

  const logging = values['no-log']
    ? undefined
    : await createTrajectoryLoggingFromEnv(env, { dataDir: config.CIR_DATA_DIR });
  const sandbox = await createNodeSandbox(config);
  const backend = await loadModelBackend(spec).catch((e: unknown) => {
    throw new ConfigError([`model: ${(e as Error).message}`]);
  });
  // Ctrl-C cancels the solve; the partial trajectories are still logged.
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    io.stderr.write(`solving with ${backend.info.id} (n=${request.n ?? 1})\n`);
    const result = await solveProblem({ backend, checkpoint: { version: 'static' } }, sandbox, request, {
      signal: controller.signal,
      settings: reasoningSettingsFromConfig(config),
      ...(logging && { logger: logging.logger }),
      ...(values.stream && {
        onEvent: (e) => {
          if (e.type === 'segment') io.stdout.write(`${JSON.stringify({ sample: e.sample, segment: e.segment })}\n`);
        },
      }),
    });
    io.stdout.write(`${JSON.stringify(solveResultJson(result), null, values.stream ? undefined : 2)}\n`);
    return 0;
  } catch (e) {
    if (e instanceof SolveInputError) throw new UsageError(e.message);
    io.stderr.write(`cir solve: ${(e as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
    await Promise.all([sandbox.dispose(), backend.dispose()]);
    const closed = await logging?.close();
    if (closed && closed.undeliveredBatches > 0) io.stderr.write(`${closed.undeliveredBatches} trajectory batch(es) left in the spool for the next run\n`);
  }
}
