import { startNodeServer } from '../../api/node.ts';
import type { CommandIO } from '../io.ts';

/** `cir serve`: the API on Node until SIGINT/SIGTERM, then a graceful stop. */
export async function serveCommand(_argv: string[], io: CommandIO): Promise<number> {
  const server = await startNodeServer(process.env);
  io.stderr.write(`cir listening on ${server.url}\n`);
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
