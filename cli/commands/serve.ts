import { parseArgs } from 'node:util';
import { startNodeServer } from '../../api/node.ts';
import { EMBEDDED_MODEL_DIR, withEmbeddedModel } from '../embedded-model.ts';
import { UsageError, type CommandIO } from '../io.ts';

export const serveUsage = `usage: cir serve [--port N] [--host H]
Serves the HTTP API until SIGINT/SIGTERM. Every other setting comes from CIR_* environment variables
(README, "Configuration"); without a configured model the embedded one is served.
  --port N   port to listen on (default: PORT, else 8787; 0 picks a free port, printed at start)
  --host H   address to listen on (default: HOST, else 127.0.0.1; 0.0.0.0 for every interface)`;

/** `cir serve`: the API on Node until SIGINT/SIGTERM, then a graceful stop. Flags override PORT and HOST. */
export async function serveCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { port: { type: 'string', short: 'p' }, host: { type: 'string' } },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (values.port !== undefined && !/^\d+$/.test(values.port)) throw new UsageError(`--port must be a whole number from 0 to 65535, got "${values.port}"`);
  if (values.port !== undefined && Number(values.port) > 65535) throw new UsageError(`--port must be at most 65535, got ${values.port}`);
  if (values.host !== undefined && values.host.trim() === '') throw new UsageError('--host must not be empty');
  const env = withEmbeddedModel({
    ...process.env,
    ...(values.port !== undefined && { PORT: values.port }),
    ...(values.host !== undefined && { HOST: values.host }),
  });
  const server = await startNodeServer(env);
  const model = env.CIR_MODEL_DIR === EMBEDDED_MODEL_DIR ? ` serving the embedded model ${env.CIR_MODEL_NAME}` : '';
  io.stderr.write(`cir listening on ${server.url}${model}\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      io.stderr.write(`received ${signal}, shutting down\n`);
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await server.close();
  return 0;
}
