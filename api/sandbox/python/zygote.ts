import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { OutputCollector } from '../output.ts';
import { BLOCK_FD, INFO_FD, SECCOMP_FD } from './bwrap.ts';
import type { Cgroups, SandboxCgroup } from './cgroup.ts';
import { encodeRequest, FrameDecoder, type DoneInfo, type Frame, type ReadyInfo, type ZygoteRequest } from './protocol.ts';

export interface SandboxCommand {
  bwrapBin: string;
  /** Made by bwrapArgs with the same filter and cgroup choices as below. */
  args: string[];
  user: { uid: number; gid: number } | null;
  /** Written to bwrap's SECCOMP_FD. */
  sandboxFilter: Buffer | null;
  /** Where each sandbox gets its cgroup; bwrap then waits on BLOCK_FD until it is in. */
  cgroups: Cgroups | null;
  /** pids limit of a sandbox's cgroup: bwrap, the sandbox's init, the zygote, and the snippet's processes and threads. */
  maxTasks: number;
}

/** What became of one run. */
export interface RunOutcome {
  /** The zygote's report; null if the sandbox died first (or was killed). */
  done: DoneInfo | null;
  /** The cgroup's out-of-memory killer killed one of the run's processes (or the sandbox). */
  oomKilled: boolean;
}

export interface OutputSink {
  stdout(chunk: Uint8Array): void;
  stderr(chunk: Uint8Array): void;
}

interface Run {
  sink: OutputSink;
  resolve(outcome: RunOutcome): void;
}

/** Tail of the zygote's own stderr kept for error messages. */
const DIAGNOSTIC_BYTES = 4096;
/** A zygote not ready by then (preloading included) is killed, failing the requests waiting for it. */
const START_TIMEOUT_MS = 30_000;
const MIB = 1024 * 1024;

/**
 * Node's handle on one sandbox: a bwrap process whose command is zygote.py. It runs one
 * snippet at a time. Killing it kills the sandbox's init, which takes the whole PID namespace
 * down; bwrap then exits on its own and Node reaps it, so nothing is left behind.
 *
 * With a cgroup, bwrap waits until Node has moved it and the sandbox's first process into the
 * cgroup, so everything the sandbox ever runs is inside. Each run's memory ceiling is the
 * idle sandbox's charge plus what a forked child may copy of the zygote plus the run's
 * memory_mb; the cgroup's out-of-memory kill count tells whether the run passed it.
 */
export class Zygote {
  /** Resolves when the zygote has preloaded and waits for a request; rejects if it dies first. */
  readonly ready: Promise<ReadyInfo>;
  /** Resolves once the bwrap process has exited and its pipes are closed. */
  readonly closed: Promise<void>;

  private readonly child: ChildProcess;
  private readonly cgroup: SandboxCgroup | null;
  /** Charge of the idle sandbox plus the zygote's copyable image, measured when it got ready. */
  private memoryBase = 0;
  private memoryLimit: number | null = null;
  /** The cgroup's out-of-memory kill count after the last run: it only moves while a run is on. */
  private oomKills = 0;
  private readonly decoder = new FrameDecoder();
  private readonly diagnostics = new OutputCollector(DIAGNOSTIC_BYTES);
  /** Host pid of the sandbox's init, from bwrap's --info-fd. */
  private sandboxPid: number | null = null;
  private current: Run | null = null;
  private exited = false;
  private settleReady!: { resolve(info: ReadyInfo): void; reject(error: Error): void };

