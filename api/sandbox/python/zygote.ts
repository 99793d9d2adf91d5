import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { OutputCollector } from '../output.ts';
import { INFO_FD } from './bwrap.ts';
import { encodeRequest, FrameDecoder, type DoneInfo, type Frame, type ReadyInfo, type ZygoteRequest } from './protocol.ts';

export interface SandboxCommand {
  bwrapBin: string;
  args: string[];
  user: { uid: number; gid: number } | null;
}

export interface OutputSink {
  stdout(chunk: Uint8Array): void;
  stderr(chunk: Uint8Array): void;
}

interface Run {
  sink: OutputSink;
  resolve(done: DoneInfo | null): void;
}

/** Tail of the zygote's own stderr kept for error messages. */
const DIAGNOSTIC_BYTES = 4096;
/** A zygote not ready by then (preloading included) is killed, failing the requests waiting for it. */
const START_TIMEOUT_MS = 30_000;

/**
 * Node's handle on one sandbox: a bwrap process whose command is zygote.py. It runs one
 * snippet at a time. Killing it kills the sandbox's init, which takes the whole PID namespace
 * down; bwrap then exits on its own and Node reaps it, so nothing is left behind.
 */
export class Zygote {
  /** Resolves when the zygote has preloaded and waits for a request; rejects if it dies first. */
  readonly ready: Promise<ReadyInfo>;
  /** Resolves once the bwrap process has exited and its pipes are closed. */
  readonly closed: Promise<void>;

  private readonly child: ChildProcess;
  private readonly decoder = new FrameDecoder();
  private readonly diagnostics = new OutputCollector(DIAGNOSTIC_BYTES);
  /** Host pid of the sandbox's init, from bwrap's --info-fd. */
  private sandboxPid: number | null = null;
  private current: Run | null = null;
  private exited = false;
  private settleReady!: { resolve(info: ReadyInfo): void; reject(error: Error): void };

  constructor(command: SandboxCommand) {
    this.ready = new Promise((resolve, reject) => (this.settleReady = { resolve, reject }));
    this.ready.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
    this.child = spawn(command.bwrapBin, command.args, {
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      env: {},
      cwd: '/',
      detached: true, // its own process group, so a stray terminal signal to Node's group spares it
      ...(command.user ?? {}),
    });
    this.closed = new Promise((resolve) => {
      this.child.once('close', () => resolve());
      this.child.once('error', () => resolve()); // spawn failed: there is no process to wait for
    });
    this.child.once('error', (error) => this.onExit(`could not start bwrap: ${error.message}`));
    this.child.once('close', (code, signal) => this.onExit(`bwrap exited (${signal ?? `status ${code}`})`));
    this.child.stdin!.on('error', () => {}); // EPIPE when the sandbox died: reported through 'close'
    this.child.stdout!.on('data', (chunk: Buffer) => this.onFrames(chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => this.diagnostics.push(chunk));
    readInfo(this.child.stdio[INFO_FD] as Readable, (pid) => (this.sandboxPid = pid));
    const startTimer = setTimeout(() => {
      this.diagnostics.push(`\nnot ready after ${START_TIMEOUT_MS} ms\n`);
      this.kill();
    }, START_TIMEOUT_MS);
    startTimer.unref();
    const clearStartTimer = () => clearTimeout(startTimer);
    this.ready.then(clearStartTimer, clearStartTimer);
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Runs one request; resolves with the zygote's report, or null if the sandbox died first (or was killed). */
  run(request: ZygoteRequest, sink: OutputSink): Promise<DoneInfo | null> {
    if (this.exited) return Promise.resolve(null);
    if (this.current) throw new Error('zygote is already running a snippet');
    return new Promise((resolve) => {
      this.current = { sink, resolve };
      this.child.stdin!.write(encodeRequest(request));
    });
  }

  /** SIGKILLs the sandbox. Safe to call at any time, any number of times. */
  kill(): void {
    if (this.exited) return;
    try {
      if (this.sandboxPid !== null) process.kill(this.sandboxPid, 'SIGKILL');
      else process.kill(-this.child.pid!, 'SIGKILL'); // still starting: bwrap's whole group
    } catch {
      // Already gone: 'close' follows.
    }
  }

  private onFrames(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.diagnostics.push(`\n${(error as Error).message}\n`);
      this.kill();
      return;
    }
    for (const frame of frames) {
      switch (frame.kind) {
        case 'ready':
          this.settleReady.resolve(frame.info);
          break;
        case 'stdout':
          this.current?.sink.stdout(frame.data);
          break;
        case 'stderr':
          this.current?.sink.stderr(frame.data);
          break;
        case 'done': {
          const run = this.current;
          this.current = null;
          run?.resolve(frame.info);
          break;
        }
      }
    }
  }

  private onExit(why: string): void {
    if (this.exited) return;
    this.exited = true;
    const detail = this.diagnostics.result().text.trim();
    this.settleReady.reject(new Error(`python sandbox failed to start: ${why}${detail ? `: ${detail}` : ''}`));
    const run = this.current;
    this.current = null;
    run?.resolve(null);
  }
}

/** Parses bwrap's --info-fd JSON once it is complete. */
function readInfo(stream: Readable, onPid: (pid: number) => void): void {
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    text += chunk;
    try {
      const pid = (JSON.parse(text) as { 'child-pid'?: unknown })['child-pid'];
      if (typeof pid === 'number') onPid(pid);
    } catch {
      // Not complete yet.
    }
  });
  stream.on('error', () => {});
}
