import { accessSync, constants } from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { isModuleName } from './imports.ts';

/**
 * Host-level settings of the python-bwrap executor. Per-snippet limits (time, memory, output)
 * come with each ExecRequest; these are the ones the API does not expose.
 */
export interface PythonExecutorOptions {
  /** Interpreter run inside the sandbox; it must live under one of `readOnlyPaths`. */
  pythonBin?: string;
  /** bubblewrap binary: a path, or a name looked up on PATH. */
  bwrapBin?: string;
  /** Host paths visible (read-only) in the sandbox; symlinks (merged /usr) are recreated as symlinks. */
  readOnlyPaths?: string[];
  /** Warm sandboxes kept, which is also how many snippets run at once (default: CPUs, at least 2). */
  poolSize?: number;
  /**
   * Modules a second set of `poolSize` sandboxes imports once, at start, so that snippets that
   * name one of them (or a package they import) are forked from an interpreter that already has
   * them loaded (missing ones are skipped; none importable, or `[]`: one set of plain sandboxes).
   */
  preloadModules?: string[];
  /** RLIMIT_NPROC inside a snippet: processes plus threads it may have at once. */
  maxProcesses?: number;
  /** RLIMIT_NOFILE inside a snippet. */
  maxOpenFiles?: number;
  /** Size of each of the snippet's fresh /tmp and /dev/shm (tmpfs, so it is memory); also its RLIMIT_FSIZE. */
  tmpfsMb?: number;
  /** Files, directories and links each of those tmpfs may hold (each inode is kernel memory). */
  tmpfsInodes?: number;
  /**
   * Give each sandbox a memory and pids cgroup, so that a run's memory ceiling counts all its
   * processes, files and kernel objects (default true; used when the host lets Node create
   * cgroups, see cgroup.ts). False leaves only the per-process limits.
   */
  cgroups?: boolean;
  /** A snippet whose stdout and stderr together pass this multiple of maxOutputBytes is killed (status output_limit). */
  outputFloodFactor?: number;
  /**
   * Host uid/gid the sandbox runs as. Default: nobody (65534) when Node runs as root, because
   * RLIMIT_NPROC is never enforced for host uid 0 and an escape should not land as root; otherwise
   * Node's own uid (null).
   */
  sandboxUser?: { uid: number; gid: number } | null;
}

export type ResolvedOptions = Required<Omit<PythonExecutorOptions, 'bwrapBin'>> & { bwrapBin: string };

export const PYTHON_DEFAULTS = {
  pythonBin: '/usr/bin/python3',
  bwrapBin: 'bwrap',
  readOnlyPaths: ['/usr', '/lib', '/lib64', '/bin', '/etc/alternatives'],
  preloadModules: ['sympy', 'numpy'] as string[],
  maxProcesses: 16,
  maxOpenFiles: 256,
  tmpfsMb: 64,
  tmpfsInodes: 4096,
  cgroups: true,
  outputFloodFactor: 4,
} as const;

const NOBODY = { uid: 65534, gid: 65534 };

export class PythonUnavailableError extends Error {
  override name = 'PythonUnavailableError';
}

/** Fills in defaults and finds the binaries; throws PythonUnavailableError saying what is missing. */
export function resolveOptions(options: PythonExecutorOptions = {}): ResolvedOptions {
  const bwrapName = options.bwrapBin ?? PYTHON_DEFAULTS.bwrapBin;
  const bwrapBin = isAbsolute(bwrapName) ? bwrapName : findOnPath(bwrapName);
  if (!bwrapBin || !isExecutable(bwrapBin)) {
    throw new PythonUnavailableError(
      `bubblewrap (${bwrapName}) was not found${isAbsolute(bwrapName) ? '' : ' on PATH'}: install the Debian package "bubblewrap"`,
    );
  }
  const pythonBin = options.pythonBin ?? PYTHON_DEFAULTS.pythonBin;
  if (!isAbsolute(pythonBin) || !isExecutable(pythonBin)) {
    throw new PythonUnavailableError(`python interpreter ${pythonBin} is not an absolute path to an executable`);
  }
  const resolved: ResolvedOptions = {
    pythonBin,
    bwrapBin,
    readOnlyPaths: options.readOnlyPaths ?? [...PYTHON_DEFAULTS.readOnlyPaths],
    poolSize: options.poolSize ?? Math.max(2, availableParallelism()),
    preloadModules: options.preloadModules ?? [...PYTHON_DEFAULTS.preloadModules],
    maxProcesses: options.maxProcesses ?? PYTHON_DEFAULTS.maxProcesses,
    maxOpenFiles: options.maxOpenFiles ?? PYTHON_DEFAULTS.maxOpenFiles,
    tmpfsMb: options.tmpfsMb ?? PYTHON_DEFAULTS.tmpfsMb,
    tmpfsInodes: options.tmpfsInodes ?? PYTHON_DEFAULTS.tmpfsInodes,
    cgroups: options.cgroups ?? PYTHON_DEFAULTS.cgroups,
    outputFloodFactor: options.outputFloodFactor ?? PYTHON_DEFAULTS.outputFloodFactor,
    sandboxUser: options.sandboxUser !== undefined ? options.sandboxUser : process.getuid?.() === 0 ? NOBODY : null,
  };
  for (const [name, value] of Object.entries(resolved)) {
    if (typeof value === 'number' && !(Number.isInteger(value) && value > 0)) {
      throw new RangeError(`python executor option ${name} must be a positive integer (got ${value})`);
    }
  }
  const badModule = resolved.preloadModules.find((name) => !isModuleName(name));
  if (badModule !== undefined) throw new RangeError(`python executor option preloadModules: ${JSON.stringify(badModule)} is not a module name`);
  return resolved;
}

function findOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    if (dir && isExecutable(candidate)) return candidate;
  }
  return null;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