  /** Throws if the sandbox's cgroup cannot be made. */
  constructor(command: SandboxCommand) {
    this.ready = new Promise((resolve, reject) => (this.settleReady = { resolve, reject }));
    this.ready.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
    this.cgroup = command.cgroups?.create(command.maxTasks) ?? null;
    this.child = spawn(command.bwrapBin, command.args, {
      stdio: ['pipe', 'pipe', 'pipe', 'pipe', command.sandboxFilter ? 'pipe' : 'ignore', this.cgroup ? 'pipe' : 'ignore'],
      env: {},
      cwd: '/',
      detached: true, // its own process group, so a stray terminal signal to Node's group spares it
      ...(command.user ?? {}),
    });
    this.closed = new Promise((resolve) => {
      // The run's outcome is read from the cgroup before its directory goes.
      const exit = (why: string) => {
        this.onExit(why);
        void (this.cgroup?.remove() ?? Promise.resolve()).then(resolve);
      };
      this.child.once('error', (error) => exit(`could not start bwrap: ${error.message}`)); // no process to wait for
      this.child.once('close', (code, signal) => exit(`bwrap exited (${signal ?? `status ${code}`})`));
    });
    this.child.stdin!.on('error', () => {}); // EPIPE when the sandbox died: reported through 'close'
    this.child.stdout!.on('data', (chunk: Buffer) => this.onFrames(chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => this.diagnostics.push(chunk));
    if (command.sandboxFilter) endWith(this.stdio(SECCOMP_FD), command.sandboxFilter);
    readInfo(this.stdio(INFO_FD), (pid) => {
      this.sandboxPid = pid;
      if (this.cgroup) this.enterCgroup(this.cgroup, pid);
    });
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

  /** Runs one request under its memory ceiling; resolves once the run and everything it started are gone. */
  run(request: ZygoteRequest, sink: OutputSink): Promise<RunOutcome> {
    if (this.exited) return Promise.resolve({ done: null, oomKilled: false });
    if (this.current) throw new Error('zygote is already running a snippet');
    const limit = this.memoryBase + request.limits.memoryMb * MIB;
    if (this.cgroup && limit !== this.memoryLimit) {
      this.cgroup.setMemoryLimit(limit);
      this.memoryLimit = limit;
    }
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
          this.onReady(frame.info);
          break;
        case 'stdout':
          this.current?.sink.stdout(frame.data);
          break;
        case 'stderr':
          this.current?.sink.stderr(frame.data);
          break;
        case 'done':
          this.finishRun(frame.info);
          break;
      }
    }
  }

  private onExit(why: string): void {
    if (this.exited) return;
    this.exited = true;
    const detail = this.diagnostics.result().text.trim();
    this.settleReady.reject(new Error(`python sandbox failed to start: ${why}${detail ? `: ${detail}` : ''}`));
    this.finishRun(null);
  }

  /** bwrap's extra descriptors (past stdin, stdout and stderr), which Node types loosely. */
  private stdio(fd: number): Readable & Writable {
    return (this.child.stdio as unknown as (Readable & Writable)[])[fd]!;
  }

  private onReady(info: ReadyInfo): void {
    try {
      if (this.cgroup) {
        this.memoryBase = this.cgroup.memoryUsage() + info.image_bytes;
        this.oomKills = this.cgroup.oomKills();
      }
    } catch (error) {
      this.diagnostics.push(`\ncould not read the memory charge of its cgroup: ${(error as Error).message}\n`);
      this.kill();
      return;
    }
    this.settleReady.resolve(info);
  }

  private finishRun(done: DoneInfo | null): void {
    const run = this.current;
    if (!run) return;
    this.current = null;
    run.resolve({ done, oomKilled: this.countOomKills() });
  }

  /** Whether the out-of-memory killer struck since the last count. */
  private countOomKills(): boolean {
    if (!this.cgroup) return false;
    const before = this.oomKills;
    try {
      this.oomKills = this.cgroup.oomKills();
    } catch {
      return false; // the cgroup is unreadable: nothing to tell; the run's own status stands
    }
    return this.oomKills > before;
  }

  /** Moves bwrap and the sandbox's first process into the cgroup, then lets bwrap go on. */
  private enterCgroup(cgroup: SandboxCgroup, sandboxPid: number): void {
    try {
      cgroup.enter(this.child.pid!);
      cgroup.enter(sandboxPid);
    } catch (error) {
      this.diagnostics.push(`\ncould not move the sandbox into its cgroup: ${(error as Error).message}\n`);
      this.kill();
      return;
    }
    endWith(this.stdio(BLOCK_FD), Buffer.of(1));
  }
}

/** Writes `data` and closes the stream; a sandbox that died first is reported through 'close'. */
function endWith(stream: Writable, data: Buffer): void {
  stream.on('error', () => {});
  stream.end(data);
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
