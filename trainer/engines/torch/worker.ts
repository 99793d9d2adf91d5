/**
 * The worker process (train.py beside this file) and its line protocol: one JSON request per line on
 * stdin, one JSON reply per line on stdout, one request at a time; stderr is kept for error messages.
 * With nproc > 1 the worker runs under torchrun (`python -m torch.distributed.run`), whose rank 0
 * answers.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const WORKER_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'train.py');

export type Reply = { ok: true; [key: string]: unknown } | { ok: false; error: string };

/** The command line that runs train.py with `args` on `nproc` processes. */
export function workerCommand(python: string, nproc: number, args: readonly string[]): { command: string; args: string[] } {
  const launcher = nproc > 1 ? ['-m', 'torch.distributed.run', '--standalone', `--nproc-per-node=${nproc}`] : [];
  return { command: python, args: [...launcher, WORKER_SCRIPT, ...args] };
}

export class WorkerProcess {
  private readonly lines: AsyncIterator<string>;
  private stderr = '';
  private exited: string | null = null;
  private readonly gone: Promise<void>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-8000);
    });
    this.gone = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exited = signal ? `signal ${signal}` : `exit code ${code}`;
        resolve();
      });
      child.on('error', (error) => {
        this.exited = error.message;
        resolve();
      });
    });
  }

  /**
   * Starts the worker in its own process group, so a Ctrl-C meant for `cir train` (which finishes its
   * step first) does not kill the worker mid-step.
   */
  static start(python: string, nproc: number, args: readonly string[], env: NodeJS.ProcessEnv = process.env): WorkerProcess {
    const { command, args: argv } = workerCommand(python, nproc, args);
    return new WorkerProcess(spawn(command, argv, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env }));
  }

  private lastErrors(lines: number): string {
    return this.stderr.trim().split('\n').slice(-lines).join(' | ');
  }

  /** The next reply line; rejects if the worker ends first or `timeoutMs` passes. */
  async next(what: string, timeoutMs?: number): Promise<Reply> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      if (timeoutMs !== undefined) timer = setTimeout(() => reject(new Error(`torch worker gave no answer within ${timeoutMs / 1000} s during ${what}: ${this.lastErrors(5)}`)), timeoutMs);
    });
    try {
      const line = await Promise.race([this.lines.next(), timeout]);
      if (line.done) {
        await this.gone;
        throw new Error(`torch worker ended (${this.exited ?? 'stdout closed'}) during ${what}: ${this.lastErrors(5)}`);
      }
      try {
        return JSON.parse(line.value) as Reply;
      } catch {
        throw new Error(`torch worker wrote a line that is not JSON during ${what}: ${line.value.slice(0, 200)}`);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async call(request: { cmd: string; [key: string]: unknown }): Promise<Record<string, unknown>> {
    if (this.exited) throw new Error(`torch worker is not running (${this.exited}): ${this.lastErrors(3)}`);
    this.child.stdin.write(`${JSON.stringify(request)}\n`);
    const reply = await this.next(request.cmd);
    if (!reply.ok) throw new Error(`torch worker: ${reply.error}`);
    return reply;
  }

  /**
   * Asks the worker to exit (end of input does too). Past `graceMs` it is sent SIGTERM (torchrun passes
   * that on to its ranks, which run in sessions of their own), and past twice that its group is killed.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.exited) return;
    this.child.stdin.end(`${JSON.stringify({ cmd: 'exit' })}\n`);
    const term = setTimeout(() => this.child.kill('SIGTERM'), graceMs);
    const kill = setTimeout(() => {
      try {
        process.kill(-this.child.pid!, 'SIGKILL');
      } catch {
        this.child.kill('SIGKILL');
      }
    }, 2 * graceMs);
    await this.gone;
    clearTimeout(term);
    clearTimeout(kill);
  }
}
