import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer, connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Local S3 and SQS servers for the integration tests, each a child process on a loopback port that a
 * test can kill (an outage) and start again on the same port:
 *  - S3: s3rver, which keeps objects in a directory, so a restart finds what was stored before;
 *  - SQS: fauxqs (test/logging/sqs-emulator.mjs), in memory, so a restart starts with no queues.
 */

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));

/** s3rver's fixed credentials (it checks signatures). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** The CIR_* environment that points the logging drivers at a running s3rver and SQS emulator. */
export function remoteLoggingEnv(s3: Emulator, sqs: Emulator, bucket: string, queueUrl: string): Record<string, string> {
  return {
    CIR_STORAGE: 's3',
    CIR_S3_BUCKET: bucket,
    CIR_S3_ENDPOINT: s3.endpoint,
    CIR_S3_FORCE_PATH_STYLE: 'true',
    CIR_QUEUE: 'sqs',
    CIR_SQS_QUEUE_URL: queueUrl,
    CIR_SQS_ENDPOINT: sqs.endpoint,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
  };
}

export class Emulator {
  private child: ChildProcess | null = null;

  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly args: string[],
  ) {}

  static async s3(dataDir: string): Promise<Emulator> {
    const bin = join(dirname(require.resolve('s3rver/package.json')), 'bin', 's3rver.js');
    const port = await freePort();
    return new Emulator('s3rver', port, [bin, '--directory', dataDir, '--address', '127.0.0.1', '--port', String(port), '--silent']);
  }

  static async sqs(): Promise<Emulator> {
    const port = await freePort();
    return new Emulator('fauxqs', port, [join(here, 'sqs-emulator.mjs'), String(port)]);
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the server and resolves once it accepts connections. */
  async start(): Promise<void> {
    if (this.child) throw new Error(`${this.name} is already running`);
    const child = spawn(process.execPath, this.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    live.add(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', () => live.delete(child));
    const deadline = Date.now() + 20_000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null) throw new Error(`${this.name} exited with ${child.exitCode}: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`${this.name} did not listen on ${this.port} within 20 s: ${stderr}`);
      await sleep(50);
    }
  }

  /** SIGKILL, as a crash or a pulled cable would: no graceful shutdown. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }
}

/** Children still running, killed if the test process exits without afterAll (a crash, a timeout). */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('could not find a free port');
  return address.port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
