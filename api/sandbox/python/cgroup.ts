import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Memory and pids cgroups for the Python sandboxes: one cgroup per sandbox, under a parent
 * made for this executor inside Node's own cgroup (so whatever limits Node runs under still
 * apply). A sandbox runs one snippet at a time, so its cgroup is that run's ceiling: the kernel
 * counts every page its processes fault in, the tmpfs and pipe pages it fills, and the kernel
 * objects (inodes, page tables, stacks) it makes, and stops a run that passes the limit with
 * its out-of-memory killer. cgroup v1 (separate memory and pids hierarchies) and v2 (one
 * unified hierarchy) are both handled.
 */

export type CgroupVersion = 1 | 2;

/** One sandbox's cgroup: a directory per hierarchy (memory and pids on v1, one on v2). */
export interface SandboxCgroup {
  readonly dirs: readonly string[];
  /** Moves a host process into it. */
  enter(pid: number): void;
  setMemoryLimit(bytes: number): void;
  /** Bytes charged now: processes, tmpfs, pipes, kernel objects and page cache. */
  memoryUsage(): number;
  /** How many of its processes the out-of-memory killer has killed so far. */
  oomKills(): number;
  /** Removes its directories; call once its processes are gone. */
  remove(): Promise<void>;
}

export interface Cgroups {
  readonly version: CgroupVersion;
  /** A new cgroup for one sandbox, holding at most `maxTasks` processes and threads. */
  create(maxTasks: number): SandboxCgroup;
  /** Removes the executor's parent directories; call after every sandbox cgroup is removed. */
  dispose(): void;
}

export type CgroupSetup = { available: true; cgroups: Cgroups } | { available: false; reason: string };

/** What the kernel tells this process about its cgroups; injectable for tests. */
export interface ProcCgroupInfo {
  /** /proc/self/mountinfo */
  mountinfo: string;
  /** /proc/self/cgroup */
  cgroup: string;
}

/** The files of each version's memory controller. */
const MEMORY_FILES = {
  1: { limit: 'memory.limit_in_bytes', usage: 'memory.usage_in_bytes', events: 'memory.oom_control', noSwap: ['memory.swappiness', '0'] },
  2: { limit: 'memory.max', usage: 'memory.current', events: 'memory.events', noSwap: ['memory.swap.max', '0'] },
} as const;

/** Parent directories are named after the Node process, so those of a dead one can be cleaned up. */
const PARENT_NAME = /^cir-python-(\d+)-\d+$/;
let parents = 0;

/** Finds Node's memory and pids cgroups and makes a parent for one executor's sandboxes. Never throws. */
export function openCgroups(proc: ProcCgroupInfo = readProcCgroupInfo()): CgroupSetup {
  let located: { version: CgroupVersion; memory: string; pids: string };
  try {
    located = locate(proc);
  } catch (error) {
    return { available: false, reason: (error as Error).message };
  }
  const name = `cir-python-${process.pid}-${++parents}`;
  const created: string[] = [];
  try {
    const bases = located.version === 1 ? [located.memory, located.pids] : [located.memory];
    for (const base of bases) removeStaleParents(base);
    if (located.version === 2) enableControllers(located.memory);
    for (const base of bases) {
      mkdirSync(join(base, name));
      created.push(join(base, name));
    }
    if (located.version === 2) writeFileSync(join(created[0]!, 'cgroup.subtree_control'), '+memory +pids');
    return { available: true, cgroups: new HostCgroups(located.version, created[0]!, created[1] ?? created[0]!, created) };
  } catch (error) {
    for (const dir of created) tryRmdir(dir);
    return { available: false, reason: `cannot set up cgroups under ${located.memory}: ${(error as Error).message}` };
  }
}

function readProcCgroupInfo(): ProcCgroupInfo {
  return { mountinfo: readFileSync('/proc/self/mountinfo', 'utf8'), cgroup: readFileSync('/proc/self/cgroup', 'utf8') };
}

interface Mount {
  root: string;
  mountpoint: string;
  fstype: string;
  superOptions: string[];
}

function parseMountinfo(text: string): Mount[] {
  return text
    .split('\n')
    .filter((line) => line.includes(' - '))
    .map((line) => {
      const [left, right] = line.split(' - ') as [string, string];
      const fields = left.split(' ');
      const [fstype, , superOptions = ''] = right.split(' ');
      return { root: unescape(fields[3]!), mountpoint: unescape(fields[4]!), fstype: fstype!, superOptions: superOptions.split(',') };
    });
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Node's own directory in the memory and pids hierarchies: v1 when those controllers are bound there, else v2. */
function locate(proc: ProcCgroupInfo): { version: CgroupVersion; memory: string; pids: string } {
  const mounts = parseMountinfo(proc.mountinfo);
  const memberships = proc.cgroup
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, controllers, ...path] = line.split(':');
      return { id, controllers: controllers!.split(','), path: path.join(':') };
    });
  const v1Dir = (controller: string): string | null => {
    const mount = mounts.find((m) => m.fstype === 'cgroup' && m.superOptions.includes(controller));
    const member = memberships.find((m) => m.controllers.includes(controller));
    return mount && member ? dirIn(mount, member.path) : null;
  };
  const memory = v1Dir('memory');
  const pids = v1Dir('pids');
  if (memory && pids) return { version: 1, memory, pids };

  const mount = mounts.find((m) => m.fstype === 'cgroup2');
  const member = memberships.find((m) => m.id === '0' && m.controllers.join('') === '');
  if (!mount || !member) throw new Error('no memory and pids cgroup controllers are mounted (neither cgroup v1 nor v2)');
  const own = dirIn(mount, member.path);
  const controllers = readFileSync(join(own, 'cgroup.controllers'), 'utf8').split(/\s+/);
  if (!controllers.includes('memory') || !controllers.includes('pids')) {
    throw new Error(`the memory and pids controllers are not available in Node's cgroup ${own} (cgroup.controllers: ${controllers.join(' ').trim() || 'none'})`);
  }
  return { version: 2, memory: own, pids: own };
}

