import { lstatSync, readlinkSync } from 'node:fs';
import type { ResolvedOptions } from './options.ts';

/**
 * The bubblewrap command line for one zygote: every namespace unshared (user, pid, net, ipc,
 * uts, cgroup), an empty read-only root holding only the read-only system paths, a fresh /proc
 * and a minimal /dev without terminals, no environment but what is set here, and optionally a
 * seccomp filter and a pause until Node has moved the sandbox into its cgroup. The zygote's
 * children add their own namespaces, tmpfs mounts and seccomp filter on top (see zygote.py).
 */

/** Environment of the sandbox; nothing from Node's environment gets in. */
const SANDBOX_ENV: Record<string, string> = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  LANG: 'C.UTF-8',
  HOME: '/tmp',
  TMPDIR: '/tmp',
  // One BLAS/OpenMP thread: thread pools would reserve address space against RLIMIT_AS
  // and count against RLIMIT_NPROC.
  OPENBLAS_NUM_THREADS: '1',
  OMP_NUM_THREADS: '1',
  MKL_NUM_THREADS: '1',
};

/** Runs the zygote source given as argv[1], under a file name that tracebacks can tell apart. */
const TRAMPOLINE = 'import sys; exec(compile(sys.argv[1], "cir-zygote.py", "exec"))';

/** bwrap writes {"child-pid": N} here: the host pid of the sandbox's init, which is what we kill. */
export const INFO_FD = 3;
/** bwrap reads the sandbox's seccomp filter (a sock_filter array) from here, to EOF. */
export const SECCOMP_FD = 4;
/** bwrap waits for a byte here before it starts anything in the sandbox: time to move it into its cgroup. */
export const BLOCK_FD = 5;

/** Device nodes bound from the host; no tty, no /dev/pts or /dev/ptmx: a snippet cannot open terminals. */
const DEVICES = ['null', 'zero', 'full', 'random', 'urandom'];

export interface SandboxSetup {
  /** The snippet's own seccomp filter, installed by each zygote child after it has isolated itself. */
  snippetFilter: Buffer | null;
  /** Installed by bwrap on the zygote and everything it forks (Node writes it to SECCOMP_FD). */
  sandboxFilter: Buffer | null;
  /** bwrap waits on BLOCK_FD until Node has moved it into its cgroup. */
  cgroup: boolean;
}

export function bwrapArgs(options: ResolvedOptions, zygoteSource: string, setup: SandboxSetup): string[] {
  const args = ['--unshare-all', '--die-with-parent', '--new-session', '--clearenv', '--hostname', 'sandbox'];
  for (const [name, value] of Object.entries(SANDBOX_ENV)) args.push('--setenv', name, value);
  for (const path of options.readOnlyPaths) args.push(...bindArgs(path));
  // bwrap's /dev tmpfs (like its root) is made read-only below, so it cannot grow.
  args.push('--proc', '/proc', '--tmpfs', '/dev');
  for (const device of DEVICES) args.push('--dev-bind', `/dev/${device}`, `/dev/${device}`);
  ['stdin', 'stdout', 'stderr'].forEach((name, fd) => args.push('--symlink', `/proc/self/fd/${fd}`, `/dev/${name}`));
  args.push(
    '--symlink', '/proc/self/fd', '/dev/fd',
    // Mount points for the per-snippet tmpfs; read-only until a snippet's child mounts over them.
    '--dir', '/dev/shm',
    '--dir', '/tmp',
    '--remount-ro', '/dev',
    '--remount-ro', '/',
    '--chdir', '/tmp',
    '--info-fd', String(INFO_FD),
  );
  if (setup.sandboxFilter !== null) args.push('--seccomp', String(SECCOMP_FD));
  if (setup.cgroup) args.push('--block-fd', String(BLOCK_FD));
  args.push(
    '--',
    // zygote.py's argv: its source, then its settings.
    options.pythonBin, '-I', '-B', '-c', TRAMPOLINE, zygoteSource,
    String(options.tmpfsMb), String(options.tmpfsInodes), options.preloadModules.join(','), setup.snippetFilter?.toString('hex') ?? '',
  );
  return args;
}

/** A read-only bind for a directory or file, the same symlink for a symlink, nothing if absent. */
function bindArgs(path: string): string[] {
  try {
    const stat = lstatSync(path);
    return stat.isSymbolicLink() ? ['--symlink', readlinkSync(path), path] : ['--ro-bind', path, path];
  } catch {
    return [];
  }
}
