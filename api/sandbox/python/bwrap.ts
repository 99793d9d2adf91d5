import { lstatSync, readlinkSync } from 'node:fs';
import type { ResolvedOptions } from './options.ts';

/**
 * The bubblewrap command line for one zygote: every namespace unshared (user, pid, net, ipc,
 * uts, cgroup), an empty read-only root holding only the read-only system paths, a fresh /proc
 * and a minimal /dev, no environment but what is set here. The zygote's children add their own
 * namespaces and tmpfs mounts on top (see zygote.py).
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

export function bwrapArgs(options: ResolvedOptions, zygoteSource: string): string[] {
  const args = ['--unshare-all', '--die-with-parent', '--new-session', '--clearenv', '--hostname', 'sandbox'];
  for (const [name, value] of Object.entries(SANDBOX_ENV)) args.push('--setenv', name, value);
  for (const path of options.readOnlyPaths) args.push(...bindArgs(path));
  args.push(
    '--proc', '/proc',
    '--dev', '/dev',
    // Mount points for the per-snippet tmpfs; read-only until a snippet's child mounts over them.
    '--dir', '/tmp',
    '--remount-ro', '/dev',
    '--remount-ro', '/',
    '--chdir', '/tmp',
    '--info-fd', String(INFO_FD),
    '--',
    // zygote.py's argv: its source, then its settings.
    options.pythonBin, '-I', '-B', '-c', TRAMPOLINE, zygoteSource, String(options.tmpfsMb), options.preloadModules.join(','),
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