/** Where a cgroup path (relative to this process's cgroup namespace) lives under a mount of its hierarchy. */
function dirIn(mount: Mount, path: string): string {
  const root = mount.root === '/' ? '' : mount.root;
  if (root && path !== root && !path.startsWith(`${root}/`)) {
    throw new Error(`Node's cgroup ${path} is outside the mounted part (${mount.root}) of its hierarchy`);
  }
  return join(mount.mountpoint, path.slice(root.length));
}

/**
 * cgroup v2 lets a cgroup hand controllers to children only while it holds no processes itself.
 * When Node is the only process in its cgroup, it moves into a leaf below it (resource limits
 * on the cgroup still apply to it there), as systemd expects of a service with Delegate=yes.
 */
function enableControllers(own: string): void {
  const enabled = readFileSync(join(own, 'cgroup.subtree_control'), 'utf8').split(/\s+/);
  if (enabled.includes('memory') && enabled.includes('pids')) return;
  try {
    writeFileSync(join(own, 'cgroup.subtree_control'), '+memory +pids');
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EBUSY') throw error;
  }
  const members = readFileSync(join(own, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  if (members.some((pid) => pid !== process.pid)) {
    throw new Error(
      `cgroup v2 delegates controllers only from a cgroup without processes, and ${own} holds other processes than Node (${members.join(', ')}); start Node in a cgroup of its own`,
    );
  }
  const leaf = join(own, 'cir-node');
  mkdirSync(leaf, { recursive: true });
  writeFileSync(join(leaf, 'cgroup.procs'), String(process.pid));
  writeFileSync(join(own, 'cgroup.subtree_control'), '+memory +pids');
}

/** Removes parent directories left by Node processes that died without disposing (best effort). */
function removeStaleParents(base: string): void {
  for (const entry of readdirSync(base)) {
    const pid = PARENT_NAME.exec(entry)?.[1];
    if (pid === undefined || isAlive(Number(pid))) continue;
    const dir = join(base, entry);
    for (const child of readdirSync(dir, { withFileTypes: true })) if (child.isDirectory()) tryRmdir(join(dir, child.name));
    tryRmdir(dir);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryRmdir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

class HostCgroups implements Cgroups {
  private sandboxes = 0;

  constructor(
    readonly version: CgroupVersion,
    private readonly memoryParent: string,
    private readonly pidsParent: string,
    private readonly parentDirs: string[],
  ) {}

  create(maxTasks: number): SandboxCgroup {
    const name = `sandbox-${++this.sandboxes}`;
    const memory = join(this.memoryParent, name);
    const pids = join(this.pidsParent, name);
    const dirs = memory === pids ? [memory] : [memory, pids];
    const made: string[] = [];
    try {
      for (const dir of dirs) {
        mkdirSync(dir);
        made.push(dir);
      }
      const [noSwapFile, noSwap] = MEMORY_FILES[this.version].noSwap;
      // Without swap accounting (v2) the file is absent and nothing can be swapped out past the limit anyway.
      if (existsSync(join(memory, noSwapFile))) writeFileSync(join(memory, noSwapFile), noSwap);
      writeFileSync(join(pids, 'pids.max'), String(maxTasks));
    } catch (error) {
      for (const dir of made) tryRmdir(dir);
      throw error;
    }
    return new HostSandboxCgroup(this.version, memory, dirs);
  }

  dispose(): void {
    for (const dir of this.parentDirs) tryRmdir(dir);
  }
}

/** How long remove() keeps retrying a directory the kernel still reports busy. */
const REMOVE_RETRIES = 50;
const REMOVE_RETRY_MS = 20;

class HostSandboxCgroup implements SandboxCgroup {
  private readonly files: (typeof MEMORY_FILES)[CgroupVersion];

  constructor(
    version: CgroupVersion,
    private readonly memory: string,
    readonly dirs: readonly string[],
  ) {
    this.files = MEMORY_FILES[version];
  }

  enter(pid: number): void {
    for (const dir of this.dirs) writeFileSync(join(dir, 'cgroup.procs'), String(pid));
  }

  setMemoryLimit(bytes: number): void {
    writeFileSync(join(this.memory, this.files.limit), String(bytes));
  }

  memoryUsage(): number {
    return Number(readFileSync(join(this.memory, this.files.usage), 'utf8'));
  }

  /** The `oom_kill N` line of memory.oom_control (v1) or memory.events (v2; Linux >= 4.13 for both). */
  oomKills(): number {
    const text = readFileSync(join(this.memory, this.files.events), 'utf8');
    const count = /^oom_kill (\d+)$/m.exec(text)?.[1];
    if (count === undefined) throw new Error(`no oom_kill count in ${join(this.memory, this.files.events)}`);
    return Number(count);
  }

  async remove(): Promise<void> {
    for (const dir of this.dirs) {
      // The last processes may still be detaching when their parent has been reaped.
      for (let attempt = 0; !tryRmdir(dir) && attempt < REMOVE_RETRIES; attempt++) await sleep(REMOVE_RETRY_MS);
    }
  }
}
