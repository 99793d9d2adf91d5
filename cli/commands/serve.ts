import { startNodeServer } from '../../api/node.ts';
import { EMBEDDED_MODEL_DIR, withEmbeddedModel } from '../embedded-model.ts';
import type { CommandIO } from '../io.ts';

/** `cir serve`: the API on Node until SIGINT/SIGTERM, then a graceful stop. */
export async function serveCommand(_argv: string[], io: CommandIO): Promise<number> {
  const env = withEmbeddedModel(process.env);
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
